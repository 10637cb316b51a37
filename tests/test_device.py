"""Devices and mixed precision; the CUDA tests skip cleanly without a GPU."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skcae import ConvAutoencoderOutlierDetector
from skcae._training import resolve_device

FAST = dict(image_shape=(8, 8), channels=(4,), latent_dim=4, max_epochs=2,
            batch_size=32, random_state=0)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no cuda device")


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:300]


def _conv_dtype(det, X):
    """The dtype the first convolution computes in when the net infers."""
    seen = []
    conv = det.net_.module_.encoder_conv[0]
    hook = conv.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    det.net_.infer(torch.as_tensor(X[:4], dtype=torch.float32).view(-1, 1, 8, 8))
    hook.remove()
    return seen[0]


def test_auto_picks_cuda_only_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"


def test_mixed_precision_runs_the_network_in_bfloat16(X):
    det = ConvAutoencoderOutlierDetector(device="cpu", mixed_precision=True, **FAST)
    det.fit(X)
    assert _conv_dtype(det, X) == torch.bfloat16
    scores = det.score_samples(X)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    # the same weights scored in float32 agree to bf16 precision, not exactly
    det.net_.mixed_precision = False
    full = det.score_samples(X)
    assert not np.array_equal(scores, full)
    np.testing.assert_allclose(scores, full, rtol=0.05)


def test_full_precision_by_default(X):
    det = ConvAutoencoderOutlierDetector(device="cpu", **FAST).fit(X)
    assert _conv_dtype(det, X) == torch.float32


@cuda
@pytest.mark.parametrize("mixed_precision", [False, True])
def test_cuda_training_and_scoring(X, mixed_precision):
    det = ConvAutoencoderOutlierDetector(
        device="cuda", mixed_precision=mixed_precision, **FAST
    ).fit(X)
    assert det.device_ == "cuda"
    assert next(det.net_.module_.parameters()).is_cuda
    cpu = ConvAutoencoderOutlierDetector(device="cpu", **FAST).fit(X)
    scores = det.score_samples(X)
    assert np.isfinite(scores).all()
    # same seed, same data: close to the CPU model (kernels differ in rounding)
    assert np.corrcoef(scores, cpu.score_samples(X))[0, 1] > 0.9


@cuda
def test_cuda_scores_do_not_depend_on_batching(X):
    det = ConvAutoencoderOutlierDetector(device="cuda", **FAST).fit(X)
    full = det.score_samples(X)
    singles = np.concatenate([det.score_samples(X[i : i + 1]) for i in range(10)])
    np.testing.assert_allclose(singles, full[:10], rtol=1e-6)
