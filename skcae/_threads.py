"""How skcae computes on the CPU: worker threads of one intra-op thread each.

torch's CPU kernels split an operation across an OpenMP team that spins
while it waits for its slowest thread; beside a busy process that thread is
often descheduled and a fit becomes many times slower. GNU OpenMP's team
also does not survive ``fork``: a child that inherits one hangs in its
first parallel operation. And the way a team splits a reduction changes the
last bits of the result, so a fit would depend on the thread count.

skcae therefore never uses torch's intra-op threads. Each public call of an
estimator (``fit``, ``score_samples``, ``transform`` ...) enters
:func:`torch_threads` once, which decides its number of workers from
``n_jobs``:

* an int ``n`` >= 1 uses ``n`` workers, at most the CPUs this process may
  run on (``os.sched_getaffinity``); ``-1`` all those CPUs, ``-2`` all but
  one, and so on (at least one);
* ``None`` (the default) uses the CPUs this process may run on, at most the
  caller's ``torch.get_num_threads()`` (which honours ``OMP_NUM_THREADS``
  and ``torch.set_num_threads``), and at least one.

The calling thread is one worker; the others are threads of a pool created
for the call and shut down at its end. Every worker, the calling thread
included, runs torch with one intra-op thread, so no OpenMP team is created
(forks stay safe, and a worker waiting for its partner blocks instead of
spinning). The work is split in a way that does not depend on the number
of workers: each training batch into :func:`train_shards` shards whose
gradients are summed in shard order, each scoring block into chunks of
:func:`chunk_rows` rows. A fixed ``random_state`` therefore gives the same
bits with any ``n_jobs`` and any machine load.

The caller's ``torch.get_num_threads()`` is set to 1 for the call and
restored when it returns, in the caller's thread; torch's process-wide
default for threads started later is restored when the last overlapping
call returns. Nothing here holds a lock across I/O, and a forked child
starts with no call active.
"""

import contextlib
import numbers
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

#: Shards of each training batch: a constant, so that the gradient sums, and
#: with them the trained network, never depend on the number of workers.
TRAIN_SHARDS = 2
#: ... but only a batch of more than this many values is split: a step costs
#: a fixed few milliseconds of forward and backward calls plus a little per
#: value, so splitting a small batch doubles the fixed cost to save less
#: than it (timed by hand, two workers, ms per step with one shard vs two:
#: 8x8 images at batch 16 4.3 vs 5.1, 16x16 at 32 7.1 vs 8.4; level at 8x8
#: batch 128 and 28x28 batch 16; 28x28 at 128 29.4 vs 24.8).
SPLIT_ABOVE_VALUES = 8192
#: Rows of each scoring chunk (scoring pads its blocks to a multiple of it).
CHUNK_ROWS = 128
#: ... but a chunk holds at most this many input values (rows x values of a
#: sample; :func:`chunk_rows`): a chunk of 128 images of 256x256 pixels took
#: 570 MB and 1.6 s to score one image, 512x512 2.7 GB.
CHUNK_VALUES = 2**20


def chunk_rows(sample_values):
    """Rows of a scoring chunk of samples of ``sample_values`` values each:
    :data:`CHUNK_ROWS`, halved while the chunk would hold more than
    :data:`CHUNK_VALUES` values, at least one row. A function of a model's
    sample size alone, so that a model scores every row in chunks of one
    shape (28x28 images: 128 rows; 256x256: 16; 2048x2048: 1).

    >>> chunk_rows(28 * 28), chunk_rows(256 * 256), chunk_rows(3 * 2048**2)
    (128, 16, 1)
    """
    rows = CHUNK_ROWS
    while rows > 1 and rows * int(sample_values) > CHUNK_VALUES:
        rows //= 2
    return rows


_lock = threading.Lock()  # guards _active and _default; held only briefly
_active = 0  # calls inside torch_threads(), across threads
_default = None  # torch's default thread count before the first active call
_local = threading.local()  # .call: the _Call of this thread's public call


_exiting = set()  # native ids of joined threads of ours that may still run
_TASKS = "/proc/self/task"  # Linux: an entry per thread of this process


def _wait_gone(native_ids, timeout=2.0):
    """Wait (at most ``timeout`` s) until the OS threads ``native_ids``, joined
    already, have exited.

    ``Thread.join`` returns before a thread's thread-local destructors run,
    and MKL's (torch's BLAS: every thread of ours set torch's thread count,
    which sets MKL's) take its memory manager's lock there: a fork in that
    instant left the child spinning in its first matrix product, seen under
    load in ``test_a_fork_while_another_thread_fits_does_not_hang`` (the
    child's stack: ``sgemm``, ``mkl_serv_allocate``,
    ``mm_account_ptr_by_tid``). Linux lists a thread until it has exited.
    """
    if not os.path.isdir(_TASKS):
        return
    deadline = time.monotonic() + timeout
    for tid in list(native_ids):
        while os.path.exists(f"{_TASKS}/{tid}") and time.monotonic() < deadline:
            time.sleep(2e-5)
        _exiting.discard(tid)


