"""skcae._threads: the workers of a call, determinism, overlap and fork."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

from skcae import ConvAutoencoderOutlierDetector, _threads
from skcae._threads import map_chunks, resolve_n_workers, torch_threads


@pytest.fixture
def two_threads():
    """torch set to 2 threads by the caller (the suite pins it to 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


def parameters(det):
    return [p.detach().clone() for p in det.net_.module_.parameters()]


def assert_same_bits(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_explicit_counts():
    n_cpus = len(_threads._allowed_cpus())
    assert resolve_n_workers(1, cap=8) == 1
    # an explicit count ignores torch's setting, but never exceeds the CPUs
    assert resolve_n_workers(n_cpus, cap=1) == n_cpus
    assert resolve_n_workers(100 * n_cpus, cap=1) == n_cpus
    assert resolve_n_workers(-100 * n_cpus, cap=1) == 1
    assert resolve_n_workers(-1, cap=1) == n_cpus
    assert resolve_n_workers(-2, cap=1) == max(1, n_cpus - 1)


def test_default_is_the_cpus_at_most_the_callers_threads():
    n_cpus = len(_threads._allowed_cpus())
    assert resolve_n_workers(None, cap=1) == 1
    assert resolve_n_workers(None, cap=1000) == n_cpus
    assert resolve_n_workers(None, cap=0) == 1


def test_the_caller_computes_at_one_thread_and_gets_its_count_back(two_threads):
    with torch_threads(2) as call:
        assert call.n_workers == min(2, len(_threads._allowed_cpus()))
        assert torch.get_num_threads() == 1
        with torch_threads(1) as inner:  # a nested block joins the call
            assert inner is call
    assert torch.get_num_threads() == 2
    assert _threads._active == 0 and _threads.current_call() is None


def test_the_count_comes_back_after_an_error(two_threads):
    with pytest.raises(RuntimeError), torch_threads(2):
        raise RuntimeError
    assert torch.get_num_threads() == 2
    assert _threads._active == 0


def test_workers_compute_at_one_thread_in_the_callers_modes(two_threads):
    seen = []

    def fn(model, x):
        seen.append(
            (
                threading.current_thread().name,
                torch.get_num_threads(),
                torch.is_inference_mode_enabled(),
            )
        )
        return {"double": 2 * x, "same": x}

    x = torch.arange(4 * _threads.CHUNK_ROWS, dtype=torch.float32)
    with torch_threads(2), torch.inference_mode():
        out = map_chunks(fn, None, x)
    torch.testing.assert_close(out["double"], 2 * x)
    assert len(seen) == 4
    assert {threads for _, threads, _ in seen} == {1}
    assert all(inference for _, _, inference in seen)


def test_an_error_in_a_worker_reaches_the_caller(two_threads):
    def fn(model, x):
        if x[0] > 0:
            raise ValueError("chunk")
        return x

    x = torch.arange(3 * _threads.CHUNK_ROWS, dtype=torch.float32)
    with pytest.raises(ValueError, match="chunk"), torch_threads(2):
        map_chunks(fn, None, x)
    assert torch.get_num_threads() == 2


def test_fit_and_score_restore_the_callers_setting(two_threads, zeros, tiny):
    det = ConvAutoencoderOutlierDetector(n_jobs=2, **tiny).fit(zeros)
    assert set(det.net_.history[:, "torch_threads"]) == {
        min(2, len(_threads._allowed_cpus()))
    }
    assert torch.get_num_threads() == 2
    det.score_samples(zeros)
    assert torch.get_num_threads() == 2


def test_n_jobs_zero_is_refused(zeros, tiny):
    with pytest.raises(ValueError, match="n_jobs=0"):
        ConvAutoencoderOutlierDetector(n_jobs=0, **tiny).fit(zeros)


@pytest.mark.parametrize("sharded", [False, True], ids=["one-shard", "sharded"])
@pytest.mark.parametrize(
    "denoising", [{}, {"noise_std": 0.5, "mask_fraction": 0.2}], ids=["plain", "noise"]
)
def test_n_jobs_does_not_change_a_single_bit(
    two_threads, zeros, tiny, denoising, sharded, monkeypatch
):
    """A fixed random_state gives the same network and scores whatever the
    workers (and so whatever the machine's load decides for n_jobs=None),
    with each batch in one shard (small batches) or split between them."""
    if sharded:  # these tiny batches are otherwise too small to split
        monkeypatch.setattr(_threads, "SPLIT_ABOVE_VALUES", 0)
    params = dict(tiny, max_epochs=3, batch_size=30, **denoising)  # a short last batch
    one = ConvAutoencoderOutlierDetector(n_jobs=1, **params).fit(zeros)
    two = ConvAutoencoderOutlierDetector(n_jobs=2, **params).fit(zeros)
    default = ConvAutoencoderOutlierDetector(**params).fit(zeros)
    assert_same_bits(parameters(one), parameters(two))
    assert_same_bits(parameters(one), parameters(default))
    scores = one.score_samples(zeros)
    np.testing.assert_array_equal(two.score_samples(zeros), scores)
    two.set_params(n_jobs=1)
    np.testing.assert_array_equal(two.score_samples(zeros), scores)


def test_the_callers_thread_count_does_not_change_a_bit(zeros, tiny):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = ConvAutoencoderOutlierDetector(n_jobs=1, **tiny).fit(zeros)
        torch.set_num_threads(3)
        b = ConvAutoencoderOutlierDetector(n_jobs=1, **tiny).fit(zeros)
        np.testing.assert_array_equal(a.score_samples(zeros), b.score_samples(zeros))
    finally:
        torch.set_num_threads(before)
    assert_same_bits(parameters(a), parameters(b))


def test_overlapping_calls_leave_every_callers_setting(two_threads, zeros, tiny):
    """Four threads, each at its own count, fit and score at once; each gets
    its count back, and a thread started afterwards gets the default."""
    counts = [1, 2, 3, 2]
    seen, errors, results = [None] * 4, [], [None] * 4
    barrier = threading.Barrier(4)

    def work(i):
        try:
            # torch's lazy set-up of a new thread resets it to the process
            # default (which any set_num_threads changes): run it first
            torch.get_num_threads()
            torch.set_num_threads(counts[i])
            barrier.wait()
            det = ConvAutoencoderOutlierDetector(n_jobs=2, **tiny).fit(zeros)
            results[i] = det.score_samples(zeros)
            seen[i] = torch.get_num_threads()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert seen == counts
    assert torch.get_num_threads() == 2
    assert _threads._active == 0
    for scores in results[1:]:
        np.testing.assert_array_equal(scores, results[0])
    later = []
    t = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert later == [2]


FIT = """
import os, threading, numpy as np, torch
from skcae import ConvAutoencoderOutlierDetector, _threads
torch.set_num_threads(2)
X = np.random.RandomState(0).rand(128, 8, 8)
TINY = dict(channels=(4,), latent_dim=2, batch_size=32, device="cpu", random_state=0)
"""


def run_script(code, timeout=120):
    """Run ``FIT`` then ``code`` in a fresh interpreter; a hang fails the test
    (the timeout is the watchdog) instead of hanging the suite, and kills
    the interpreter's whole process group (hung fork children included)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FIT + textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # pragma: no cover - the bug
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung for {timeout} s:\n{out}\n{err}")
    assert proc.returncode == 0, out + err
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_a_fork_pool_after_a_default_fit_does_not_hang():
    out = run_script(
        """
        import multiprocessing
        det = ConvAutoencoderOutlierDetector(max_epochs=1, **TINY).fit(X)
        assert torch.get_num_threads() == 2

        def work(i):
            a = torch.ones(1000, 1000)
            return float(det.score_samples(X[:70]).sum() + (a @ a)[0, 0])

        with multiprocessing.get_context("fork").Pool(2) as pool:
            results = pool.map(work, range(4))
        assert len(set(results)) == 1, results
        print("ok")
        """
    )
    assert out.strip() == "ok"


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_a_fork_while_another_thread_fits_does_not_hang():
    """One thread fits (2 workers) while the main thread forks, once while
    that fit runs and once while a thread holds the module's lock; each
    child fits and scores, and gets its thread count back."""
    out = run_script(
        """
        from skorch.callbacks import Callback
        inside, forked = threading.Event(), threading.Event()

        class Pause(Callback):
            def on_batch_end(self, net, **kwargs):
                inside.set()
                forked.wait(60)

        def fit():
            ConvAutoencoderOutlierDetector(
                max_epochs=1, n_jobs=2, callbacks=[Pause()], **TINY
            ).fit(X)

        def child():
            det = ConvAutoencoderOutlierDetector(max_epochs=1, n_jobs=2, **TINY)
            det.fit(X).score_samples(X)
            a = torch.ones(500, 500)
            a @ a
            ok = torch.get_num_threads() == 2 and _threads._active == 0
            os._exit(0 if ok else 3)

        def fork_and_wait():
            pid = os.fork()
            if pid == 0:  # the child never returns into the parent's code
                try:
                    child()
                except BaseException:
                    import traceback

                    traceback.print_exc()
                os._exit(4)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status

        fitting = threading.Thread(target=fit)
        fitting.start()
        assert inside.wait(60)
        assert _threads._active == 1
        fork_and_wait()  # while the other thread is inside skcae
        forked.set()
        fitting.join()

        held, release = threading.Event(), threading.Event()

        def hold():
            with _threads._lock:
                held.set()
                release.wait()

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait()
        fork_and_wait()  # while another thread holds the module's lock
        release.set()
        holder.join()
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_only_batches_of_enough_values_are_split(monkeypatch):
    """Splitting a batch pays only where its per-value cost outweighs a
    second pass's fixed cost; the count depends on the net's batch size
    alone, never on the workers."""
    limit = _threads.SPLIT_ABOVE_VALUES
    assert _threads.train_shards(16 * 64) == 1  # 8x8 digits, batch 16
    assert _threads.train_shards(limit) == 1
    assert _threads.train_shards(limit + 1) == _threads.TRAIN_SHARDS
    assert _threads.train_shards(16 * 28 * 28) == _threads.TRAIN_SHARDS
    calls = []
    real = _threads.train_shards
    monkeypatch.setattr(
        "skcae._training.train_shards", lambda n: calls.append(n) or real(n)
    )
    ConvAutoencoderOutlierDetector(
        channels=(2,), latent_dim=2, max_epochs=1, batch_size=32, n_jobs=2
    ).fit(np.zeros((40, 28, 28)))
    # by the full batch, also for each epoch's short last one (8 of 40 images)
    assert calls and set(calls) == {32 * 28 * 28}


def test_the_default_schedule_on_small_images_trains_in_one_piece_and_alike(
    two_threads, digits, monkeypatch
):
    """With every default (batch_size="auto": 16 here), each batch of 8x8
    digits trains unsplit, the short last ones included, and n_jobs still
    changes no bit."""
    X = digits[0][digits[1] == 3][:60]
    calls = []
    real = _threads.train_shards
    monkeypatch.setattr(
        "skcae._training.train_shards", lambda n: calls.append(n) or real(n)
    )
    one = ConvAutoencoderOutlierDetector(random_state=0, n_jobs=1).fit(X)
    two = ConvAutoencoderOutlierDetector(random_state=0, n_jobs=2).fit(X)
    assert one.net_.batch_size == 16
    assert set(calls) == {16 * 64} and real(16 * 64) == 1
    assert_same_bits(parameters(one), parameters(two))
    np.testing.assert_array_equal(one.score_samples(X), two.score_samples(X))


def test_a_callers_autocast_changes_no_bit(two_threads, digits, tiny):
    """torch.autocast is per thread: a caller's bfloat16 autocast reached the
    calling thread's share of the work and not the pool's, so four equal
    fits gave three offsets and equal rows scored apart (a probe). The
    caller's own autocast is back after the call."""
    X, Xt = digits[0][:300] / 16, digits[0][300:400] / 16
    settings = dict(tiny, image_shape=(8, 8), batch_size=256, random_state=0)
    plain = ConvAutoencoderOutlierDetector(n_jobs=2, **settings).fit(X)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fits = [
            ConvAutoencoderOutlierDetector(n_jobs=n, **settings).fit(X)
            for n in (2, 1, 2)
        ]
        scores = plain.score_samples(np.concatenate([Xt] * 3))
        assert torch.is_autocast_enabled("cpu")
    for det in fits:
        assert det.offset_ == plain.offset_
        assert_same_bits(parameters(det), parameters(plain))
    np.testing.assert_array_equal(scores, np.tile(plain.score_samples(Xt), 3))
    # the defaults, as a user meets them (cross-fitted networks, n_jobs=None)
    default = ConvAutoencoderOutlierDetector(image_shape=(8, 8), random_state=0)
    plain = default.fit(X[:120]).offset_, default.score_samples(Xt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = default.fit(X[:120]).offset_, default.score_samples(Xt)
    assert under[0] == plain[0]
    np.testing.assert_array_equal(under[1], plain[1])


def test_a_float64_default_dtype_changes_no_bit(digits, tiny):
    """torch.set_default_dtype(torch.float64) in the caller made every fit
    fail ("Input type (float) and bias type (double)") and load refuse
    every file (a probe)."""
    import io

    import skcae

    X = digits[0][:200] / 16
    made = {
        "conv": lambda: ConvAutoencoderOutlierDetector(image_shape=(8, 8), **tiny),
        "default": lambda: ConvAutoencoderOutlierDetector(
            image_shape=(8, 8), random_state=0
        ),
        "dense": lambda: skcae.AutoencoderOutlierDetector(
            hidden_layer_sizes=(8,), latent_dim=3, max_epochs=1, random_state=0
        ),
    }
    plain = {name: make().fit(X) for name, make in made.items()}
    saved = io.BytesIO()
    skcae.save(plain["conv"], saved)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for name, make in made.items():
            det = make().fit(X)
            assert_same_bits(parameters(det), parameters(plain[name]))
            np.testing.assert_array_equal(
                det.score_samples(X), plain[name].score_samples(X)
            )
        saved.seek(0)
        loaded = skcae.load(saved)
        np.testing.assert_array_equal(
            loaded.score_samples(X), plain["conv"].score_samples(X)
        )
    finally:
        torch.set_default_dtype(before)


def test_an_invalid_n_jobs_set_after_fit_is_refused_by_every_call(zeros, tiny):
    """fit validates n_jobs, but a fitted detector given 0, 1.5 or True by
    set_params scored with one worker, and "2" raised a bare TypeError."""
    det = ConvAutoencoderOutlierDetector(**tiny).fit(zeros)
    for bad in (0, 1.5, True, np.bool_(True), "2"):
        det.set_params(n_jobs=bad)
        for method in (det.score_samples, det.predict, det.encode):
            with pytest.raises(ValueError, match=r"Got n_jobs=.*expected None"):
                method(zeros)
    det.set_params(n_jobs=-1)
    assert det.score_samples(zeros).shape == (len(zeros),)


def test_a_call_of_one_chunk_starts_no_pool(digits, tiny, monkeypatch):
    """At most CHUNK_ROWS rows are one chunk, which one worker computes: a
    pool started and joined for it made scoring one image take 10 ms
    instead of 6. More rows still get the workers, and every result is
    the same."""
    if len(_threads._allowed_cpus()) < 2:
        pytest.skip("one CPU: no call starts a pool")
    X = digits[0][:300] / 16
    det = ConvAutoencoderOutlierDetector(image_shape=(8, 8), n_jobs=2, **tiny).fit(X)
    pools = []
    real = _threads._Call.start
    monkeypatch.setattr(
        _threads._Call, "start", lambda call: pools.append(call.n_workers) or real(call)
    )
    rows = _threads.CHUNK_ROWS
    few = [det.score_samples(X[:1]), det.encode(X[:rows]), det.reconstruct(X[:5])]
    assert pools == [1, 1, 1]
    many = [det.score_samples(X), det.encode(X), det.reconstruct(X)]
    assert pools[3:] == [2, 2, 2]
    np.testing.assert_array_equal(few[0], many[0][:1])
    np.testing.assert_array_equal(few[1], many[1][:rows])
    np.testing.assert_array_equal(few[2], many[2][:5])


@pytest.mark.parametrize("side, channels", [(28, 8), (16, 32)])
def test_numpys_blas_thread_count_does_not_change_a_bit(tiny, side, channels):
    """joblib's workers (a GridSearchCV with n_jobs=2) and
    OPENBLAS_NUM_THREADS=1 run numpy's BLAS on one thread: the score's fit
    must give the same model as on the default threads. OpenBLAS splits
    its eigensolver's steps between its threads for the density term's
    features of 28x28 images (8 x 7 x 7), and then rounds otherwise; and
    scikit-learn's randomised PCA of wider ones (32 x 8 x 8) did too."""
    from threadpoolctl import threadpool_limits

    X = np.random.RandomState(0).rand(120, side, side)
    params = dict(tiny, channels=(channels,), n_jobs=1, lr=1e-3)
    default = ConvAutoencoderOutlierDetector(**params).fit(X)
    with threadpool_limits(limits=1, user_api="blas"):  # the default is more
        limited = ConvAutoencoderOutlierDetector(**params).fit(X)
    for name, term in default.scorer_.terms.items():
        for key, value in term.state_dict().items():
            other = limited.scorer_.terms[name].state_dict()[key]
            assert torch.equal(value, other), f"{name}.{key}"
    np.testing.assert_array_equal(default.score_samples(X), limited.score_samples(X))
