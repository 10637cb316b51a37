"""How many threads torch may use while an estimator fits or scores.

torch's CPU kernels split every operation across an OpenMP team that spins
while it waits for its slowest thread. Beside another busy process on the
same cores, that slowest thread is often descheduled, and a fit becomes 5 to
18 times slower than with one thread (``benchmarks/contention.py``). The
estimators' ``n_jobs`` parameter therefore sets torch's intra-op threads for
the duration of ``fit`` and of scoring only, and restores the caller's
setting afterwards:

* an int ``n`` >= 1 uses ``n`` threads, at most the CPUs this process may
  run on (more threads than CPUs only queue behind each other); ``-1``
  all those CPUs, ``-2`` all but one, and so on (at least one);
* ``None`` (the default) uses the CPUs that other processes leave idle, at
  most torch's own setting (``torch.get_num_threads()``, which honours
  ``OMP_NUM_THREADS`` and ``torch.set_num_threads``), and at least one. It
  is measured from ``/proc/stat`` (Linux) over the time since the last
  measurement (at least 50 ms), once per public call of an estimator (its
  one :func:`torch_threads` entry). Where ``/proc/stat`` cannot be read it
  is torch's own setting.
"""

import contextlib
import os
import threading
import time

import torch

_MIN_WINDOW = 0.05  # seconds of CPU accounting needed for a measurement
_STALE = 10.0  # seconds after which the last measurement is not reused
_lock = threading.Lock()
_active = 0  # estimators inside torch_threads(), across threads
_saved = None  # the caller's torch.get_num_threads() while any is active


def _allowed_cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))


def _busy_jiffies(cpus):
    """Busy and total clock ticks of ``cpus`` so far, from /proc/stat."""
    wanted = {f"cpu{c}" for c in cpus}
    busy = total = 0
    with open("/proc/stat") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] in wanted:
                values = [int(v) for v in fields[1:9]]
                # user nice system idle iowait irq softirq steal
                total += sum(values)
                busy += sum(values) - values[3] - values[4]
    return busy, total


class LoadMonitor:
    """CPUs left idle by other processes, from /proc/stat and our own CPU time."""

    def __init__(self):
        self.cpus = _allowed_cpus()
        self._last = None  # (wall, busy, total, own cpu seconds)
        self._free = None

    def _sample(self):
        busy, total = _busy_jiffies(self.cpus)
        times = os.times()
        return time.monotonic(), busy, total, times.user + times.system

    def free_cpus(self):
        """CPUs other processes left idle since the last call (a float)."""
        try:
            now = self._sample()
        except (OSError, ValueError):
            return None
        last = self._last
        if last is None or now[0] - last[0] > _STALE:
            time.sleep(_MIN_WINDOW)
            last, now = now, self._sample()
        elif now[0] - last[0] < _MIN_WINDOW and self._free is not None:
            return self._free  # too short a window: keep the last answer
        d_total = now[2] - last[2]
        if d_total <= 0:
            return self._free
        busy_share = (now[1] - last[1]) / d_total  # of all our CPUs' time
        n = len(self.cpus)
        own = (now[3] - last[3]) / max(now[0] - last[0], 1e-9)
        others = max(0.0, busy_share * n - own)
        self._last, self._free = now, max(0.0, n - others)
        return self._free


_monitor = LoadMonitor()


def resolve_n_threads(n_jobs, cap=None):
    """The number of torch threads for ``n_jobs`` (see the module docstring)."""
    if cap is None:
        cap = torch.get_num_threads() if _saved is None else _saved
    if n_jobs is None:
        if cap <= 1:
            return 1
        with _lock:
            free = _monitor.free_cpus()
        if free is None:
            return cap
        return int(max(1, min(cap, round(free))))
    cpus = len(_allowed_cpus())
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return int(min(n_jobs, cpus))


@contextlib.contextmanager
def torch_threads(n_jobs):
    """Run the block with torch's intra-op threads set for ``n_jobs``.

    The caller's ``torch.get_num_threads()`` is restored when the last
    estimator running in any thread leaves the block.
    """
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = torch.get_num_threads()
        _active += 1
    try:
        torch.set_num_threads(resolve_n_threads(n_jobs))
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                torch.set_num_threads(_saved)
                _saved = None


def adapt_threads(n_jobs):
    """Re-measure the idle CPUs (``n_jobs=None``) and set torch's threads."""
    if n_jobs is None:
        torch.set_num_threads(resolve_n_threads(None))
