"""The convolutional network and image input shared by the image estimators."""

from numbers import Integral

from ._base import BaseAutoencoder
from ._network import ConvAutoencoderModule
from ._sklearn_compat import Interval, StrOptions


class BaseConvAutoencoder(BaseAutoencoder):
    """The convolutional network and image input of skcae's image estimators.

    Not public: :class:`~skcae.ConvAutoencoderOutlierDetector` and
    :class:`~skcae.ConvAutoencoder` build on it.
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "image_shape": [tuple, list, None],
        "data_format": [StrOptions({"channels_first", "channels_last"}), None],
        "channels": [tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
    }

    _module_class = ConvAutoencoderModule

    def _check_params(self):
        channels = tuple(self.channels)
        if not channels or not all(
            isinstance(c, Integral) and not isinstance(c, bool) and c >= 1
            for c in channels
        ):
            raise ValueError(
                f"Got channels={self.channels!r}, but expected a non-empty "
                "tuple of positive ints, e.g. (8, 16)."
            )
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"Got kernel_size={self.kernel_size}, but expected an odd int "
                "so that convolutions keep the image size."
            )
        super()._check_params()

    def _module_kwargs(self):
        return {
            "input_shape": self.image_shape_,
            "channels": tuple(int(c) for c in self.channels),
            "kernel_size": self.kernel_size,
            **super()._module_kwargs(),
        }
