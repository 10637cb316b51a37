"""Export a fitted detector's ``scorer_`` to ONNX, scoring in bounded memory.

The graph is ``scorer_`` itself (the standardisation, the network, the
score's terms and their combination) plus the label from ``offset_``,
run over the batch in chunks of the model's ``chunk_rows`` rows by an ONNX
``Scan``, so that
onnxruntime's memory stays bounded whatever the batch (the kNN terms
compare each chunk with the stored references, never the whole batch).
"""

import copy
import logging
import numbers
import os
import threading
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from ._files import atomic_write
from ._threads import no_ambient_autocast

INPUT_NAME = "X"
OUTPUT_NAMES = ("score", "label")
#: The largest float32 rounding step of the input, in standard deviations of
#: the training data, that an export accepts.
_MAX_STEP = 1e-3
# torch's exporter is not thread-safe and sets process-wide state (its
# logger's level, warning filters): one export at a time.
_EXPORT_LOCK = threading.Lock()
#: The oldest opset torch's exporter writes (asked for an older one, it
#: printed the converter's tracebacks and wrote 18).
MIN_OPSET = 18


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


def _scan():
    """torch's ``scan`` (exported as an ONNX Scan), or None if this torch
    has none (the graph then scores the whole batch at once)."""
    try:
        from torch._higher_order_ops.scan import scan
    except ImportError:  # pragma: no cover - older torch
        return None
    return scan


class _Graph(nn.Module):
    """float32 input -> (score_samples as float64, +1/-1 labels as int64).

    ``scorer_`` over chunks of its ``chunk_rows`` rows (the last one
    zero-padded), as ``score_samples`` computes them
    and ``offset_``. Image sizes are fixed at export; the batch axis is
    dynamic.
    """

    def __init__(self, scorer, offset, sample_shape, channels_last):
        super().__init__()
        self.scorer = copy.deepcopy(scorer).cpu().eval().requires_grad_(False)
        self.sample_shape = tuple(int(v) for v in sample_shape)
        self.channels_last = channels_last
        self.register_buffer("offset", torch.tensor(float(offset)))
        self.chunk = int(scorer.chunk_rows)
        self.scan = _scan()

    def _costs(self, rows):
        """Costs of flat float32 rows (cast to float64 here, a chunk at a
        time, so the graph never holds a float64 copy of its whole input),
        read in the fitted layout."""
        rows = rows.to(torch.float64)
        if self.channels_last:  # (n, H, W, C) values
            c, h, w = self.sample_shape
            rows = rows.reshape(-1, h, w, c).permute(0, 3, 1, 2)
        return self.scorer(rows.reshape(-1, *self.sample_shape))

    def forward(self, X):
        n = X.shape[0]
        rows = X.reshape(n, -1)
        if self.scan is None:
            costs = self._costs(rows)
        else:
            size = self.chunk
            n_chunks = (n + size - 1) // size
            rows = F.pad(rows, (0, 0, 0, n_chunks * size - n))
            chunks = rows.reshape(n_chunks, size, rows.shape[1])

            def step(carry, chunk):
                return carry.clone(), self._costs(chunk)

            _, costs = self.scan(step, rows.new_zeros(()), chunks)
            costs = costs.reshape(-1)[:n]
        score = 0.0 - costs  # 0.0, not -0.0, at cost 0
        # a NaN score (NaN in the input, which the graph cannot refuse) is
        # an outlier, never an inlier
        label = torch.where(score >= self.offset, 1, -1).to(torch.int64)
        return score, label


def _check_path(path):
    """TypeError unless ``path`` is a str or a path-like of a str (bytes
    failed deep in the writing, on a string pattern)."""
    target = path if isinstance(path, (str, os.PathLike)) else None
    if target is None or not isinstance(os.fspath(target), str):
        raise TypeError(
            f"Got {type(path).__name__} as the path of the .onnx file; expected a "
            "str or pathlib.Path (bytes paths: decode them with os.fsdecode)."
        )


def _statistic_name(index, count, images):
    """' in channel 2' / ' in feature 2' (nothing when there is one statistic)."""
    if count == 1:
        return ""
    return f" in {'channel' if images else 'feature'} {index}"


