"""Denoising: noise_std and mask_fraction corrupt the input in training only."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from skorch.callbacks import Callback

from skcae import (
    AutoencoderOutlierDetector,
    ConvAutoencoder,
    ConvAutoencoderModule,
    ConvAutoencoderOutlierDetector,
    DenseAutoencoderModule,
)
from skcae._network import corrupt

FAST = dict(
    channels=(4,),
    latent_dim=3,
    max_epochs=2,
    batch_size=32,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:120]


@pytest.mark.parametrize(
    "cls", [ConvAutoencoderOutlierDetector, ConvAutoencoder, AutoencoderOutlierDetector]
)
def test_flat_parameters_on_every_estimator(cls):
    params = cls().get_params()
    assert params["noise_std"] == 0.0 and params["mask_fraction"] == 0.0


def test_corrupt_adds_noise_and_masks():
    z = torch.ones(200, 500)
    noisy = corrupt(z, noise_std=0.5)
    assert (noisy - z).std().item() == pytest.approx(0.5, rel=0.02)
    masked = corrupt(z, mask_fraction=0.3)
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert corrupt(z) is z  # nothing drawn at the defaults


@pytest.mark.parametrize(
    "module, x",
    [
        (
            ConvAutoencoderModule(
                (1, 8, 8), channels=(4,), latent_dim=3, noise_std=1.0, mask_fraction=0.5
            ),
            torch.rand(6, 1, 8, 8),
        ),
        (
            DenseAutoencoderModule(
                10,
                hidden_layer_sizes=(8,),
                latent_dim=3,
                noise_std=1.0,
                mask_fraction=0.5,
            ),
            torch.rand(6, 10),
        ),
    ],
    ids=["conv", "dense"],
)
def test_modules_corrupt_in_training_mode_only(module, x):
    with torch.no_grad():
        module.train()
        assert not torch.equal(module(x), module(x))  # fresh noise each pass
        module.eval()
        clean = module(x)
        assert torch.equal(module(x), clean)
        module.noise_std, module.mask_fraction = 0.0, 0.0
        module.train()
        assert torch.equal(module(x), clean)  # eval == no corruption


def test_target_stays_clean(X):
    """The skorch loop sees clean (X, X) batches; corruption is in the module."""
    seen = []

    class RecordBatches(Callback):
        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            seen.append(batch)

    ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        noise_std=1.0,
        mask_fraction=0.5,
        callbacks=[RecordBatches()],
        **FAST,
    ).fit(X)
    rows = {row.tobytes() for row in X.astype(np.float32)}
    assert seen
    for xb, yb in seen:
        assert torch.equal(xb, yb)
        assert all(r.numpy().ravel().tobytes() in rows for r in yb)


def test_noise_changes_training_and_parameters_reach_the_module(X):
    base = ConvAutoencoderOutlierDetector(image_shape=(8, 8), **FAST).fit(X)
    same = clone(base).set_params(noise_std=0.0, mask_fraction=0.0).fit(X)
    np.testing.assert_array_equal(same.score_samples(X), base.score_samples(X))
    for params in ({"noise_std": 0.5}, {"mask_fraction": 0.3}):
        det = clone(base).set_params(**params).fit(X)
        for name, value in params.items():
            assert getattr(det.net_.module_, name) == value
        scores = det.score_samples(X)
        assert np.all(np.isfinite(scores))
        assert not np.array_equal(scores, base.score_samples(X))
        # scoring is deterministic: no corruption outside training
        np.testing.assert_array_equal(det.score_samples(X), scores)


def test_masked_training_denoises_better_than_plain_training():
    """On rows of a 2-D plane in 10-D, masking in training helps undo masking."""
    rng = np.random.RandomState(0)
    clean = rng.randn(400, 2) @ rng.randn(2, 10)
    masked = clean * (rng.rand(*clean.shape) >= 0.2)  # feature means are ~0
    errors = {}
    for mask_fraction in (0.0, 0.2):
        det = AutoencoderOutlierDetector(
            hidden_layer_sizes=(32,),
            latent_dim=2,
            max_epochs=25,
            batch_size=32,
            mask_fraction=mask_fraction,
            lr=3e-3,
            device="cpu",
            random_state=0,
        ).fit(clean)
        errors[mask_fraction] = np.mean((det.reconstruct(masked) - clean) ** 2)
    # measured over data seeds 0-2: ratio 0.58-0.62, plain / before 0.36-0.44
    assert errors[0.2] < 0.75 * errors[0.0]
    assert errors[0.2] < 0.3 * np.mean((masked - clean) ** 2)


@pytest.mark.parametrize(
    "params, match",
    [({"noise_std": -0.1}, "noise_std"), ({"mask_fraction": 1.0}, "mask_fraction")],
)
def test_bad_noise_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        ConvAutoencoderOutlierDetector(**{**FAST, **params}).fit(np.zeros((10, 4)))
