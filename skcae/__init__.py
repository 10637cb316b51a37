"""skcae: convolutional-autoencoder outlier detection for scikit-learn."""

import importlib

from ._dask_scoring import DaskScorer
from ._dense import AutoencoderOutlierDetector
from ._detector import ConvAutoencoderOutlierDetector
from ._network import ConvAutoencoderModule, DenseAutoencoderModule
from ._onnx import to_onnx
from ._persistence import load, save
from ._transformer import ConvAutoencoder

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - running from a tree without metadata
    __version__ = "0.0.0"

__all__ = [
    "AutoencoderOutlierDetector",
    "ConvAutoencoder",
    "ConvAutoencoderModule",
    "ConvAutoencoderOutlierDetector",
    "DaskScorer",
    "DenseAutoencoderModule",
    "__version__",
    "load",
    "save",
    "to_onnx",
]

# the public submodules, imported when first named (``skcae.images`` after
# ``import skcae``, as ``sklearn.linear_model`` after ``import sklearn``);
# ``images`` and ``plotting`` need their optional extras only then
_SUBMODULES = ("callbacks", "datasets", "images", "plotting")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_SUBMODULES})
