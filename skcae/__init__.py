"""skcae: convolutional-autoencoder outlier detection for scikit-learn."""

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
