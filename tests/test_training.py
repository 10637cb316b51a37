"""skcae._training: seeded, interruptible, guarded training through skorch."""

import re
import threading

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LRScheduler

from skcae import ConvAutoencoder, ConvAutoencoderOutlierDetector, _training
from skcae._training import auto_batch_size, resolve_device


def test_refit_is_bit_identical_and_leaves_global_generators_alone(zeros, tiny):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a = ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
    b = ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    np.testing.assert_array_equal(a.score_samples(zeros), b.score_samples(zeros))
    c = clone(a).set_params(random_state=1).fit(zeros)
    assert not np.array_equal(a.score_samples(zeros), c.score_samples(zeros))


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_foreach_optimisers_train_the_same_weights(zeros, tiny, optimizer, monkeypatch):
    # the optimisers run with foreach=True for speed; on the CPU that must be
    # the per-tensor update to the bit, or a fit would depend on it
    params = dict(tiny, optimizer=optimizer, lr=1e-2)
    a = ConvAutoencoderOutlierDetector(**params).fit(zeros)
    cls, kwargs = _training.OPTIMIZERS[optimizer]
    assert kwargs["foreach"] is True
    monkeypatch.setitem(
        _training.OPTIMIZERS, optimizer, (cls, {**kwargs, "foreach": False})
    )
    b = ConvAutoencoderOutlierDetector(**params).fit(zeros)
    for p, q in zip(a.net_.module_.parameters(), b.net_.module_.parameters()):
        assert torch.equal(p, q)


def test_denoising_draws_are_seeded_too(zeros, tiny):
    params = dict(tiny, noise_std=0.5, mask_fraction=0.2)
    a = ConvAutoencoderOutlierDetector(**params).fit(zeros)
    b = ConvAutoencoderOutlierDetector(**params).fit(zeros)
    np.testing.assert_array_equal(a.score_samples(zeros), b.score_samples(zeros))


def test_concurrent_fits_in_threads_are_reproducible(zeros, tiny):
    reference = ConvAutoencoderOutlierDetector(**tiny).fit(zeros).score_samples(zeros)
    torch_state = torch.get_rng_state()
    results = [None] * 4

    def fit(i):
        det = ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
        results[i] = det.score_samples(zeros)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for scores in results:
        np.testing.assert_array_equal(scores, reference)
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_auto_batch_size_gives_small_sets_enough_steps(all_zeros, tiny):
    det = ConvAutoencoderOutlierDetector(**dict(tiny, batch_size="auto")).fit(
        all_zeros[:130]
    )
    # 130 // 16 = 8, clipped up to 16 samples per step: 9 steps per epoch
    assert det.net_.history[-1, "train_batch_count"] == 9
    assert auto_batch_size(6000) == 128 and auto_batch_size(1000) == 62


def test_auto_batch_size_keeps_large_images_in_memory(all_zeros, tiny, monkeypatch):
    """16 images of 3000x3000 pixels a batch got a fit killed for its memory:
    "auto" holds at most AUTO_BATCH_VALUES values a batch (here 8 8x8
    images' worth), at least one image."""
    from skcae import _training

    assert auto_batch_size(60, 3000 * 3000) == 1
    assert auto_batch_size(6000, 1024 * 1024) == 16
    assert auto_batch_size(6000, 3 * 64 * 64) == 128  # common sizes: as before
    monkeypatch.setattr(_training, "AUTO_BATCH_VALUES", 8 * 64)
    det = ConvAutoencoderOutlierDetector(**dict(tiny, batch_size="auto")).fit(
        all_zeros[:130]
    )
    assert det.net_.history[-1, "train_batch_count"] == 17  # 130 / 8


def test_verbose_with_the_default_batch_size(zeros, capsys, monkeypatch):
    """The defaults as a user meets them: verbose=1, batch_size="auto"."""
    # on a terminal (pytest's captured stderr is not one: no progress bar)
    monkeypatch.setattr("skcae._console.is_interactive", lambda stream: True)
    ConvAutoencoderOutlierDetector(max_epochs=2, verbose=1, random_state=0).fit(
        zeros[:64]
    )
    captured = capsys.readouterr()
    assert "train_loss" in captured.out
    assert "it/s" in captured.err  # tqdm's progress bar
    # 64 samples cross-fit: the two silent trainings after the epoch table
    # looked like a hang (a new user's skcae fit)
    assert captured.out.rstrip().endswith(
        "calibration: training 2 more networks, each without one of 2 folds of "
        "the 64 samples; their scores of the folds they left out set the "
        "threshold"
    )


def test_verbose_zero_is_silent(zeros, tiny, capsys):
    ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