def _check_float32(estimator, scorer):
    """Refuse a detector fitted on data the graph's float32 input cannot carry:
    values beyond float32's range, or rounded by more than ``_MAX_STEP``
    standard deviations (an offset large relative to the spread, or values
    below float32's normal range)."""
    name = type(estimator).__name__
    low, high = scorer.standardization.data_range.cpu().numpy()
    magnitude = np.maximum(np.abs(low), np.abs(high))
    largest = float(np.finfo(np.float32).max)
    if magnitude.max() > largest:
        raise ValueError(
            f"{name} was fitted on values up to {magnitude.max():.3g} in "
            f"magnitude, but the ONNX graph's input X is float32, which holds "
            f"values up to {largest:.3g} only. Rescale X (e.g. divide it by a "
            "constant) so that its values lie well within float32's range "
            "before fitting, then export."
        )
    center = scorer.standardization.center.cpu().numpy()
    scale = scorer.standardization.scale.cpu().numpy()
    step = np.spacing(magnitude.astype(np.float32)).astype(np.float64)
    index = int(np.argmax(step / scale))
    if step[index] / scale[index] <= _MAX_STEP:
        return
    where = _statistic_name(
        index, len(scale), scorer.config.n_channels > 1 or estimator._takes_images
    )
    center, scale = center[index], scale[index]
    step, magnitude = step[index], magnitude[index]
    if magnitude < np.finfo(np.float32).tiny:
        raise ValueError(
            f"{name} was fitted on values up to {magnitude:.3g} in magnitude"
            f"{where} (standard deviation {scale:.3g}), below the smallest "
            f"normal float32 value ({np.finfo(np.float32).tiny:.3g}), and the "
            "ONNX graph's input X is float32: it rounds them to multiples of "
            f"{step:.3g} ({step / scale:.2g} standard deviations), so the "
            f"graph's scores would differ from {name}.score_samples. Rescale X "
            "(e.g. multiply it by a constant) so that its values lie well "
            "within float32's range before fitting, then export."
        )
    raise ValueError(
        f"{name} was fitted on data whose offset is large relative to its "
        f"spread{where}: mean {center:.7g}, standard deviation {scale:.3g} "
        f"(|mean| / std = {abs(center) / scale:.3g}). The ONNX graph's input X "
        "is float32, whose relative precision is 2**-24 (about 6e-08): it "
        f"stores values near {magnitude:.3g} in steps of {step:.3g}, "
        f"{step / scale:.2g} standard deviations, so the graph's scores "
        f"would differ from {name}.score_samples. Expected data whose offset "
        "is small relative to its spread: subtract a constant near the mean "
        "(e.g. c = X.mean(), per channel or feature where their offsets "
        "differ) from X before fitting, and from the data passed to the graph."
    )


