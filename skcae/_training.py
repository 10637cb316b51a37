"""Training and inference plumbing shared by every skcae estimator.

skorch runs the training loop; this module gives it a batch iterator that
slices arrays instead of collating one sample at a time, a seeded
train/validation split, a guard against diverging losses, and the batched
no-grad inference used for scoring.
"""

import contextlib
import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

# Scoring runs in chunks of this many rows, the last one zero-padded up to a
# multiple of _PAD_MULTIPLE: the CPU kernels give bit-identical per-sample
# results for equal batch sizes, whatever the order, but not for tiny batches,
# so this keeps scores independent of how the caller batches the data.
INFERENCE_CHUNK = 256
_PAD_MULTIPLE = 64


def autocast(device, enabled):
    """bfloat16 autocast on ``device`` when enabled, else a no-op context.

    bfloat16 keeps float32's exponent range, so no gradient scaling is needed.
    """
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


class AutoencoderNet(NeuralNet):
    """skorch's NeuralNet with optional mixed-precision (bf16) training.

    The forward pass runs under :func:`autocast` when ``mixed_precision`` is
    true; the loss is computed in float32 on the reconstruction.
    """

    def __init__(self, module, criterion, *, mixed_precision=False, **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.mixed_precision = mixed_precision

    def infer(self, x, **fit_params):
        with autocast(self.device, self.mixed_precision):
            return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return super().get_loss(y_pred.float(), y_true, X=X, training=training)


def auto_batch_size(n_samples):
    """``batch_size="auto"``: about 32 steps per epoch, between 8 and 64.

    Small sets (e.g. one digit of scikit-learn's 8x8 digits, ~130 images)
    otherwise get only a couple of optimiser steps per epoch and stay
    undertrained; large sets get 64.
    """
    return int(min(64, max(8, n_samples // 32)))


def resolve_device(device):
    """Map ``"auto"`` to ``"cuda"`` when a GPU is available, else ``"cpu"``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _batch_tensor(images, index):
    """Rows ``index`` (a slice or sorted int array) as a float32 CPU tensor."""
    batch = images[index]
    if (
        batch.dtype != np.float32
        or not batch.flags.writeable
        or not batch.flags.c_contiguous
    ):
        batch = np.array(batch, dtype=np.float32, order="C")
    return torch.from_numpy(batch)


class ImageDataset(torch.utils.data.Dataset):
    """Images ``(n, C, H, W)`` (any array that supports slicing), a row subset.

    Only the rows in ``indices`` (all when None) belong to the dataset; they
    are read batch by batch, so a memory-mapped array is never loaded whole.
    """

    def __init__(self, images, indices=None):
        self.images = images
        self.indices = indices

    def __len__(self):
        return len(self.images) if self.indices is None else len(self.indices)

    def batch(self, positions):
        """The rows at ``positions`` (a slice or int array) as a float32 tensor."""
        if self.indices is None:
            return _batch_tensor(self.images, positions)
        rows = np.sort(self.indices[positions])  # sorted reads are fastest
        return _batch_tensor(self.images, rows)

    def __getitem__(self, i):
        x = self.batch(slice(i, i + 1))[0]
        return x, x


class BatchIterator:
    """Yield ``(X, X)`` batches by slicing, as skorch's ``iterator_train``.

    The order is drawn from torch's global generator, which ``fit`` seeds
    inside :func:`torch.random.fork_rng`.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, pin_memory=False):
        self.dataset = dataset
        if batch_size == "auto":
            batch_size = auto_batch_size(len(dataset))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.pin_memory = pin_memory

    def __len__(self):
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self):
        n, bs = len(self.dataset), self.batch_size
        order = torch.randperm(n).numpy() if self.shuffle else None
        for start in range(0, n, bs):
            if order is None:
                xb = self.dataset.batch(slice(start, start + bs))
            else:
                xb = self.dataset.batch(np.sort(order[start : start + bs]))
            if self.pin_memory:
                xb = xb.pin_memory()
            yield xb, xb


class ValidationSplit:
    """Hold out a random ``fraction`` of the rows for validation."""

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        train, valid = self.indices(len(dataset))
        return (
            ImageDataset(dataset.images, train),
            ImageDataset(dataset.images, valid),
        )

    def indices(self, n):
        """The sorted ``(train, valid)`` row indices of a dataset of ``n`` rows."""
        n_valid = int(round(n * self.fraction))
        if n_valid < 1 or n_valid >= n:
            raise ValueError(
                f"validation_fraction={self.fraction} leaves {n_valid} of "
                f"n_samples={n} for validation; expected at least 1 validation "
                "and 1 training sample. Pass more data or "
                "validation_fraction=None."
            )
        perm = np.random.RandomState(self.seed).permutation(n)
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


class DivergenceGuard(Callback):
    """Stop training with a clear error as soon as the loss is NaN or inf."""

    def __init__(self, lr=None):
        self.lr = lr

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is not None and not torch.isfinite(loss):
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {loss.item()} in epoch {epoch}: "
                f"training diverged with lr={self.lr}. Expected a finite loss; "
                "try a lower lr (e.g. ten times lower), scale the input, or "
                "check X for extreme values."
            )


def batched_inference(module, data, device, fn, mixed_precision=False):
    """``fn(module, x)`` over the rows of ``data``, in eval and inference mode.

    This is the one inference path of skcae: scores, codes, reconstructions
    and anomaly maps all go through it. ``data`` is any array whose rows can
    be sliced (images ``(n, C, H, W)``, tabular rows or codes); it is read in
    chunks of ``INFERENCE_CHUNK`` rows, each cast to a float32 tensor on
    ``device`` and zero-padded to a multiple of ``_PAD_MULTIPLE`` rows (see
    the comment there), so memory stays bounded and each row's result does
    not depend on how the caller batches or orders the rows. ``fn`` must
    return a tensor with one row per input row (padding rows included; they
    are dropped).

    Returns
    -------
    out : ndarray
        The rows of ``fn``'s output, concatenated, in ``fn``'s dtype.
    """
    module.eval()
    n = len(data)
    out = []
    with torch.inference_mode():
        for start in range(0, n, INFERENCE_CHUNK):
            x = _batch_tensor(data, slice(start, start + INFERENCE_CHUNK))
            m = x.shape[0]
            n_pad = -m % _PAD_MULTIPLE
            if n_pad:
                x = torch.cat([x, x.new_zeros((n_pad, *x.shape[1:]))])
            if torch.device(device).type == "cuda":
                x = x.pin_memory()  # lets the copy below overlap compute
            x = x.to(device, non_blocking=True)
            with autocast(device, mixed_precision):
                rows = fn(module, x)[:m]
            if rows.dtype in (torch.bfloat16, torch.float16):
                rows = rows.float()
            out.append(rows.cpu())
    return torch.cat(out).numpy()


def reconstruction_errors(module, images, device, fn=None, mixed_precision=False):
    """Per-sample mean squared error of ``module`` on ``images`` (float64).

    A :func:`batched_inference` of the reconstruction error, so it shares its
    guarantees. ``fn(x, recon)`` replaces the mean squared error when given
    and must return one row per sample.
    """

    def error(module, x):
        recon = module(x)
        if fn is not None:
            return fn(x, recon)
        return (recon - x).square().flatten(1).mean(1, dtype=torch.float64)

    return batched_inference(module, images, device, error, mixed_precision)
