"""skcae._threads: torch's intra-op threads while estimators fit and score."""

import threading

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skcae import ConvAutoencoderOutlierDetector, _threads
from skcae._threads import LoadMonitor, resolve_n_threads, torch_threads


@pytest.fixture
def two_threads():
    """torch set to 2 threads for the test (the suite pins it to 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_explicit_counts():
    n_cpus = len(_threads._allowed_cpus())
    assert resolve_n_threads(1, cap=8) == 1
    # an explicit count ignores torch's setting, but never exceeds the CPUs
    assert resolve_n_threads(n_cpus, cap=1) == n_cpus
    assert resolve_n_threads(100 * n_cpus, cap=1) == n_cpus
    assert resolve_n_threads(-100 * n_cpus, cap=1) == 1
    assert resolve_n_threads(-1, cap=1) == n_cpus
    assert resolve_n_threads(-2, cap=1) == max(1, n_cpus - 1)


def test_auto_is_one_thread_when_torch_is_set_to_one():
    assert resolve_n_threads(None, cap=1) == 1


def test_auto_uses_the_idle_cpus_at_most_the_cap(monkeypatch):
    monkeypatch.setattr(_threads._monitor, "free_cpus", lambda: 1.2)
    assert resolve_n_threads(None, cap=4) == 1
    monkeypatch.setattr(_threads._monitor, "free_cpus", lambda: 7.9)
    assert resolve_n_threads(None, cap=4) == 4
    monkeypatch.setattr(_threads._monitor, "free_cpus", lambda: 0.0)
    assert resolve_n_threads(None, cap=4) == 1
    monkeypatch.setattr(_threads._monitor, "free_cpus", lambda: None)  # no /proc
    assert resolve_n_threads(None, cap=4) == 4


def test_load_monitor_subtracts_this_process(monkeypatch):
    """Busy CPU time of this process is not counted as another's."""
    samples = iter([(0.0, 100, 1000, 0.0), (1.0, 300, 1200, 2.0)])
    monitor = LoadMonitor()
    monitor.cpus = [0, 1]
    monkeypatch.setattr(monitor, "_sample", lambda: next(samples))
    monkeypatch.setattr(_threads.time, "sleep", lambda s: None)
    # 200 of 200 ticks busy on 2 CPUs, all of it our own 2 CPU-seconds
    assert monitor.free_cpus() == pytest.approx(2.0)


def test_load_monitor_sees_a_busy_neighbour(monkeypatch):
    samples = iter([(0.0, 100, 1000, 0.0), (1.0, 200, 1200, 0.0)])
    monitor = LoadMonitor()
    monitor.cpus = [0, 1]
    monkeypatch.setattr(monitor, "_sample", lambda: next(samples))
    monkeypatch.setattr(_threads.time, "sleep", lambda s: None)
    assert monitor.free_cpus() == pytest.approx(1.0)  # one CPU busy elsewhere


def test_load_monitor_on_this_machine_is_a_number_of_cpus():
    free = LoadMonitor().free_cpus()
    assert free is None or 0 <= free <= len(_threads._allowed_cpus())


def test_context_sets_and_restores(two_threads):
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_context_restores_after_an_error(two_threads):
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError
    assert torch.get_num_threads() == 2


class RecordThreads(Callback):
    """Records torch's thread count at each epoch (in a class attribute)."""

    seen = []

    def on_epoch_end(self, net, **kwargs):
        type(self).seen.append(torch.get_num_threads())


def test_fit_and_score_restore_the_callers_setting(two_threads, zeros, tiny):
    RecordThreads.seen = []
    det = ConvAutoencoderOutlierDetector(
        n_jobs=1, callbacks=[RecordThreads()], **tiny
    ).fit(zeros)
    assert RecordThreads.seen and set(RecordThreads.seen) == {1}
    assert torch.get_num_threads() == 2
    det.score_samples(zeros)
    assert torch.get_num_threads() == 2


def test_n_jobs_zero_is_refused(zeros, tiny):
    with pytest.raises(ValueError, match="n_jobs=0"):
        ConvAutoencoderOutlierDetector(n_jobs=0, **tiny).fit(zeros)


def test_concurrent_fits_restore_the_setting_once_all_are_done(
    two_threads, zeros, tiny
):
    errors = []

    def fit():
        try:
            ConvAutoencoderOutlierDetector(n_jobs=1, **tiny).fit(zeros)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert torch.get_num_threads() == 2
    assert _threads._active == 0


def test_scores_do_not_depend_on_the_thread_count(two_threads, zeros, tiny):
    det = ConvAutoencoderOutlierDetector(n_jobs=1, **tiny).fit(zeros)
    one = det.score_samples(zeros)
    det.set_params(n_jobs=2)
    np.testing.assert_allclose(det.score_samples(zeros), one, rtol=1e-5)
