"""Export a fitted detector's scoring graph to ONNX."""

import contextlib
import copy
import logging
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .callbacks import _module_input_shape

INPUT_NAME = "X"
OUTPUT_NAMES = ("score", "label")


def _import_onnx(caller):
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires onnx and onnxscript, which are not installed. "
            'Install them with: pip install "skcae[onnx]" (onnxruntime, also '
            "in that extra, runs the exported file)."
        ) from exc
    return onnx


class _ScoringGraph(nn.Module):
    """Flat float32 rows -> (score_samples as float64, +1/-1 labels as int64).

    Mirrors ``score_samples`` (minus the mean squared reconstruction error,
    averaged in float64) and ``predict`` (-1 where the score is below
    ``offset_``). The reshape to the module's input form uses sizes fixed at
    export, so any padding or cropping inside the module is static too; only
    the batch axis is dynamic.
    """

    def __init__(self, module, input_shape, offset):
        super().__init__()
        self.module = module
        self.input_shape = tuple(input_shape)
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float64))

    def forward(self, X):
        x = X.reshape(-1, *self.input_shape)
        error = (self.module(x) - x).square().flatten(1).to(torch.float64).mean(1)
        score = -error
        label = torch.where(score < self.offset, -1, 1).to(torch.int64)
        return score, label


@contextlib.contextmanager
def _quiet_export():
    """Silence torch's exporter: its own deprecation notices and log lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def _check_parity(estimator, graph, n_features):
    """Refuse estimators whose score_samples the graph does not reproduce."""
    probe = np.random.RandomState(0).standard_normal((4, n_features))
    probe = probe.astype(np.float32)
    with torch.no_grad():
        score = graph(torch.from_numpy(probe))[0].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fitted with feature names
        expected = estimator.score_samples(probe)
    if not np.allclose(score, expected, rtol=1e-4, atol=1e-6):
        raise NotImplementedError(
            f"{type(estimator).__name__}.score_samples is not minus the mean "
            "squared reconstruction error of net_.module_, the only score "
            "to_onnx can export."
        )


def to_onnx(estimator, path, *, opset_version=18):
    """Export the scoring graph of a fitted outlier detector to an ONNX file.

    The graph takes flat float32 rows and gives both ``score_samples`` and
    ``predict``, the threshold ``offset_`` being a constant inside it, so a
    runtime such as onnxruntime can score new data without Python, torch or
    skcae.

    =========  ====================  ======================================
    name       type and shape        meaning
    =========  ====================  ======================================
    ``X``      float32 (batch, F)    input rows, F = ``n_features_in_``
    ``score``  float64 (batch,)      ``score_samples(X)``
    ``label``  int64 (batch,)        ``predict(X)``: +1 inlier, -1 outlier
    =========  ====================  ======================================

    The input is the flat 2-D form the estimator takes: reshape images
    ``(n, C, H, W)`` or ``(n, H, W)`` to ``(n, C*H*W)`` and cast them to
    float32 first. The batch size is dynamic; image sizes are fixed at
    export, so padding or cropping inside the network is exported as
    constant-size operations.

    Parameters
    ----------
    estimator : fitted skcae outlier detector
        E.g. :class:`~skcae.ConvAutoencoderOutlierDetector`; it needs
        ``score_samples`` and ``offset_``.
    path : str or path-like
        Where to write the ``.onnx`` file.
    opset_version : int, default=18
        ONNX opset of the graph.

    Raises
    ------
    ImportError
        If onnx or onnxscript is missing (``pip install "skcae[onnx]"``).
    TypeError
        If ``estimator`` is not an outlier detector with ``offset_``.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    save : Save the estimator itself, to load it back into Python.

    Notes
    -----
    The export uses torch's ``torch.export``-based exporter
    (``torch.onnx.export(..., dynamo=True)``), offline. The file carries
    metadata (``metadata_props``): the estimator class, ``offset_``,
    ``n_features_in_`` and the skcae version. Scores agree with
    ``score_samples`` to about 1e-7 relative (float32 convolutions in both;
    the mean is taken in float64 in both).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_digits
    >>> import skcae
    >>> X = load_digits().data[:100]
    >>> det = skcae.ConvAutoencoderOutlierDetector(
    ...     image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1,
    ...     device="cpu", random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "detector.onnx")
    >>> skcae.to_onnx(det, path)
    >>> session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> score, label = session.run(None, {"X": X[:5].astype(np.float32)})
    >>> score.shape, score.dtype, label.dtype
    ((5,), dtype('float64'), dtype('int64'))
    >>> bool(np.allclose(score, det.score_samples(X[:5]), rtol=1e-5))
    True
    >>> bool((label == det.predict(X[:5])).all())
    True
    """
    check_is_fitted(estimator)
    if not hasattr(estimator, "score_samples") or not hasattr(estimator, "offset_"):
        raise TypeError(
            f"to_onnx exports outlier detectors (with score_samples and "
            f"offset_), but got a {type(estimator).__name__}."
        )
    onnx = _import_onnx("skcae.to_onnx")
    from . import __version__

    module = copy.deepcopy(estimator.net_.module_).cpu().eval()
    n_features = int(estimator.n_features_in_)
    graph = _ScoringGraph(module, _module_input_shape(module), estimator.offset_)
    graph.eval()
    _check_parity(estimator, graph, n_features)
    example = torch.zeros(2, n_features)
    with _quiet_export():
        program = torch.onnx.export(
            graph,
            (example,),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch")}},
            opset_version=opset_version,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    proto = program.model_proto
    proto.doc_string = (
        f"skcae {type(estimator).__name__}: X float32 (batch, {n_features}) -> "
        "score = score_samples(X) (float64), label = predict(X) (int64, +1/-1)."
    )
    metadata = {
        "estimator": type(estimator).__name__,
        "offset": repr(float(estimator.offset_)),
        "n_features_in": str(n_features),
        "skcae_version": __version__,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, path)


__all__ = ["to_onnx"]
