"""Export a fitted detector's scoring graph to ONNX."""

import contextlib
import copy
import logging
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._base import standardizer_of
from ._data import Z_LIMIT

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
    """float32 input -> (score_samples as float64, +1/-1 labels as int64).

    The same computation as the estimator: standardisation in float64, the
    network, the score model's terms and their combination (the kNN terms
    as a matrix product and a TopK over the stored references), and
    ``offset_``. Image sizes are fixed at export; the batch axis is dynamic.
    """

    def __init__(self, estimator, input_shape):
        super().__init__()
        module = copy.deepcopy(estimator.net_.module_).cpu().eval()
        self.module = module
        self.model = copy.copy(estimator.score_model_)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.sample_shape = (
            tuple(estimator.image_shape_)
            if hasattr(estimator, "image_shape_")
            else (int(estimator.n_features_in_),)
        )
        self.channels_last = (
            getattr(estimator, "data_format", None) == "channels_last"
            and len(self.sample_shape) == 3
            and self.sample_shape[0] > 1
        )
        standardizer = standardizer_of(estimator)
        ndim = 1 + len(self.sample_shape)
        shape = (1, -1, 1, 1) if ndim == 4 else (1, -1)
        self.register_buffer(
            "center", torch.as_tensor(standardizer.center).reshape(shape)
        )
        self.register_buffer(
            "scale", torch.as_tensor(standardizer.scale).reshape(shape)
        )
        self.register_buffer(
            "weights", torch.as_tensor(standardizer.squared_scale(ndim, relative=True))
        )
        self.register_buffer("offset", torch.tensor(float(estimator.offset_)))
        self.names = sorted(self.model.arrays)
        for name in self.names:
            self.register_buffer(
                f"array_{name}", torch.as_tensor(self.model.arrays[name])
            )

    def forward(self, X):
        x = X.to(torch.float64)
        if self.channels_last:  # (n, H, W, C) values, flat or not
            c, h, w = self.sample_shape
            x = x.reshape(-1, h, w, c).permute(0, 3, 1, 2)
        x = x.reshape(-1, *self.sample_shape)
        z = ((x - self.center) / self.scale).clamp(-Z_LIMIT, Z_LIMIT).to(torch.float32)
        outputs = self.model.network_outputs(self.weights)(self.module, z)
        arrays = {name: getattr(self, f"array_{name}") for name in self.names}
        terms = self.model.terms_of(outputs, chunk=None, arrays=arrays)
        score = 0.0 - self.model.combine(terms)  # 0.0, not -0.0, at cost 0
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


