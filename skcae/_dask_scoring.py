"""Scoring Dask arrays block by block, on the workers of a cluster.

:class:`DaskScorer` wraps a fitted estimator: its methods take a Dask array
and return a lazy Dask array with one task per block of rows, which calls
the estimator's own method on that block. The estimator is one key of the
task graph, so each worker receives it once, however many blocks it scores.
"""

import copy
import re
import uuid
import warnings
from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._validation import known_shape


def _import_dask(caller):
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires dask, which is not installed. Install it with: "
            'pip install "skcae[dask]" (or pip install "dask[array,distributed]").'
        ) from exc
    return dask, da


def _of_shape(exc, shape):
    """``exc`` (the estimator's error for a one-sample probe of a Dask array),
    its message naming the whole array's shape, not the probe's ``(1, ...)``;
    the same exception object, so its type and attributes are kept."""
    probe = re.escape(str((1, *shape[1:])))
    # X's shape as the messages give it ("Got X of shape (1, 8, 8)", "X of
    # shape=(1, 8, 8, 1)"); "images of shape (1, 4, 4)" is an image's (C, H,
    # W) and "image_shape=" a parameter
    pattern = r"(?<=\bX of shape)(=| )" + probe
    if exc.args and isinstance(exc.args[0], str):
        message = re.sub(pattern, lambda m: m.group(1) + str(tuple(shape)), exc.args[0])
        exc.args = (message, *exc.args[1:])
    return exc


def _is_dask_array(X):
    return type(X).__module__.startswith("dask.array") and hasattr(X, "chunks")


def _apply(estimator, method, block, start=0):
    """``estimator.method(block)``: the task each block runs on a worker.

    ``start`` is the block's first row in X: an error that names a sample
    of the block (NaN or infinity) names it as a row of X."""
    try:
        return getattr(estimator, method)(block)
    except ValueError as error:
        message = str(error)
        located = _in_x(message, start, len(block))
        if located == message:
            raise
        raise ValueError(located) from None


def _in_x(message, start, rows):
    """``message`` of a block of ``rows`` rows starting at row ``start`` of
    X, with its "of N samples (the first: sample i)" as rows of X, in the
    words of an out-of-core X's (:func:`skcae._validation._bad_values_message`),
    but as the first of the block: blocks are scored in parallel, so an
    earlier block may hold some too."""
    return re.sub(
        r"of (\d+) samples \(the first: sample (\d+)\)",
        lambda m: (
            f"of the {m.group(1)} samples read at rows {start} to "
            f"{start + rows - 1} of X (the first of these: sample "
            f"{start + int(m.group(2))}; other blocks, scored in parallel, "
            "may hold some too)"
        ),
        message,
    )


def _with_n_jobs(estimator, n_jobs):
    """A deep copy of ``estimator`` with every ``n_jobs`` parameter set."""
    shipped = copy.deepcopy(estimator)
    if n_jobs is None or not hasattr(shipped, "get_params"):
        return shipped
    names = [k for k in shipped.get_params(deep=True) if k.split("__")[-1] == "n_jobs"]
    if names:
        shipped.set_params(**dict.fromkeys(names, n_jobs))
    return shipped


