"""Files: the one atomic writer, the one checksum, the check that an output can be written and the folder lock.

Every file sslsan writes goes through :func:`atomic_write`: the content is written to a hidden temporary file in
the same folder and renamed into place, so a killed process leaves either the previous file or the new one,
never half of one. The helpers below are that writer for the usual payloads.

Commands check their outputs with :func:`check_writable` before any work (a wrong ``--out`` is a one-line error,
not a crash after minutes of computation), and a build or a run holds :func:`folder_lock` on its folder, so two
writers never interleave their files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sslsan.errors import LockedError, UsageError

LOCK_NAME = ".sslsan.lock"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was. The temporary name keeps the
    suffix (``.x.tmp.npz``), because some writers (numpy, PIL, soundfile) pick the format from it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary path, then rename it onto ``path``; returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_text_if_changed(path: str | os.PathLike, text: str) -> bool:
    """Write ``text`` unless the file already holds exactly it; ``True`` when it was written."""
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def write_json(path: str | os.PathLike, data: Any, **dumps: Any) -> Path:
    """JSON with one-space indentation and a final newline (``dumps`` go to :func:`json.dumps`)."""
    return write_text(path, json.dumps(data, indent=1, **dumps) + "\n")


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically: a killed run never leaves a truncated checkpoint."""
    import torch  # kept local: the data and metrics layers use this module without importing torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ before writing


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (what a ``mkdir -p`` would start from)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_writable(path: str | os.PathLike, what: str, *, folder: bool = True) -> Path:
    """Fail now, before any work, when ``path`` (a folder, or a file with ``folder=False``) cannot be written.

    ``what`` names it in the message (``"--out"``). Nothing is created: the check writes and removes a probe file
    in ``path`` or its nearest existing ancestor, which is the only test that also holds for root, read-only
    mounts and full disks. Returns ``path``.
    """
    path = Path(path).expanduser()
    if path.exists() and folder and not path.is_dir():
        raise UsageError(f"{what} {path}: exists and is not a folder")
    if path.is_dir() and not folder:
        raise UsageError(f"{what} {path}: is a folder; give a file name")
    base = _existing_ancestor(path if folder else path.parent)
    if not base.is_dir():
        raise UsageError(f"{what} {path}: {base} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=base, prefix=".sslsan-probe-")
    except OSError as err:
        raise UsageError(f"{what} {path}: cannot write into {base} ({err.strerror or err})") from err
    os.close(handle)
    os.unlink(probe)
    return path


# ------------------------------------------------------------------------------------------------- locks


def _holder(lock: Path) -> dict:
    """The lock file's record; ``{}`` when it cannot be read (its writer may be writing it right now)."""
    try:
        record = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _is_stale(holder: dict) -> bool:
    """Whether a lock's holder is known to be gone: a pid of this host that no longer runs. A lock of another
    host, or one that cannot be read, is never taken over (there is no way to tell)."""
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


def _locked_error(lock: Path, holder: dict) -> LockedError:
    if not holder:
        return LockedError(f"{lock}: locked by another sslsan command (its lock file is unreadable); wait for it, "
                           "or delete the lock if no sslsan command is running")
    return LockedError(f"{lock}: locked by pid {holder.get('pid')} on {holder.get('host')} since "
                       f"{holder.get('started')} ({holder.get('what')}); wait for it to finish or stop it")


def _acquire(lock: Path, what: str) -> None:
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                         "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    for _attempt in range(2):  # a second try only after removing a stale lock
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if not _is_stale(holder):
                raise _locked_error(lock, holder) from None
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as stream:
            stream.write(record)
        return
    raise _locked_error(lock, _holder(lock))  # another process took the stale lock over first


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold ``folder/.sslsan.lock`` (created with ``O_EXCL``: one holder at a time) while writing into ``folder``.

    A second writer gets :class:`~sslsan.errors.LockedError` naming the lock and its holder's pid; a lock left by
    a process of this host that is gone is taken over. ``what`` says who holds it (``"sslsan train"``). On exit
    the lock is removed, and so is ``folder`` when this call created it and nothing was written into it.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    _acquire(lock, what)
    try:
        yield lock
    finally:
        if _holder(lock).get("pid") == os.getpid():
            lock.unlink()
        if created and not any(folder.iterdir()):
            folder.rmdir()