def to_onnx(estimator, path, *, input_form="fitted", opset_version=18):
    """Export the scoring graph of a fitted outlier detector to an ONNX file.

    The graph takes float32 samples and gives both ``score_samples`` and
    ``predict``, the threshold ``offset_`` being a constant inside it, so a
    runtime such as onnxruntime can score new data without Python, torch or
    skcae. It is the detector's ``scorer_``, the module ``score_samples``
    runs, whatever its ``score_type``: the standardisation (in float64), the
    network, and for ``score_type="hybrid"`` or ``"latent"`` the
    nearest-neighbour distances to the stored training codes and image
    statistics (a matrix product and a TopK) and the calibrated combination
    of the terms. The batch is scored in chunks of 128 samples (fewer for
    images of more than 8,192 values: 16 of 256x256 pixels; an ONNX
    ``Scan``), so one ``run`` of any batch needs about the memory of one
    chunk besides its input, one zero-padded copy of it and its output.

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
        Where to write the ``.onnx`` file. It is written atomically: a
        temporary file in the same folder, renamed over ``path`` once
        complete, so ``path`` holds the old file or the whole new one, even
        if the export fails or the process is killed.
    input_form : {"fitted", "flat"}, default="fitted"
        The shape of one input sample: ``"fitted"`` is the form the
        estimator was fitted on (``input_shape_``: e.g. ``(8, 8)`` for gray
        images ``(n, 8, 8)``, ``(3, 32, 32)``, or ``(32, 32, 3)`` with
        ``data_format="channels_last"``); ``"flat"`` is ``(n_features,)``,
        the values of each sample in that order.
    opset_version : int, default=18
        ONNX opset of the graph: from 18 (the oldest torch's exporter
        writes) to the newest the installed onnx knows.

    Raises
    ------
    ImportError
        If onnx or onnxscript is missing (``pip install "skcae[onnx]"``).
    TypeError
        If ``estimator`` is not an outlier detector with ``offset_``, or
        ``path`` is not a str or path-like of a str.
    ValueError
        If ``opset_version`` is not an opset the exporter writes. If the
        data ``estimator`` was fitted on do not fit the graph's float32
        input: values beyond float32's range (rescale X before
        fitting), or an offset so large relative to their spread that
        float32 rounds the differences the scores depend on (subtract the
        mean before fitting); or, with onnxruntime installed, if the graph
        does not reproduce ``score_samples`` (to 1e-4 relative) on images
        at the training data's centre, minimum, maximum and zero, as with a
        degenerate fit (every training image the same).
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
    ``score_samples`` to about 1e-6 relative (onnxruntime's kernels round
    differently). The graph's input is float32, so the export refuses data
    that float32 cannot represent precisely enough (rounding steps above a
    thousandth of a standard deviation): data far from zero relative to
    their spread (``1e8 + N(0, 1)``, which float32 stores in steps of 8)
    need centring before fitting. Exports in concurrent threads run one at
    a time (torch's exporter is not thread-safe) and leave no warning filter
    or logger level changed.

    Unlike ``score_samples``, the graph cannot refuse its input: a
    sample with a NaN value gets a NaN ``score`` and the label -1 (an
    outlier, never an inlier), and an infinite value a very low score and
    -1. Check the input (``np.isfinite(X).all()``) before a run where NaN
    may occur. An empty batch (0 samples) is an error of the runtime.

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
    state = vars(estimator).copy()  # one snapshot, whatever a refit does
    if "scorer_" not in state or "offset_" not in state:
        raise TypeError(
            f"to_onnx exports skcae's outlier detectors (with score_samples and "
            f"offset_), but got a {type(estimator).__name__}."
        )
    if input_form not in ("fitted", "flat"):
        raise ValueError(
            f"Got input_form={input_form!r}, but expected 'fitted' or 'flat'."
        )
    _check_path(path)
    scorer = state["scorer_"]
    _check_float32(estimator, scorer)
    _check_references(scorer)
    _import_onnx("skcae.to_onnx")
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if (
        isinstance(opset_version, bool)
        or not isinstance(opset_version, numbers.Integral)
        or not MIN_OPSET <= opset_version <= newest
    ):
        raise ValueError(
            f"Got opset_version={opset_version!r}, but expected an int from "
            f"{MIN_OPSET} (the exporter's oldest) to {newest} (the newest this "
            "onnx knows)."
        )
    from . import __version__

    n_features = int(state["n_features_in_"])
    sample_shape = tuple(state.get("image_shape_", (n_features,)))
    input_shape = (
        tuple(state.get("input_shape_", (n_features,)))
        if input_form == "fitted"
        else (n_features,)
    )
    channels_last = (
        state.get("data_format_", estimator._data_format()) == "channels_last"
        and len(sample_shape) == 3
        and sample_shape[0] > 1
    )
    graph = _Graph(scorer, state["offset_"], sample_shape, channels_last).eval()
    example = torch.zeros(2, *input_shape, dtype=torch.float32)  # any default
    with _EXPORT_LOCK:
        # the exporter's, and onnxscript's (its version converter warned on
        # stderr for opsets it hands to onnx's, such as 28: the export is fine)
        loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            with (
                warnings.catch_warnings(),
                torch.inference_mode(False),
                no_ambient_autocast(),  # a caller's autocast made bfloat16 convs
            ):
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                program = torch.onnx.export(
                    graph,
                    (example,),
                    input_names=[INPUT_NAME],
                    output_names=list(OUTPUT_NAMES),
                    dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch", min=1)}},
                    opset_version=opset_version,
                    dynamo=True,
                    external_data=False,
                    verbose=False,
                )
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
    proto = program.model_proto
    written = [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")]
    if written != [opset_version]:  # the exporter falls back rather than fail
        raise ValueError(
            f"Asked for opset_version={opset_version}, but the exporter wrote "
            f"opset {written[0] if written else 'none'}; expected an opset it "
            f"can write (from {MIN_OPSET})."
        )
    _drop_unused_initializers(proto.graph)
    shape_text = ", ".join(str(v) for v in input_shape)
    proto.doc_string = (
        f"skcae {type(estimator).__name__}: X float32 (batch, {shape_text}) -> "
        "score = score_samples(X) (float64), label = predict(X) (int64, +1/-1)."
    )
    metadata = {
        "estimator": type(estimator).__name__,
        "score_type": str(scorer.config.score_type),
        "offset": repr(float(state["offset_"])),
        "input_shape": f"[{shape_text}]",
        "n_features_in": str(n_features),
        "skcae_version": __version__,
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    data = proto.SerializeToString()
    _check_graph(data, graph, state, input_shape)
    atomic_write(path, lambda f: f.write(data), example="model.onnx")


def _used_names(graph):
    """Every value name the nodes of ``graph`` and of its subgraphs (a
    Scan's body, an If's branches) read, and its outputs."""
    names = {output.name for output in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            if attribute.HasField("g"):
                names |= _used_names(attribute.g)
            for subgraph in attribute.graphs:
                names |= _used_names(subgraph)
    return names


def _drop_unused_initializers(graph):
    """Remove the initializers no node reads: the exporter leaves a few,
    and onnxruntime printed a "Removing initializer ... It is not used by
    any node" warning for each whenever a session opened the file."""
    used = _used_names(graph)
    kept = [init for init in graph.initializer if init.name in used]
    if len(kept) < len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)