def _before_fork():
    """A fork waits for threads of ours that are still exiting (see
    :func:`_wait_gone`), whichever thread forks."""
    _wait_gone(set(_exiting))


def _after_fork_in_child():
    """A forked child has only the forking thread: no call of another thread
    is active in it, and the lock may have been held by one."""
    global _lock, _active
    _lock = threading.Lock()
    _active = 0
    _exiting.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _allowed_cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))


def check_n_jobs(n_jobs):
    """ValueError unless ``n_jobs`` is None or a non-zero int; ``fit`` and
    every call check it (a fitted estimator given 0, 1.5 or True by
    ``set_params`` scored with one worker, and failed on "2" with a bare
    TypeError: a probe)."""
    valid = n_jobs is None or (
        isinstance(n_jobs, numbers.Integral)
        and not isinstance(n_jobs, (bool, np.bool_))
        and n_jobs != 0
    )
    if not valid:
        raise ValueError(
            f"Got n_jobs={n_jobs!r}, but expected None (the CPUs this process "
            "may use), a positive number of threads, or a negative one as in "
            "joblib: -1 for every CPU, -2 for all but one, ..."
        )


def resolve_n_workers(n_jobs, cap=None):
    """The number of workers for ``n_jobs`` (see the module docstring).

    ``cap`` is the caller's ``torch.get_num_threads()`` (read when None),
    which bounds ``n_jobs=None`` only.
    """
    check_n_jobs(n_jobs)
    cpus = len(_allowed_cpus())
    if n_jobs is None:
        if cap is None:
            cap = torch.get_num_threads()
        return int(max(1, min(cpus, cap)))
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return int(max(1, min(n_jobs, cpus)))


def _one_intra_op_thread():
    """A pool worker's initializer: torch with one intra-op thread.

    ``get_num_threads`` first runs torch's lazy per-thread setup (which
    would otherwise later reset the thread to the process-wide default).
    """
    torch.get_num_threads()
    torch.set_num_threads(1)


def _in_modes(grad, inference, fn, item):
    """``fn(item)`` under the caller's grad and inference modes (they are
    per thread in torch)."""
    with torch.inference_mode(inference), torch.set_grad_enabled(grad):
        return fn(item)


class _Call:
    """The workers of one public call: the calling thread plus a pool."""

    def __init__(self, n_workers):
        self.n_workers = n_workers
        self.pid = os.getpid()
        self._pool = None

    def map(self, fn, items):
        """``[fn(item) for item in items]``, computed by the workers.

        The calling thread computes items too (those no pool thread has
        started), so one worker needs no pool. Each result is computed by
        exactly one worker with one intra-op thread, so it does not depend
        on which one.
        """
        items = list(items)
        if self._pool is None or len(items) < 2 or os.getpid() != self.pid:
            return [fn(item) for item in items]
        modes = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())
        results = [None] * len(items)
        taken = iter(range(len(items)))  # each worker takes the next item
        lock = threading.Lock()
        failed = []

        def work():
            while not failed:
                with lock:
                    i = next(taken, None)
                if i is None:
                    return
                try:
                    results[i] = fn(items[i])
                except BaseException:
                    failed.append(True)
                    raise

        n_helpers = min(self.n_workers - 1, len(items) - 1)
        futures = [
            self._pool.submit(_in_modes, *modes, lambda _: work(), None)
            for _ in range(n_helpers)
        ]
        try:
            work()
        finally:
            for future in futures:  # none may touch the model after we return
                error = future.exception()
                if error is not None and not failed:
                    failed.append(True)
        for future in futures:
            if future.exception() is not None:
                raise future.exception()
        return results

    def start(self):
        """Start the pool's threads, each set to one intra-op thread."""
        if self.n_workers == 1:
            return
        n = self.n_workers - 1
        self._pool = ThreadPoolExecutor(
            n, thread_name_prefix="skcae-worker", initializer=_one_intra_op_thread
        )
        # one task per thread, all waiting for each other: every thread has
        # started (and run its initializer) when they are done
        barrier = threading.Barrier(n)
        for future in [self._pool.submit(barrier.wait, 60) for _ in range(n)]:
            future.result()

    def close(self):
        if self._pool is not None and os.getpid() == self.pid:
            ids = {t.native_id for t in getattr(self._pool, "_threads", ())}
            _exiting.update(ids)
            self._pool.shutdown(wait=True)
            _wait_gone(ids)
        self._pool = None


def current_call():
    """The :class:`_Call` of this thread's public call, or None."""
    call = getattr(_local, "call", None)
    return call if call is not None and call.pid == os.getpid() else None


