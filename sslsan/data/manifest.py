"""A dataset's manifest: the size and sha256 of every file, the test of whether a build is complete and intact.

``manifest.json`` is written last by a build (:func:`write_manifest`); :func:`damaged_files` compares the folder
with it, so a file that was deleted, cut short or altered after the build is named instead of being read as data.
Hidden files (the build journal, locks, temporary files of the atomic writer) are not part of a dataset. Datasets
built before the manifest existed have none: they are accepted without an integrity check.
"""

from __future__ import annotations

from pathlib import Path

from sslsan.data.is3 import MANIFEST_NAME, read_json
from sslsan.errors import DataError
from sslsan.io import sha256_file, write_json



def dataset_files(root: Path) -> list[str]:
    """Every regular file of a dataset (relative POSIX paths, sorted), hidden ones and the manifest left out."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.is_file() and path.name != MANIFEST_NAME
                  and not any(part.startswith(".") for part in path.relative_to(root).parts))


def write_manifest(root: str | Path) -> dict:
    """Record the size and sha256 of every file of ``root`` in ``root/manifest.json``; returns the record."""
    root = Path(root)
    files = {name: {"size": (root / name).stat().st_size, "sha256": sha256_file(root / name)}
             for name in dataset_files(root)}
    manifest = {"format": 1, "files": files}
    write_json(root / MANIFEST_NAME, manifest)
    return manifest


def damaged_files(root: str | Path, hashes: bool = True) -> dict[str, str] | None:
    """Files of the manifest that are missing, of another size or (with ``hashes``) of other content: name →
    problem; ``None`` when the dataset has no manifest (built before it existed: nothing to check)."""
    root = Path(root)
    if not (root / MANIFEST_NAME).is_file():
        return None
    manifest = read_json(root / MANIFEST_NAME)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise DataError(f"{root / MANIFEST_NAME}: not a dataset manifest (no 'files' object)")
    problems = {}
    for name, expected in files.items():
        path = root / name
        if not path.is_file():
            problems[name] = "missing"
        elif path.stat().st_size != expected["size"]:
            problems[name] = f"{path.stat().st_size} bytes, the manifest says {expected['size']}"
        elif hashes and sha256_file(path) != expected["sha256"]:
            problems[name] = "content changed: sha256 differs from the manifest"
    return problems


def check_dataset(root: str | Path, hashes: bool = True) -> None:
    """Raise :class:`DataError` naming the damaged files of ``root`` (up to five); no manifest: no check."""
    problems = damaged_files(root, hashes)
    if problems:
        listed = [f"{name} ({problem})" for name, problem in problems.items()]
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        raise DataError(f"{root}: {len(problems)} damaged file(s): {shown}; rebuild the dataset")
