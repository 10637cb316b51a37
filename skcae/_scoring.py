"""Inference and scoring: the one home of every per-sample quantity.

* :func:`batched_inference` is the one inference path: scores, codes,
  reconstructions and anomaly maps all run through it, in chunks.
* :func:`squared_errors` and :func:`pooled_error` are the one definition
  of the reconstruction error, shared by scoring, ``anomaly_map``, the
  monitor callback and the ONNX graph.
* :func:`knn_distance` is the kNN distance of the latent-density terms.

What the detectors make of them lives in :mod:`skcae._score_model`.
"""

import numpy as np
import torch
from torch.nn import functional as F

from ._data import BLOCK_ROWS, RangeTracker, read_block
from ._network import autocast

# Scoring chunks are zero-padded up to a multiple of this many rows: the CPU
# kernels give bit-identical per-sample results for equal batch sizes, but
# not for tiny batches, so this keeps scores independent of how the caller
# batches the data.
_PAD_MULTIPLE = 64
# kNN queries are compared with the reference codes in chunks of this many.
KNN_CHUNK = 512


def _as_images(err):
    """View per-value errors as images ``(n, C, H, W)`` (rows: one channel)."""
    return err if err.ndim == 4 else err.reshape(err.shape[0], 1, 1, -1)


def squared_errors(z, z_recon, weights):
    """Squared reconstruction error of every value, in data units.

    Parameters
    ----------
    z, z_recon : torch.Tensor of shape (n, C, H, W) or (n, F)
        Standardised inputs and their reconstructions.
    weights : torch.Tensor broadcastable to ``z``
        The squared scale of each channel (or feature), which maps squared
        standardised errors back to the squared units of the data.

    Returns
    -------
    errors : torch.Tensor of the shape of ``z`` (float32)
    """
    return (z_recon.float() - z).square() * weights