def _in_a_new_thread(fn):
    """``fn()`` in a short-lived thread (one that torch has not set up yet)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()), name="skcae")
    thread.start()
    _exiting.add(thread.native_id)
    thread.join()
    _wait_gone({thread.native_id})
    return result[0]


def _default_threads():
    """torch's process-wide default thread count: what a new thread gets."""
    return _in_a_new_thread(torch.get_num_threads)


def _set_default_threads(n):
    """Set torch's process-wide default thread count to ``n``, leaving the
    calling thread's own count alone."""

    def run():
        torch.get_num_threads()  # torch's lazy set-up of the thread first
        torch.set_num_threads(n)

    _in_a_new_thread(run)


def no_ambient_autocast():
    """The caller's ``torch.autocast`` switched off for the call: it is per
    thread, so it reached the calling thread's share of the work and not
    the pool's, and results depended on ``n_jobs`` and on which worker took
    which piece (a probe: offsets of four equal fits under bfloat16
    autocast differed). ``mixed_precision`` enters skcae's own autocast."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.autocast("cpu", enabled=False))
    if torch.cuda.is_available():
        stack.enter_context(torch.autocast("cuda", enabled=False))
    return stack


@contextlib.contextmanager
def torch_threads(n_jobs, rows=None, chunk=CHUNK_ROWS):
    """Run the block as one public call with the workers of ``n_jobs``.

    ``rows``: the number of rows the call scores, where known; at most
    ``chunk`` (the model's :func:`chunk_rows`) are one chunk, which one
    worker computes, so the call starts no pool (scoring one image took 10
    ms with two workers, 6 with one, a pool started and joined for nothing).

    Yields the call's :class:`_Call`. A block nested in another of the same
    thread joins the outer call (one decision per public call). The
    calling thread runs torch with one intra-op thread inside the block,
    and gets its ``torch.get_num_threads()`` back at the end.

    ``torch.set_num_threads`` also sets the process-wide default that torch
    gives a thread when it first uses it (and that a thread which called
    ``set_num_threads`` before any other torch function falls back to).
    So each change made here is followed, under a lock held only for these
    settings, by restoring that default from a short-lived thread: threads
    outside skcae keep seeing the default they would see without it, except
    one that first uses torch in the moment between a change and its
    restoration (about the start of a thread, at the start and end of each
    call), which starts with one thread (a probe: 23% of threads spawned in
    a loop beside 300 short calls; the user guide says so).
    """
    global _active, _default
    outer = current_call()
    if outer is not None:
        yield outer
        return
    saved = torch.get_num_threads()  # (runs torch's set-up of this thread)
    n_workers = resolve_n_workers(n_jobs, cap=saved)
    call = _Call(1 if rows is not None and rows <= chunk else n_workers)
    _local.call = call
    try:
        with _lock:
            if _active == 0:
                _default = _default_threads()
            _active += 1
            try:
                torch.set_num_threads(1)
                call.start()
            finally:
                if _default != 1:
                    _set_default_threads(_default)
        with no_ambient_autocast():
            yield call
    finally:
        _local.call = None
        call.close()
        with _lock:
            _active = max(0, _active - 1)
            if saved != 1:
                torch.set_num_threads(saved)  # this thread's own count
                if _default != saved:
                    _set_default_threads(_default)


def train_shards(n_values):
    """The number of shards of a training batch of ``n_values`` values: a
    function of the batch alone (never of the workers), so the gradient
    sums do not depend on ``n_jobs``.

    >>> train_shards(16 * 8 * 8), train_shards(16 * 28 * 28)
    (1, 2)
    """
    return TRAIN_SHARDS if n_values > SPLIT_ABOVE_VALUES else 1


def map_items(fn, items):
    """``[fn(item) for item in items]`` by the current call's workers (one
    after the other outside a call); each result does not depend on which
    worker computed it."""
    return (current_call() or _Call(1)).map(fn, items)


def map_chunks(fn, model, x, context=contextlib.nullcontext, chunk=CHUNK_ROWS):
    """``fn(model, x)`` computed chunk by chunk by the current call's workers.

    A CPU tensor ``x`` is split into chunks of ``chunk`` rows
    whatever the number of workers (one after the other outside a call),
    each computed under ``context()`` (e.g. autocast, which is per thread)
    and the results (a tensor or a dict of tensors, one row per input row)
    are concatenated in order. Off the CPU it is ``fn(model, x)``.
    """

    def run(part):
        with context():
            return fn(model, part)

    if x.device.type != "cpu" or len(x) <= chunk:
        return run(x)
    call = current_call() or _Call(1)
    parts = call.map(run, x.split(chunk))
    if isinstance(parts[0], dict):
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    return torch.cat(parts)
