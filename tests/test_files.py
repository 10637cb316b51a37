"""skcae._files: save and to_onnx never leave a half-written file.

A write goes to a temporary file in the target's folder, is fsynced and
renamed over the target; a failed or killed write leaves the old file and
no temporary file, concurrent writers leave one whole file, and readers
see the old file or the new one.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile

import numpy as np
import pytest
from _settings import TINY

import skcae
from skcae import ConvAutoencoderOutlierDetector, _files


@pytest.fixture(scope="module")
def detectors(digits):
    X = digits[0]
    make = ConvAutoencoderOutlierDetector
    return [
        make(image_shape=(8, 8), **{**TINY, "random_state": seed}).fit(X[:60])
        for seed in (0, 1)
    ]


def _only(folder, name):
    assert sorted(os.listdir(folder)) == [name]  # no temporary file left


@pytest.fixture(params=["unnamed", "named"])
def temp_kind(request, monkeypatch):
    """Both ways of writing: Linux's unnamed O_TMPFILE, and a named temp file."""
    if request.param == "named":
        monkeypatch.setattr(_files, "_unnamed_file", lambda folder: None)
    return request.param


def test_atomic_write_replaces_the_file(tmp_path, temp_kind):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    _files.atomic_write(path, lambda f: f.write(b"new content"))
    assert path.read_bytes() == b"new content"
    _only(tmp_path, "a.bin")
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_a_link_is_written_through_and_a_private_file_stays_private(
    tmp_path, temp_kind
):
    """Saving over model.skcae, a link, replaced the link with a file (its
    target stale), and a 0o600 file became 0o644 (a hostile probe)."""
    target = tmp_path / "target.skcae"
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "model.skcae"
    link.symlink_to(target)
    _files.atomic_write(link, lambda f: f.write(b"new"))
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(os.listdir(tmp_path)) == ["model.skcae", "target.skcae"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, temp_kind):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def fail(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        _files.atomic_write(path, fail)
    assert path.read_bytes() == b"old"
    _only(tmp_path, "a.bin")


def test_a_failed_save_leaves_the_old_model(detectors, digits, tmp_path, monkeypatch):
    path = tmp_path / "det.skcae"
    skcae.save(detectors[0], path)
    expected = detectors[0].score_samples(digits[0][:20])

    def disk_full(self, name, data, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full)
    with pytest.raises(OSError, match="No space left"):
        skcae.save(detectors[1], path)
    monkeypatch.undo()
    np.testing.assert_array_equal(
        skcae.load(path).score_samples(digits[0][:20]), expected
    )
    _only(tmp_path, "det.skcae")


def test_concurrent_writers_and_readers(detectors, digits, tmp_path, temp_kind):
    """Four writers of two models (three saves each), one reader: every load
    succeeds and gives one of the two models; the last file is whole."""
    path = tmp_path / "det.skcae"
    skcae.save(detectors[0], path)
    X = digits[0][:10]
    expected = [d.score_samples(X) for d in detectors]
    errors, loads, done = [], [], threading.Event()

    def write(i):
        try:
            for _ in range(3):
                skcae.save(detectors[i % 2], path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read():
        while not done.is_set():
            try:
                scores = skcae.load(path).score_samples(X)
                loads.append(any(np.array_equal(scores, e) for e in expected))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    assert errors == [] and loads and all(loads)
    skcae.load(path)
    _only(tmp_path, "det.skcae")


_SAVER = textwrap.dedent(
    """
    import sys
    import skcae
    det = skcae.load(sys.argv[1])
    print("ready", flush=True)
    while True:
        skcae.save(det, sys.argv[2])
    """
)


@pytest.mark.slow
def test_killing_a_saving_process_never_corrupts_the_file(detectors, tmp_path):
    """SIGKILL at random moments of a process that saves in a loop over a
    good file: the file always loads, and no temporary file is left after
    the next save (a kill in the instant between naming the unnamed
    temporary file and the rename leaves it; the next write removes it)."""
    source = tmp_path / "source.skcae"
    skcae.save(detectors[1], source)
    target = tmp_path / "target" / "det.skcae"
    target.parent.mkdir()
    skcae.save(detectors[0], target)
    rng = np.random.RandomState(0)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(source), str(target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        skcae.load(target)  # the old model or a new one, whole
        skcae.save(detectors[0], target)
        _only(target.parent, "det.skcae")


def test_writing_to_a_folder_or_into_a_missing_one_says_so(detectors, tmp_path):
    with pytest.raises(IsADirectoryError, match=r"is a folder; expected the path"):
        skcae.save(detectors[0], tmp_path)
    with pytest.raises(FileNotFoundError, match=r"folder .*missing does not exist"):
        skcae.save(detectors[0], tmp_path / "missing" / "det.skcae")
    assert os.listdir(tmp_path) == []


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """SIGKILL between naming the temporary file and the rename leaves it,
    unlocked; the next write of the target removes it, but not a temporary
    file a live writer holds locked, another target's, a symbolic link or
    any other file."""
    fcntl = pytest.importorskip("fcntl")
    stale = tmp_path / ".a.bin.0123456789abcdef.tmp"
    live = tmp_path / ".a.bin.fedcba9876543210.tmp"
    other = tmp_path / ".b.bin.0123456789abcdef.tmp"
    note = tmp_path / ".a.bin.notes"
    for path in (stale, live, other, note):
        path.write_bytes(b"half")
    link = tmp_path / ".a.bin.abcdef0123456789.tmp"
    link.symlink_to(note)
    # named temporary files (no O_TMPFILE): unlocked for an instant after
    # their creation, so only old ones are removed
    old_part, new_part = (
        tmp_path / ".a.bin.k3j_x9qz.part",
        tmp_path / ".a.bin.p0p0p0p0.part",
    )
    for path in (old_part, new_part):
        path.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    os.utime(old_part, (an_hour_ago, an_hour_ago))
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        _files.atomic_write(tmp_path / "a.bin", lambda f: f.write(b"new"))
    assert sorted(os.listdir(tmp_path)) == sorted(
        p.name for p in (tmp_path / "a.bin", live, other, note, link, new_part)
    )
    assert (tmp_path / "a.bin").read_bytes() == b"new"


def test_many_concurrent_writers_of_named_temporary_files_all_succeed(
    detectors, tmp_path, monkeypatch
):
    """Without O_TMPFILE a temporary file is named, and unlocked, for an
    instant after its creation: another writer's cleanup once deleted it
    there (4 of 180 saves failed with FileNotFoundError)."""
    monkeypatch.setattr(_files, "_unnamed_file", lambda folder: None)
    path = tmp_path / "det.skcae"
    errors = []

    def write():
        for _ in range(30):
            try:
                skcae.save(detectors[0], path)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _only(tmp_path, "det.skcae")


@pytest.mark.parametrize("n_bytes", [234, 255])
def test_names_up_to_the_file_system_limit_can_be_written(tmp_path, temp_kind, n_bytes):
    """The temporary file's name holds a short stem of a long target name
    (``.name.<16 hex>.tmp`` passed 255 bytes from 234 on)."""
    path = tmp_path / ("m" * (n_bytes - 6) + ".skcae")
    _files.atomic_write(path, lambda f: f.write(b"new"))
    _files.atomic_write(path, lambda f: f.write(b"newer"))
    assert path.read_bytes() == b"newer"
    _only(tmp_path, path.name)


def test_the_cleanup_never_opens_a_fifo_named_like_a_temporary_file(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: a FIFO named
    like a killed writer's file once hung every save of the target."""
    fifo = tmp_path / ".a.bin.0123456789abcdef.tmp"
    os.mkfifo(fifo)
    done = threading.Event()
    writer = threading.Thread(
        target=lambda: (
            _files.atomic_write(tmp_path / "a.bin", lambda f: f.write(b"new")),
            done.set(),
        ),
        daemon=True,
    )
    writer.start()
    writer.join(timeout=10)
    hung = not done.is_set()
    if hung:  # unblock the hung open, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        writer.join(timeout=10)
    assert not hung
    assert sorted(os.listdir(tmp_path)) == sorted(["a.bin", fifo.name])


def test_the_cleanup_leaves_user_files_that_only_look_temporary(tmp_path):
    """Only names this module gives are removed: `.a.bin.backup.tmp` is a
    user's file, `.a.bin.<16 hex>.tmp` a killed writer's."""
    kept = [".a.bin.backup.tmp", ".a.bin.old.tmp", ".a.bin.v2.part"]
    stale = [".a.bin.0123456789abcdef.tmp", ".a.bin.abcd_123.part"]
    an_hour_ago = time.time() - 3600
    for name in kept + stale:
        (tmp_path / name).write_bytes(b"user data")
        os.utime(tmp_path / name, (an_hour_ago, an_hour_ago))
    _files.atomic_write(tmp_path / "a.bin", lambda f: f.write(b"new"))
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "a.bin"])


def test_named_temporary_files_take_the_umask_without_changing_it(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(_files, "_unnamed_file", lambda folder: None)
    before = _umask()
    _files.atomic_write(tmp_path / "a.bin", lambda f: f.write(b"new"))
    assert _umask() == before == _files._umask()
    assert oct((tmp_path / "a.bin").stat().st_mode & 0o777) == oct(0o666 & ~before)