def _check_references(scorer):
    """Refuse, before exporting, a score whose kNN term holds one distinct
    reference: every training image gave it the same vector, a fit too
    degenerate for the graph's float32 input."""
    terms = getattr(scorer, "terms", {})
    single = [
        name
        for name, term in terms.items()
        if getattr(term, "reference", None) is not None and term.reference.shape[0] == 1
    ]
    if single:
        raise ValueError(
            f"The {single[0]!r} term holds one distinct reference: every "
            "training image gave it the same vector, a fit too degenerate for "
            "the graph's float32 input (a hair from that image scores as far "
            "from it as the arithmetic allows). Refit on varied images, or "
            "score with the estimator itself."
        )


def _check_graph(data, graph, state, input_shape):
    """Refuse a graph whose scores onnxruntime computes unlike ``graph``
    (torch, the same function; beyond 1e-4 relative, or non-finite) on
    images at the training data's centre, minimum and maximum and at zero
    (skipped without onnxruntime). Degenerate fits (every training image
    the same) once exported graphs that gave NaN, -inf or -2.6e74 where
    ``score_samples`` gave -3.4e6."""
    try:
        import onnxruntime
    except ImportError:  # the check needs the runtime; the export does not
        return
    center = np.asarray(state.get("center_", 0.0), dtype=np.float64)
    low, high = np.asarray(state.get("data_range_", np.zeros((2, 1))))
    rows = [np.zeros(graph.sample_shape)]
    for values in (center, low, high):
        if len(graph.sample_shape) == 3:
            values = np.broadcast_to(values.reshape(-1, 1, 1), graph.sample_shape)
        rows.append(np.broadcast_to(values, graph.sample_shape))
    X = np.stack(rows).astype(np.float32)
    if graph.channels_last:
        X = X.transpose(0, 2, 3, 1)
    X = X.reshape(len(X), *input_shape)
    # the graph's Scan runs through torch.compile, whose state is not
    # thread-safe: beside another thread's export it broke that export and
    # every later one in the process (UncapturedHigherOrderOpError, "always_
    # classified is unsupported"); so under the export's lock
    with _EXPORT_LOCK, torch.no_grad(), no_ambient_autocast():
        expected = graph(torch.from_numpy(X))[0].numpy()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        data, options, providers=["CPUExecutionProvider"]
    )
    got = session.run([OUTPUT_NAMES[0]], {INPUT_NAME: X})[0]
    with np.errstate(invalid="ignore", over="ignore"):
        bad = ~np.isclose(got, expected, rtol=1e-4, atol=1e-8)
    if bad.any():
        raise ValueError(
            f"The exported graph scores {got[bad][0]} where score_samples gives "
            f"{expected[bad][0]:.6g} (an image at the training data's centre, "
            "minimum, maximum or zero): the fit is too degenerate for the "
            "graph's arithmetic (e.g. every training image the same). Refit on "
            "varied images, or score with the estimator itself."
        )


__all__ = ["to_onnx"]
