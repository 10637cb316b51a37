"""The convolutional network and image input shared by the image estimators."""

from numbers import Integral

import numpy as np

from ._base import BaseAutoencoder
from ._checks import positive_ints
from ._network import ConvAutoencoderModule, check_pooling_depth
from ._sklearn_compat import Interval, StrOptions


class BaseConvAutoencoder(BaseAutoencoder):
    """The convolutional network and image input of skcae's image estimators.

    Not public: :class:`~skcae.ConvAutoencoderOutlierDetector` and
    :class:`~skcae.ConvAutoencoder` build on it.
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "image_shape": [tuple, list, np.ndarray, None],
        "data_format": [StrOptions({"channels_first", "channels_last"}), None],
        "channels": [tuple, list, np.ndarray],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
    }

    _module_class = ConvAutoencoderModule

    def _data_format(self, fitted=True):
        """How images given as arrays are laid out: once fitted, as at fit
        (``data_format_``), so that a ``data_format`` set since waits for the
        next fit, as every parameter does (it changed the scores of a fitted
        model, a probe); else (or with ``fitted=False``: a fit's own
        settings) the parameter. Fit validates a copy of the estimator
        without its fitted attributes, so it reads the parameter."""
        if fitted and "data_format_" in vars(self):
            return self.data_format_
        return self.data_format

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (n, H, W) images (and 4-D)
        return tags

    def _check_params(self):
        positive_ints(self.channels, "channels", example=(8, 16))
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"Got kernel_size={self.kernel_size}, but expected an odd int "
                "so that convolutions keep the image size."
            )
        super()._check_params()

    def _check_sample_shape(self, fitted):
        height, width = fitted["image_shape_"][-2:]
        largest = max(3, 2 * max(height, width) - 1)  # 3 on 1x1 images too
        if self.kernel_size > largest:
            raise ValueError(
                f"Got kernel_size={self.kernel_size} for {height}x{width} images; "
                f"expected at most {largest}: a larger kernel only adds weights "
                "that never meet a pixel (and a huge one cannot be allocated)"
            )
        check_pooling_depth(tuple(int(c) for c in self.channels), height, width)

    def _module_kwargs(self, fitted):
        return {
            "input_shape": tuple(fitted["image_shape_"]),
            "channels": tuple(int(c) for c in self.channels),
            "kernel_size": self.kernel_size,
            **super()._module_kwargs(fitted),
        }