class DaskScorer:
    """Score Dask arrays block by block with a fitted estimator.

    Each method takes a :class:`dask.array.Array` of samples (for instance
    ``da.from_array`` of a memmap, an HDF5 or zarr dataset, or of
    :class:`skcae.images.ImageFiles`) and returns a lazy Dask array, with
    one task per block of rows that calls the estimator's own method on
    that block: computed on a ``dask.distributed`` cluster, the blocks are
    scored in parallel on its workers. Results equal those of the
    estimator on the whole array in memory (skcae's scores do not depend
    on how the samples are batched). In-memory input (a NumPy array...)
    goes straight to the estimator and returns NumPy arrays.

    The estimator is copied with its ``n_jobs`` set (for each task's torch
    threads) and is a single key of every graph this scorer builds while
    the estimator is unchanged, so each worker receives it once and keeps
    it for all the blocks it scores; a refit or a new threshold of the
    estimator (any change of its state, by :func:`dask.base.tokenize`,
    deterministic for any object from dask 2024.2, the version required)
    makes a new copy for the graphs built after it. A task holds one block
    of rows with its outputs, so the rows per chunk bound the memory of
    each worker thread.

    Read more in the :ref:`User Guide <scoring_millions>`.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted skcae estimator (or a fitted
        :class:`~sklearn.pipeline.Pipeline` ending in one, or any fitted
        estimator with the methods called).
    n_jobs : int or None, default=1
        The torch threads of each task: every ``n_jobs`` parameter of the
        copy sent to the workers is set to it (in a Pipeline too). A worker
        with ``nthreads`` threads then uses up to ``nthreads * n_jobs``
        cores. None keeps the estimator's own ``n_jobs``.

    See Also
    --------
    skcae.images.ImageFiles : Image files as a lazy array, for
        ``dask.array.from_array``.

    Notes
    -----
    Each block is validated by the estimator on the worker; before the
    graph is built, one all-zero sample of ``X``'s shape and dtype is run
    through the method locally (or, where the estimator refuses zeros, such
    as a Pipeline taking logarithms, ``X``'s first sample), so that a wrong
    sample shape is an error at once (with the estimator's own message) and
    the output's shape and dtype are known. Chunks along the sample axes
    are merged first: every task gets whole samples. The warnings of a
    block (e.g. data in other units than the training data) are emitted on
    the worker, where ``dask.distributed`` logs them.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn.datasets import load_digits
    >>> from skcae import ConvAutoencoderOutlierDetector, DaskScorer
    >>> X = load_digits().images
    >>> det = ConvAutoencoderOutlierDetector(
    ...     channels=(4,), latent_dim=2, max_epochs=1, random_state=0).fit(X[:200])
    >>> X_dask = da.from_array(X, chunks=(500, 8, 8))
    >>> scores = DaskScorer(det).score_samples(X_dask)
    >>> scores
    dask.array<concatenate, shape=(1797,), dtype=float64, chunksize=(500,), ...>
    >>> bool((scores.compute() == det.score_samples(X)).all())
    True
    >>> DaskScorer(det).encode(X_dask).shape
    (1797, 2)
    """

    def __init__(self, estimator, *, n_jobs=1):
        if n_jobs is not None and (
            not isinstance(n_jobs, Integral) or isinstance(n_jobs, bool) or n_jobs == 0
        ):
            raise ValueError(
                f"Got n_jobs={n_jobs!r}; expected a non-zero int (torch threads "
                "per task, -1 for every CPU) or None (the estimator's own)."
            )
        check_is_fitted(estimator)
        self.estimator = estimator
        self.n_jobs = n_jobs
        self._shipped = None  # (token of the estimator, its copy, delayed copy)

    def __repr__(self):
        return f"DaskScorer({self.estimator!r}, n_jobs={self.n_jobs!r})"

    def _delayed_estimator(self, dask):
        """The estimator as one key of the graph: the same copy while the
        estimator's state is unchanged, a new one after a refit or a new
        threshold (the first copy stayed behind: scores of an old model)."""
        token = dask.base.tokenize(self.estimator)
        if self._shipped is None or self._shipped[0] != token:
            shipped = _with_n_jobs(self.estimator, self.n_jobs)
            self._shipped = (
                token,
                shipped,
                dask.delayed(shipped, name=f"skcae-estimator-{uuid.uuid4().hex}"),
            )
        return self._shipped[2]

    @staticmethod
    def _probe(shipped, method, X):
        """The method's output for one sample of ``X``'s shape and dtype:
        zeros, or X's first sample where the estimator refuses zeros."""
        zeros = np.zeros((1, *X.shape[1:]), dtype=X.dtype)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # (zeros in other units...)
                return _apply(shipped, method, zeros)
        except ValueError as exc:
            if X.shape[0] == 0:
                raise _of_shape(exc, X.shape)
        first = np.asarray(X[:1].compute())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # warned again on the worker
                return _apply(shipped, method, first)
        except ValueError as exc:
            raise _of_shape(exc, X.shape)

    def _map(self, method, X):
        if not hasattr(self.estimator, method):
            raise AttributeError(
                f"{type(self.estimator).__name__} has no method {method!r}."
            )
        if not _is_dask_array(X):
            return getattr(self.estimator, method)(X)
        dask, da = _import_dask(f"DaskScorer.{method}")
        if X.ndim < 2:
            raise ValueError(
                f"Got a Dask array of shape {X.shape}; expected samples along "
                "the first axis, (n_samples, ...), as the estimator takes them."
            )
        known_shape(X)  # (NaN chunk sizes: the fix named)
        if any(len(c) > 1 for c in X.chunks[1:]):
            X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
        estimator = self._delayed_estimator(dask)
        probe = self._probe(self._shipped[1], method, X)
        task = dask.delayed(_apply, pure=True)
        starts = np.cumsum([0, *X.chunks[0][:-1]])
        parts = [
            da.from_delayed(
                task(estimator, method, block, int(start)),
                shape=(rows, *probe.shape[1:]),
                dtype=probe.dtype,
                meta=probe[:0],
            )
            for block, rows, start in zip(X.to_delayed().ravel(), X.chunks[0], starts)
        ]
        return da.concatenate(parts, axis=0)

    def score_samples(self, X):
        """Lazy ``score_samples`` of each sample (higher is more normal).

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, ...)
            Samples in a form the estimator takes, chunked along the first
            axis (or an in-memory array, scored at once).

        Returns
        -------
        scores : dask.array.Array of shape (n_samples,)
            float64, chunked like ``X``'s rows.
        """
        return self._map("score_samples", X)

    def decision_function(self, X):
        """Lazy ``decision_function``: ``score_samples - offset_``.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, ...)
            Samples in a form the estimator takes.

        Returns
        -------
        decision : dask.array.Array of shape (n_samples,)
            Negative for outliers.
        """
        return self._map("decision_function", X)

    def predict(self, X):
        """Lazy ``predict``: +1 for inliers and -1 for outliers.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, ...)
            Samples in a form the estimator takes.

        Returns
        -------
        labels : dask.array.Array of shape (n_samples,)
            Integer labels.
        """
        return self._map("predict", X)

    def encode(self, X):
        """Lazy ``encode``: the latent code of each sample.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, ...)
            Samples in a form the estimator takes.

        Returns
        -------
        codes : dask.array.Array of shape (n_samples, latent_dim)
            As the estimator's ``encode`` gives them.
        """
        return self._map("encode", X)

    def anomaly_map(self, X):
        """Lazy ``anomaly_map``: the squared error of every pixel.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, ...)
            Samples in a form the estimator takes.

        Returns
        -------
        maps : dask.array.Array
            Of the shape the estimator's ``anomaly_map`` gives, e.g.
            ``(n_samples, H, W)`` for one-channel images.
        """
        return self._map("anomaly_map", X)

    def reconstruct(self, X):
        """Lazy ``reconstruct``: each sample encoded and decoded.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, ...)
            Samples in a form the estimator takes.

        Returns
        -------
        X_reconstructed : dask.array.Array of the shape of X
            As the estimator's ``reconstruct`` gives them.
        """
        return self._map("reconstruct", X)