def _box_blur(err, kernel):
    """Mean over a centred ``kernel`` window, zero padding, in ``err``'s dtype.

    Written as a sum of shifted slices rather than ``avg_pool2d``, so it
    runs in float64 and exports to ONNX operators that onnxruntime runs in
    float64 (its AveragePool takes float32 only).
    """
    kh, kw = kernel
    height, width = err.shape[-2:]
    padded = F.pad(err, (kw // 2, kw // 2, kh // 2, kh // 2))
    total = None
    for i in range(kh):
        for j in range(kw):
            part = padded[..., i : i + height, j : j + width]
            total = part if total is None else total + part
    return total / (kh * kw)


def pooled_error(errors, smoothing=1, top_fraction=1.0):
    """Per-sample reconstruction error from per-value errors (float64).

    The errors are averaged over channels, box-blurred with a
    ``smoothing`` x ``smoothing`` window (zero padding), and the mean of the
    largest ``top_fraction`` of pixels is returned. With ``smoothing=1`` and
    ``top_fraction=1.0`` this is the mean squared error of each sample.
    """
    err = _as_images(errors).to(torch.float64)
    if smoothing > 1 or top_fraction < 1.0:
        err = err.mean(1, keepdim=True)
    if smoothing > 1:
        k = smoothing
        err = _box_blur(
            err, (1 if err.shape[-2] == 1 else k, 1 if err.shape[-1] == 1 else k)
        )
    flat = err.flatten(1)
    if top_fraction < 1.0:
        k_top = max(1, int(np.ceil(top_fraction * flat.shape[1])))
        if k_top < flat.shape[1]:
            flat = torch.topk(flat, k_top, dim=1, sorted=False).values
    return flat.mean(1)


def knn_distance(codes, reference, k, *, exclude_self=False, chunk=KNN_CHUNK):
    """Mean Euclidean distance of each code to its ``k`` nearest references.

    The nearest references are found with one float32 matrix product
    (``|r|^2 - 2 q.r``; ``|q|^2`` does not change the order) and their
    distances are then computed exactly, in float64, from the differences,
    so that large codes lose no precision to cancellation. Queries go in
    chunks of exactly ``chunk`` rows (the last one zero-padded), so every
    query meets the same matrix-product shapes whatever else is scored
    with it, and its distance does not depend on the batch.

    Parameters
    ----------
    codes : torch.Tensor of shape (n, d)
        Query codes (already standardised).
    reference : torch.Tensor of shape (m, d)
        The reference (training) codes.
    k : int
        Number of neighbours (clipped to the number of references).
    exclude_self : bool, default=False
        The queries are the references themselves: drop each one's match
        with itself (leave-one-out), which also caps ``k`` at ``m - 1``.
    chunk : int or None, default=1024
        Queries compared at once (bounded memory); None compares all at
        once (one matrix product, as in the ONNX graph).

    Returns
    -------
    distance : torch.Tensor of shape (n,) (float64)
    """
    reference = reference.to(torch.float64)
    m = reference.shape[0]
    if exclude_self and m < 2:  # no other reference: no evidence either way
        return codes.new_zeros(codes.shape[0], dtype=torch.float64)
    k = max(1, min(int(k), m - 1 if exclude_self else m))
    take = k + 1 if exclude_self else k
    reference32 = reference.to(torch.float32)
    ref_sq = reference32.square().sum(1)

    def distances(q):
        q = q.to(torch.float64)
        partial = torch.addmm(ref_sq, q.to(torch.float32), reference32.T, alpha=-2.0)
        nearest = torch.topk(partial, take, dim=1, largest=False).indices
        if exclude_self:
            nearest = nearest[:, 1:]
        diff = reference[nearest] - q.unsqueeze(1)  # (n, k, d)
        return diff.square().sum(2).sqrt().mean(1)

    if chunk is None:
        return distances(codes)
    # one preallocated output: a list of small per-chunk results would be
    # interleaved with each chunk's large temporaries and fragment the heap
    # (measured: +7 GB after 1,000,000 queries)
    n = len(codes)
    out = torch.empty(n, dtype=torch.float64)
    for start in range(0, n, chunk):
        q = codes[start : start + chunk]
        m = len(q)
        if m < chunk:
            q = torch.cat([q, q.new_zeros(chunk - m, q.shape[1])])
        out[start : start + m] = distances(q)[:m]
    return out


def batched_inference(
    module, rows, standardizer, device, fn, *, mixed_precision=False, check_range=False
):
    """``fn(module, z)`` over the standardised rows of ``rows``, in eval mode.

    ``rows`` is any array whose rows can be sliced (images ``(n, C, H, W)``,
    tabular rows, or codes with ``standardizer=None``). It is read in chunks
    of ``BLOCK_ROWS`` rows, standardised in float64, cast to float32, moved
    to ``device`` and zero-padded to a multiple of ``_PAD_MULTIPLE`` rows, so
    memory stays bounded and each row's result does not depend on how the
    caller batches or orders the rows. ``fn`` returns a tensor (or a tuple of
    tensors) with one row per input row; the rows of each are written into
    one preallocated array per output, so scoring a memmap never holds more
    than a chunk of intermediate results.

    Returns
    -------
    outputs : ndarray or tuple of ndarray
        Like ``fn``'s return, in its dtypes (bfloat16 and float16 as float32).
    mismatch : str or None
        Only with ``check_range``: a message when the data span a range far
        from the training data's (see :class:`~skcae._data.RangeTracker`).
    """
    module.eval()
    n = len(rows)
    outputs = None
    tracker = RangeTracker() if check_range else None
    on_cuda = torch.device(device).type == "cuda"
    with torch.inference_mode():
        for start in range(0, max(n, 1), BLOCK_ROWS):
            block = read_block(rows, slice(start, start + BLOCK_ROWS))
            if tracker is not None and len(block):
                tracker.update(block)
            if standardizer is None:
                x = torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))
            else:
                x = standardizer.transform(block)
            m = x.shape[0]
            n_pad = -m % _PAD_MULTIPLE if m else _PAD_MULTIPLE
            if n_pad:
                x = torch.cat([x, x.new_zeros((n_pad, *x.shape[1:]))])
            if on_cuda:
                x = x.pin_memory()  # lets the copy below overlap compute
            x = x.to(device, non_blocking=True)
            with autocast(device, mixed_precision):
                result = fn(module, x)
            single = not isinstance(result, tuple)
            result = (result,) if single else result
            if outputs is None:
                outputs = [
                    np.empty((n, *r.shape[1:]), dtype=_numpy_dtype(r.dtype))
                    for r in result
                ]
            for out, r in zip(outputs, result):
                if r.dtype in (torch.bfloat16, torch.float16):
                    r = r.float()
                out[start : start + m] = r[:m].cpu().numpy()
    outputs = outputs[0] if single else tuple(outputs)
    if check_range:
        return outputs, tracker.mismatch(standardizer)
    return outputs


def _numpy_dtype(dtype):
    if dtype in (torch.bfloat16, torch.float16):
        return np.float32
    return torch.empty(0, dtype=dtype).numpy().dtype