def _probe(estimator, input_shape):
    """Data in the units of the training data, in float64, for the parity check."""
    rng = np.random.RandomState(0)
    low, high = estimator.data_range_
    n_values = int(np.prod(input_shape))
    probe = rng.uniform(size=(4, n_values))
    # channel-major order matches (C, H, W) and flat rows alike
    per_value = np.repeat(np.arange(len(low)), n_values // len(low))
    if getattr(estimator, "data_format", None) == "channels_last":
        per_value = np.tile(np.arange(len(low)), n_values // len(low))
    probe = low[per_value] + probe * (high - low)[per_value]
    return probe.reshape(4, *input_shape)


def _statistic_name(estimator, index, count):
    """' in channel 2' / ' in feature 2' (nothing when there is one statistic)."""
    if count == 1:
        return ""
    kind = "channel" if hasattr(estimator, "image_shape_") else "feature"
    return f" in {kind} {index}"


def _check_float32_range(estimator):
    """Refuse a detector fitted on values that overflow the float32 input."""
    magnitude = float(np.max(np.abs(np.asarray(estimator.data_range_))))
    largest = float(np.finfo(np.float32).max)
    if magnitude > largest:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on values up to "
            f"{magnitude:.3g} in magnitude, but the ONNX graph's input X is "
            f"float32, which holds values up to {largest:.3g} only. Rescale X "
            "(e.g. divide it by a constant) so that its values lie well within "
            "float32's range before fitting, then export."
        )


def _precision_error(estimator, score, expected):
    """The ValueError of a graph whose float32 input rounds the data away.

    Names the channel (or feature) whose float32 rounding step is largest
    relative to its standard deviation: its values' offset from zero is large
    relative to their spread (float32 keeps a relative precision of 2**-24),
    or they are below float32's normal range.
    """
    standardizer = standardizer_of(estimator)
    low, high = np.asarray(estimator.data_range_, dtype=np.float64)
    magnitude = np.maximum(np.abs(low), np.abs(high))
    step = np.spacing(magnitude.astype(np.float32)).astype(np.float64)
    index = int(np.argmax(step / standardizer.scale))
    where = _statistic_name(estimator, index, len(magnitude))
    center, scale = standardizer.center[index], standardizer.scale[index]
    step, magnitude = step[index], magnitude[index]
    difference = np.max(np.abs(score - expected))
    name = type(estimator).__name__
    if magnitude < np.finfo(np.float32).tiny:
        return ValueError(
            f"{name} was fitted on values up to {magnitude:.3g} in magnitude"
            f"{where} (standard deviation {scale:.3g}), below the smallest "
            f"normal float32 value ({np.finfo(np.float32).tiny:.3g}), and the "
            "ONNX graph's input X is float32: it rounds them to multiples of "
            f"{step:.3g} ({step / scale:.2g} standard deviations), so the "
            f"graph's scores differ from {name}.score_samples (max difference "
            f"{difference:.3g}). Rescale X (e.g. multiply it "
            "by a constant) so that its values lie well within float32's "
            "range before fitting, then export."
        )
    return ValueError(
        f"{name} was fitted on data whose offset is large relative to its "
        f"spread{where}: mean {center:.7g}, standard deviation {scale:.3g} "
        f"(|mean| / std = {abs(center) / scale:.3g}). The ONNX graph's input X "
        "is float32, whose relative precision is 2**-24 (about 6e-08): it "
        f"stores values near {magnitude:.3g} in steps of {step:.3g}, "
        f"{step / scale:.2g} standard deviations, so the graph's scores "
        f"differ from {name}.score_samples (max difference {difference:.3g}). "
        "Expected data whose offset is small relative to its spread: subtract "
        "a constant near the mean (e.g. c = X.mean(), per channel or feature "
        "where their offsets differ) from X before fitting, and from the data "
        "passed to the graph."
    )


def _check_parity(estimator, graph, input_shape):
    """Refuse to write a graph whose scores differ from score_samples.

    The estimator scores float64 data in the fitted range, as a user passes
    it; the graph scores its float32 cast, as it receives it. When they
    differ but the estimator agrees with the graph on the float32 cast, the
    difference is the rounding of the input to float32 (ValueError: the
    fitted data do not fit float32); otherwise the graph computes something
    else than the estimator (NotImplementedError).
    """
    probe = _probe(estimator, input_shape)
    probe32 = probe.astype(np.float32)
    with torch.no_grad():
        score = graph(torch.from_numpy(probe32))[0].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fitted with feature names
        expected = estimator.score_samples(probe)
        if _allclose(score, expected):
            return
        expected32 = estimator.score_samples(probe32)
    if _allclose(score, expected32):
        raise _precision_error(estimator, score, expected)
    raise NotImplementedError(
        f"The exported graph's scores differ from "
        f"{type(estimator).__name__}.score_samples (max difference "
        f"{np.max(np.abs(score - expected32)):.3g}); the estimator scores in "
        "a way to_onnx does not reproduce."
    )


def _allclose(score, expected):
    return np.allclose(score, expected, rtol=1e-4, atol=1e-6)


def to_onnx(estimator, path, *, input_form="fitted", opset_version=18):
    """Export the scoring graph of a fitted outlier detector to an ONNX file.

    The graph takes float32 samples and gives both ``score_samples`` and
    ``predict``, the threshold ``offset_`` being a constant inside it, so a
    runtime such as onnxruntime can score new data without Python, torch or
    skcae. It computes exactly what the estimator does, whatever its
    ``score_type``: the standardisation (in float64), the network, and for
    ``score_type="hybrid"`` or ``"latent"`` the nearest-neighbour distances to
    the stored training codes and image statistics (a matrix product and a
    TopK) and the calibrated combination of the terms.

    =========  ==========================  =================================
    name       type and shape              meaning
    =========  ==========================  =================================
    ``X``      float32 (batch, \\*shape)    input samples (see ``input_form``)
    ``score``  float64 (batch,)            ``score_samples(X)``
    ``label``  int64 (batch,)              ``predict(X)``: +1 / -1
    =========  ==========================  =================================

    Parameters
    ----------
    estimator : fitted skcae outlier detector
        :class:`~skcae.ConvAutoencoderOutlierDetector` or
        :class:`~skcae.AutoencoderOutlierDetector`.
    path : str or path-like
        Where to write the ``.onnx`` file.
    input_form : {"fitted", "flat"}, default="fitted"
        The shape of one input sample: ``"fitted"`` is the form the
        estimator was fitted on (``input_shape_``: e.g. ``(8, 8)`` for gray
        images ``(n, 8, 8)``, ``(3, 32, 32)``, or ``(32, 32, 3)`` with
        ``data_format="channels_last"``); ``"flat"`` is ``(n_features,)``,
        the values of each sample in that order.
    opset_version : int, default=18
        ONNX opset of the graph.

    Raises
    ------
    ImportError
        If onnx or onnxscript is missing (``pip install "skcae[onnx]"``).
    TypeError
        If ``estimator`` is not an outlier detector with ``offset_``.
    ValueError
        If the data ``estimator`` was fitted on do not fit the graph's
        float32 input: values beyond float32's range (rescale X before
        fitting), or an offset so large relative to their spread that
        float32 rounds the differences the scores depend on (subtract the
        mean before fitting).
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    save : Save the estimator itself, to load it back into Python.

    Notes
    -----
    The export uses torch's ``torch.export``-based exporter
    (``torch.onnx.export(..., dynamo=True)``), offline. The file carries
    metadata (``metadata_props``): the estimator class, ``score_type``,
    ``offset_``, the input shape and the skcae version. Scores agree with
    ``score_samples`` to about 1e-6 relative; the export checks this on
    probe data and refuses a graph that does not. The check scores float64
    probe data with the estimator and their float32 cast with the graph, so
    it also refuses data that float32 cannot represent precisely enough:
    data far from zero relative to their spread (``1e8 + N(0, 1)``, which
    float32 stores in steps of 8) need centring before fitting.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_digits
    >>> import skcae
    >>> X = load_digits().images[:100]  # (100, 8, 8) gray images
    >>> det = skcae.ConvAutoencoderOutlierDetector(
    ...     channels=(4,), latent_dim=2, max_epochs=1, device="cpu",
    ...     random_state=0).fit(X)
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
    if not hasattr(estimator, "score_model_") or not hasattr(estimator, "offset_"):
        raise TypeError(
            f"to_onnx exports skcae's outlier detectors (with score_samples and "
            f"offset_), but got a {type(estimator).__name__}."
        )
    if input_form not in ("fitted", "flat"):
        raise ValueError(
            f"Got input_form={input_form!r}, but expected 'fitted' or 'flat'."
        )
    _check_float32_range(estimator)
    onnx = _import_onnx("skcae.to_onnx")
    from . import __version__

    n_features = int(estimator.n_features_in_)
    input_shape = (
        tuple(getattr(estimator, "input_shape_", (n_features,)))
        if input_form == "fitted"
        else (n_features,)
    )
    graph = _ScoringGraph(estimator, input_shape).eval()
    _check_parity(estimator, graph, input_shape)
    example = torch.zeros(2, *input_shape)
    with _quiet_export(), torch.inference_mode(False):
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
    shape_text = ", ".join(str(v) for v in input_shape)
    proto.doc_string = (
        f"skcae {type(estimator).__name__}: X float32 (batch, {shape_text}) -> "
        "score = score_samples(X) (float64), label = predict(X) (int64, +1/-1)."
    )
    metadata = {
        "estimator": type(estimator).__name__,
        "score_type": str(estimator.score_model_.score_type),
        "offset": repr(float(estimator.offset_)),
        "input_shape": f"[{shape_text}]",
        "n_features_in": str(n_features),
        "skcae_version": __version__,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, path)


__all__ = ["to_onnx"]
