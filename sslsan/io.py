"""Files: the one atomic writer and the one checksum every module uses.

Every file sslsan writes goes through :func:`atomic_write`: the content is written to a hidden temporary file in
the same folder and renamed into place, so a killed process leaves either the previous file or the new one,
never half of one. The helpers below are that writer for the usual payloads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


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
