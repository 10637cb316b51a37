"""Atomic file writes: a reader sees the old file or the whole new one.

:func:`atomic_write` writes into a temporary file in the target's folder,
flushes and fsyncs it, and renames it over the target with
:func:`os.replace`, which is atomic within a file system. On Linux the
temporary file is created unnamed (``O_TMPFILE``) and given a name only for
the rename, so a process killed while writing leaves nothing behind (but
in the instant between that naming and the rename); a write that fails
removes its temporary file. A writer holds an exclusive ``flock`` on its
temporary file, and a later write of the same target removes the
temporary files of that target that no process holds (those of killed
writers). Concurrent writers each write their own temporary file, and the
last rename wins: the target is always one whole file.
"""

import contextlib
import hashlib
import os
import re
import secrets
import stat
import tempfile
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, no cleanup
    fcntl = None


def _unnamed_file(folder):
    """A file descriptor of an unnamed file in ``folder``, or None where the
    platform or file system has no ``O_TMPFILE``."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError:  # e.g. a file system without O_TMPFILE support
        return None


def _lock(fd):
    """Hold an exclusive lock on the temporary file ``fd`` while it is
    written: a cleaner leaves locked temporary files alone."""
    if fcntl is not None:
        with contextlib.suppress(OSError):  # a file system without locks
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


#: A named temporary file (file systems without O_TMPFILE: ``.part``) exists
#: unlocked for an instant after its creation; a cleaner leaves it alone
#: until it is this many seconds old.
_PART_AGE = 60.0


def _remove_stale_temps(folder, name):
    """Remove the temporary files of ``name`` in ``folder`` that no writer
    holds: ``.name.*.tmp`` (an unnamed file, named for the rename: a writer
    killed in between leaves one) and ``.name.*.part`` older than
    ``_PART_AGE`` (a named temporary file of a killed writer). Live writers
    hold theirs locked; on a file system without locks nothing is removed."""
    if fcntl is None:
        return
    # only the names this module gives: 16 hex digits (.tmp), or mkstemp's
    # 8 characters (.part)
    pattern = re.compile(
        re.escape(f".{_stem(name)}.") + r"(?:[0-9a-f]{16}\.(tmp)|[0-9a-z_]{8}\.(part))"
    )
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        path = os.path.join(folder, entry)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue  # never open a FIFO (it would block) or a device
            flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(path, flags)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            if match.group(2) == "part" and now - info.st_mtime < _PART_AGE:
                continue  # perhaps a writer that has not locked it yet
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if held
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)
        except OSError:  # held by a live writer, or gone
            pass
        finally:
            os.close(fd)


def _stem(name):
    """``name`` in a temporary file's name: itself, or when long (more than
    200 bytes, where ``.name.<16 hex>.tmp`` would pass 255) a prefix of it
    and a hash of the whole."""
    raw = os.fsencode(name)
    if len(raw) <= 200:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return os.fsdecode(raw[:180]).rstrip("\udc80-\udcff") + "~" + digest


_UMASK_LOCK = threading.Lock()


def _umask():
    """The process umask, read without changing it where Linux tells it
    (``os.umask`` can only set it: another thread's file created between
    setting and restoring it would get mode 0o666)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _link(fd, folder, name):
    """Give the unnamed file ``fd`` a new temporary name in ``folder``.

    ``linkat`` with ``AT_SYMLINK_FOLLOW`` (which ``os.link`` uses when given
    a ``dst_dir_fd``) links the file the ``/proc`` entry points to.
    """
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        while True:
            temp = f".{_stem(name)}.{secrets.token_hex(8)}.tmp"
            try:
                os.link(f"/proc/self/fd/{fd}", temp, dst_dir_fd=folder_fd)
                return os.path.join(folder, temp)
            except FileExistsError:  # pragma: no cover - 64 random bits collided
                continue
    finally:
        os.close(folder_fd)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX; a no-op where folders cannot
    be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write, *, example="model.skcae"):
    """Write ``path`` with ``write(fileobj)``, atomically.

    A symbolic link is written through (its target is replaced, the link
    kept), and a file replaced keeps its permission bits (a 0o600 model
    stays private); a new one gets ``0o666`` less the umask.

    Parameters
    ----------
    path : str or path-like
        The file to write (replaced if it exists).
    write : callable
        Writes the content to the binary file object it is given.
    example : str, default="model.skcae"
        A file name the error for a folder ``path`` suggests.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.islink(path):
        path = os.path.realpath(path)
    folder, name = os.path.split(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Cannot write {path}: it is a folder; expected the path of a file "
            f"in it, e.g. {os.path.join(path, example)}."
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Cannot write {path}: its folder {folder} does not exist; create it first."
        )
    _remove_stale_temps(folder, name)
    fd = _unnamed_file(folder)
    temp = None
    if fd is None:
        stem = _stem(name)
        try:
            fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".part")
        except OSError as exc:  # its own message names the temporary file
            raise type(exc)(
                exc.errno, f"Cannot write {path}: {exc.strerror or exc}"
            ) from exc
    _lock(fd)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:  # a new file
        mode = 0o666 & ~_umask()
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    elif temp is not None:
        os.chmod(temp, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if temp is None:  # name the unnamed file, for the rename
                temp = _link(f.fileno(), folder, name)
            if fcntl is not None:  # renamed while still locked
                os.replace(temp, path)
        if fcntl is None:  # Windows renames no open file
            os.replace(temp, path)
    except BaseException:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    _fsync_folder(folder)