class Interrupt(Callback):
    """Simulates Ctrl-C in the given epoch."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("epoch", [1, 2])
def test_interrupt_propagates_and_leaves_the_estimator_unfitted(zeros, tiny, epoch):
    det = ConvAutoencoderOutlierDetector(**dict(tiny, max_epochs=3))
    det.fit(zeros)  # fitted before: a failed refit must not look fitted
    det.set_params(callbacks=[Interrupt(epoch)])
    with pytest.raises(KeyboardInterrupt):
        det.fit(zeros)
    assert not hasattr(det, "net_") and not hasattr(det, "offset_")


def test_interrupted_fit_caches_nothing(zeros, tiny, tmp_path):
    memory = joblib.Memory(tmp_path, verbose=0)
    det = ConvAutoencoderOutlierDetector(
        memory=memory, callbacks=[Interrupt(1)], **dict(tiny, max_epochs=3)
    )
    with pytest.raises(KeyboardInterrupt):
        det.fit(zeros)
    cached = [p for p in tmp_path.rglob("output.pkl")]
    assert cached == []


def test_diverging_loss_raises_and_suggests_lower_lr(zeros, tiny):
    det = ConvAutoencoderOutlierDetector(**dict(tiny, optimizer="sgd", lr=1e12))
    with pytest.raises(FloatingPointError, match="lower lr"):
        det.fit(zeros)


def test_divergence_names_the_other_settings_that_can_cause_it(digits):
    """AdamW with weight_decay=1e6, or noise_std=100, diverged at the default
    lr, and the message blamed lr and X alone (a hostile probe)."""
    X = digits[0][:60] / 16
    settings = dict(image_shape=(8, 8), channels=(4,), latent_dim=2, max_epochs=1)
    for bad, named in [
        (dict(optimizer="adamw", weight_decay=1e6), "weight_decay=1e+06"),
        (dict(noise_std=100.0), "noise_std=100"),
        (dict(noise_std=1e30), "noise_std=1e+30"),
    ]:
        det = ConvAutoencoderOutlierDetector(random_state=0, **settings, **bad)
        hint = f"lower lr.*also trained with {re.escape(named)}"
        with pytest.raises(FloatingPointError, match=hint):
            det.fit(X)
    with pytest.raises(FloatingPointError) as plain:  # lr alone: no such hint
        ConvAutoencoderOutlierDetector(random_state=0, lr=1e6, **settings).fit(X)
    assert "also trained with" not in str(plain.value)


class BlowUp(Callback):
    """Wrecks the weights after the last recorded loss."""

    def on_train_end(self, net, **kwargs):
        with torch.no_grad():
            for p in net.module_.parameters():
                p.mul_(1e4)


def test_divergence_after_the_last_batch_is_caught(zeros, tiny):
    """The message says the loss it quotes was recorded before the updates
    that wrecked the network ("the training loss went from 1.161 to 1.123"
    beside a final error of 2.441 puzzled a probe's user)."""
    det = ConvAutoencoderOutlierDetector(callbacks=[BlowUp()], **tiny)
    message = "Training diverged.*recorded before each update.*made the network worse"
    with pytest.raises(FloatingPointError, match=message):
        det.fit(zeros)


def test_fit_inside_inference_mode(zeros, tiny):
    with torch.inference_mode():
        det = ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
        scores = det.score_samples(zeros)
    assert np.isfinite(scores).all()


def test_validation_split_and_early_stopping(digits, tiny):
    X = digits[0][:300]
    det = ConvAutoencoderOutlierDetector(
        image_shape=(8, 8),
        validation_fraction=0.2,
        n_iter_no_change=2,
        **dict(tiny, max_epochs=50, lr=0.05),
    ).fit(X)
    assert len(det.history_["valid_loss"]) == det.n_iter_
    assert det.n_iter_ < 50  # stopped early with this noisy learning rate


def test_user_callbacks_run_and_are_not_modified(zeros, tiny):
    class CountEpochs(Callback):
        def __init__(self):
            self.count = 0

        def on_epoch_end(self, net, **kwargs):
            self.count += 1

    cb = CountEpochs()
    det = ConvAutoencoderOutlierDetector(callbacks=[cb], **tiny).fit(zeros)
    assert cb.count == 0  # the user's object is copied, not mutated
    used = [c for _, c in det.net_.callbacks_ if isinstance(c, CountEpochs)]
    assert [c.count for c in used] == [tiny["max_epochs"]]


@pytest.mark.parametrize(
    "callback", [EarlyStopping(), ("ckpt", Checkpoint(dirname="never-written"))]
)
def test_callbacks_monitoring_a_validation_score_need_held_out_rows(
    zeros, tiny, callback
):
    # skorch raised KeyError: "Key 'valid_loss' was not found in history."
    det = ConvAutoencoderOutlierDetector(callbacks=[callback], **tiny)
    no_rows = r"holds out no validation data \(X has 96 samples; below 300"
    with pytest.raises(ValueError, match=no_rows):
        det.fit(zeros)
    with pytest.raises(ValueError, match="validation_fraction=None"):
        ConvAutoencoder(callbacks=[callback], **tiny).fit(zeros)
    with pytest.raises(ValueError, match="calibration='cross_fit'"):
        det.set_params(calibration="cross_fit").fit(np.zeros((400, 4, 4)))
    # with rows held out they train
    det = ConvAutoencoderOutlierDetector(
        callbacks=[EarlyStopping(patience=1)], validation_fraction=0.25, **tiny
    ).fit(zeros)
    assert np.isfinite(det.history_["valid_loss"]).all()


def test_callbacks_memory_cannot_pickle_and_reserved_names_are_refused(
    zeros, tiny, tmp_path
):
    class Unpicklable(Callback):
        def __init__(self):
            self.rule = lambda epoch: epoch  # copied, but not pickled

    det = ConvAutoencoderOutlierDetector(
        callbacks=[Unpicklable()], memory=str(tmp_path), **tiny
    )
    with pytest.raises(ValueError, match="Unpicklable callback that cannot be pick"):
        det.fit(zeros)  # was joblib's PicklingError quoting the whole spec
    det.set_params(memory=None).fit(zeros)  # without a cache it trains

    class Locked(Callback):
        def __init__(self):
            self.lock = threading.Lock()

    det.set_params(callbacks=[Locked()])
    with pytest.raises(ValueError, match="Locked callback that cannot be copied"):
        det.fit(zeros)  # was deepcopy's TypeError
    for name in ["lr_schedule", "print_log", "divergence_guard"]:
        det.set_params(callbacks=[(name, Callback())])
        with pytest.raises(ValueError, match=f"named '{name}', a name the net"):
            det.fit(zeros)  # skorch: "Found duplicate user-set callback name"
    det.set_params(callbacks=[("mine", Callback())]).fit(zeros)
    # names of callbacks this fit's net does not add are the user's to take
    step = LRScheduler(policy="StepLR", step_size=1)
    det.set_params(lr_schedule="constant", callbacks=[("lr_schedule", step)])
    det.fit(zeros)
    stop = EarlyStopping(monitor="train_loss")
    det.set_params(callbacks=[("early_stopping", stop)]).fit(zeros)
    with pytest.raises(ValueError, match="named 'early_stopping'"):
        det.set_params(n_iter_no_change=2).fit(zeros)  # now the net's own


def test_a_learning_rate_scheduler_needs_the_constant_schedule(zeros, tiny):
    step = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    params = dict(tiny, max_epochs=3, lr=0.01, callbacks=[step])
    with pytest.raises(ValueError, match="lr_schedule='constant'"):
        ConvAutoencoderOutlierDetector(**params).fit(zeros)
    det = ConvAutoencoderOutlierDetector(lr_schedule="constant", **params).fit(zeros)
    rates = [group["lr"] for group in det.net_.optimizer_.param_groups]
    assert rates == [pytest.approx(0.01 * 0.5**3)]  # the user's rule alone


@pytest.mark.parametrize(
    "device, match",
    [
        ("gpu", "torch does not know"),
        ("meta", "meta device holds no data"),
        ("cuda:7", "CUDA|cuda"),
        ("tpu", "expected 'auto'"),
    ],
)
def test_bad_devices_are_clear_errors(device, match):
    if device == "cuda:7" and torch.cuda.device_count() > 7:  # pragma: no cover
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(ValueError, match=match):
        resolve_device(device)


def test_auto_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


def test_mixed_precision_runs_the_network_in_bfloat16(zeros, tiny):
    det = ConvAutoencoderOutlierDetector(mixed_precision=True, **tiny).fit(zeros)
    seen = []
    conv = det.net_.module_.encoder_conv[0]
    handle = conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    scores = det.score_samples(zeros)
    handle.remove()
    assert torch.bfloat16 in seen and np.isfinite(scores).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("mixed_precision", [False, True])
def test_cuda_training_and_scoring(zeros, tiny, mixed_precision):  # pragma: no cover
    det = ConvAutoencoderOutlierDetector(
        **dict(tiny, device="cuda", mixed_precision=mixed_precision)
    ).fit(zeros)
    assert det.net_.device == "cuda"
    assert np.isfinite(det.score_samples(zeros)).all()
