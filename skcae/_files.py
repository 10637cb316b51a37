"""Atomic file writes: a reader sees the old file or the whole new one.

:func:`atomic_write` writes into a temporary file in the target's folder,
flushes and fsyncs it, and renames it over the target with
:func:`os.replace`, which is atomic within a file system. On Linux the
temporary file is created unnamed (``O_TMPFILE``) and given a name only for
the rename, so a process killed while writing leaves nothing behind (but
in the instant between that naming and the rename); a write that fails
removes its temporary file. A temporary name carries the writer's host and
process id, and a later write of the same target removes the ones its host's
dead processes left. Concurrent writers each write their own temporary
file, and the last rename wins: the target is always one whole file.
"""

import contextlib
import os
import re
import secrets
import socket
import tempfile


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


def _temp_prefix(name):
    """``.<name>.<host>-<pid>-``: whose a temporary file of ``name`` is."""
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64]
    return f".{name}.{host}-{os.getpid()}-"


def _remove_stale_temps(folder, name):
    """Remove the temporary files of ``name`` in ``folder`` that processes of
    this host left when killed (their process is gone); never another
    host's, a live process's, or any other file."""
    prefix = _temp_prefix(name).rsplit("-", 2)[0] + "-"
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[0-9a-z_]+\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.listdir(folder):
            match = pattern.fullmatch(entry)
            if match is None or int(match.group(1)) == os.getpid():
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, entry))
            except (PermissionError, OverflowError, ValueError):
                pass  # another user's live process, or no such pid


def _link(fd, folder, name):
    """Give the unnamed file ``fd`` a new temporary name in ``folder``.

    ``linkat`` with ``AT_SYMLINK_FOLLOW`` (which ``os.link`` uses when given
    a ``dst_dir_fd``) links the file the ``/proc`` entry points to.
    """
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        while True:
            temp = f"{_temp_prefix(name)}{secrets.token_hex(8)}.tmp"
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


def atomic_write(path, write):
    """Write ``path`` with ``write(fileobj)``, atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write (replaced if it exists).
    write : callable
        Writes the content to the binary file object it is given.
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"Cannot write {path}: it is a folder; expected the path of a file "
            f"in it, e.g. {os.path.join(path, 'model.skcae')}."
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"Cannot write {path}: its folder {folder} does not exist; create it first."
        )
    _remove_stale_temps(folder, name)
    fd = _unnamed_file(folder)
    temp = None
    if fd is None:
        prefix = _temp_prefix(name)
        fd, temp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if temp is None:  # name the unnamed file, for the rename
                temp = _link(f.fileno(), folder, name)
        os.replace(temp, path)
    except BaseException:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    _fsync_folder(folder)
