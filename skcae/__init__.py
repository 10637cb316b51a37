"""skcae: convolutional-autoencoder outlier detection for scikit-learn."""

from ._detector import ConvAutoencoderOutlierDetector
from ._network import ConvAutoencoderModule

try:
    from ._version import __version__
except ImportError:  # pragma: no cover - running from a tree without metadata
    __version__ = "0.0.0"

__all__ = ["ConvAutoencoderModule", "ConvAutoencoderOutlierDetector", "__version__"]
