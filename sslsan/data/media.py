"""Putting downloaded media where the readers expect them: index a download, plan the copies, place the files.

Used by the prepare scripts (``data_scripts/prepare_*.py``): a downloaded folder or archive (unpacked by
:func:`extract_archive`) is indexed (:func:`index_media`), the files of the listed ids are placed by copy, symlink or
hard link (:func:`organise_pairs`, :func:`organise_folders`; idempotent), and :func:`check_media` opens them.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import soundfile
from PIL import Image

from sslsan.data.records import Query, resolve
from sslsan.errors import DataError, MissingFileError, UsageError
from sslsan.io import atomic_write, write_text

MEDIA_LAYOUTS = ("frames-audio", "flat", "nested")
"""Source layouts :func:`index_media` understands: ``frames-audio`` (``frames/<id>.jpg`` + ``audio/<id>.wav``, the
lineage's), ``flat`` (both in one folder), ``nested`` (one level of sub-folders holding both, as the Flickr-SoundNet
download's ``Data/0`` … ``Data/9``)."""


def _index_folder(folder: Path, suffix: str, into: dict[str, Path]) -> None:
    for entry in os.scandir(folder):
        if entry.name.endswith(suffix) and entry.is_file():
            stem = entry.name[: -len(suffix)]
            if stem in into:
                raise FileExistsError(f"two files for id {stem}: {into[stem]} and {entry.path}")
            into[stem] = Path(entry.path)


def index_media(source: str | Path, layout: str, *, image_ext: str = ".jpg", audio_ext: str = ".wav"
                ) -> tuple[dict[str, Path], dict[str, Path]]:
    """``({id: image path}, {id: audio path})`` for the media found under ``source`` in the given layout.

    The id is the file name without its suffix. An id present twice (``nested``) is an error.
    """
    source = Path(source)
    if not source.is_dir():
        raise MissingFileError(f"source folder {source} does not exist")
    images: dict[str, Path] = {}
    audio: dict[str, Path] = {}
    if layout == "frames-audio":
        for sub, suffix, into in (("frames", image_ext, images), ("audio", audio_ext, audio)):
            if not (source / sub).is_dir():
                raise MissingFileError(f"{source / sub} does not exist (layout frames-audio expects frames/ and "
                                        f"audio/ under {source})")
            _index_folder(source / sub, suffix, into)
    elif layout == "flat":
        _index_folder(source, image_ext, images)
        _index_folder(source, audio_ext, audio)
    elif layout == "nested":
        for folder in sorted(p for p in source.iterdir() if p.is_dir()):
            _index_folder(folder, image_ext, images)
            _index_folder(folder, audio_ext, audio)
    else:
        raise UsageError(f"layout must be one of {MEDIA_LAYOUTS}, not {layout!r}")
    return images, audio


def plan_pairs(image_ids: Iterable[str], audio_ids: Iterable[str], images: Mapping[str, Path],
               audio: Mapping[str, Path], *, image_ext: str = ".jpg", audio_ext: str = ".wav"
               ) -> tuple[dict[str, Path], list[str]]:
    """A copy plan ``{relative destination: source}`` placing ``frames/<id><image_ext>`` and ``audio/<id>.wav``,
    and the sorted relative destinations whose source was not found."""
    plan: dict[str, Path] = {}
    missing = []
    for ids, found, folder, suffix in ((image_ids, images, "frames", image_ext),
                                       (audio_ids, audio, "audio", audio_ext)):
        for item in sorted(set(ids)):
            relative = f"{folder}/{item}{suffix}"
            if item in found:
                plan[relative] = Path(found[item])
            else:
                missing.append(relative)
    return plan, sorted(missing)


PLACE_MODES = ("copy", "symlink", "hardlink")


def place_file(source: str | Path, dest: str | Path, *, mode: str = "copy", overwrite: bool = False) -> bool:
    """Put ``source`` at ``dest`` by copy, symlink or hard link; ``False`` when ``dest`` already is that file.

    Idempotent: an identical copy, a symlink to ``source`` or a hard link to it is left alone. A different file
    at ``dest`` raises :class:`FileExistsError` unless ``overwrite``.
    """
    source, dest = Path(source), Path(dest)
    if mode not in PLACE_MODES:
        raise UsageError(f"mode must be one of {PLACE_MODES}, not {mode!r}")
    if not source.is_file():
        raise MissingFileError(f"{source} does not exist")
    if dest.exists() or dest.is_symlink():
        same = ((mode == "symlink" and dest.is_symlink() and dest.resolve() == source.resolve())
                or (mode == "hardlink" and dest.exists() and os.path.samefile(source, dest))
                or (mode == "copy" and not dest.is_symlink() and filecmp.cmp(source, dest, shallow=True)))
        if same:
            return False
        if not overwrite:
            raise FileExistsError(f"{dest} exists and is not {source} ({mode}); pass --overwrite to replace it")
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        atomic_write(dest, lambda tmp: shutil.copy2(source, tmp))  # a killed copy never looks like a placed file
    elif mode == "symlink":
        os.symlink(source.resolve(), dest)
    else:
        os.link(source, dest)
    return True


def place_files(plan: Mapping[str, Path], dest_root: str | Path, *, mode: str = "copy",
                overwrite: bool = False) -> tuple[int, int]:
    """Apply a plan ``{relative destination: source}`` under ``dest_root``; returns ``(placed, unchanged)``."""
    placed = unchanged = 0
    for relative, source in sorted(plan.items()):
        if place_file(source, Path(dest_root) / relative, mode=mode, overwrite=overwrite):
            placed += 1
        else:
            unchanged += 1
    return placed, unchanged


def _safe_member(name: str, archive: Path) -> None:
    parts = Path(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{archive}: refusing to extract {name!r} (absolute path or '..')")


def extract_archive(archive: str | Path, dest_dir: str | Path) -> Path:
    """Unpack a ``.zip`` or tar archive into ``dest_dir/<archive name>/`` and return that folder.

    The archive type is read from its content. Members with absolute paths or ``..`` are refused (and tar links
    are filtered with tarfile's ``data`` filter). Idempotent: a marker records the archive's size and modification
    time, and an unchanged archive is not unpacked again.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise MissingFileError(f"archive {archive} does not exist")
    target = Path(dest_dir) / archive.name.split(".")[0]
    marker = target / ".sslsan_extracted.json"
    stat = archive.stat()
    stamp = {"archive": archive.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return target
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                _safe_member(name, archive)
            bundle.extractall(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                _safe_member(member.name, archive)
            if hasattr(tarfile, "data_filter"):
                bundle.extractall(target, filter="data")
            else:  # Python without extraction filters: refuse links outright
                if any(member.issym() or member.islnk() for member in bundle.getmembers()):
                    raise DataError(f"{archive}: contains links; unpack it by hand")
                bundle.extractall(target)
    else:
        raise DataError(f"{archive} is neither a zip nor a tar archive")
    write_text(marker, json.dumps(stamp))
    return target


def find_folder_with(base: str | Path, names: Sequence[str], *, max_depth: int = 3) -> Path:
    """The unique folder at most ``max_depth`` levels under ``base`` (``base`` included) that contains every
    entry of ``names`` — e.g. the IS3 root inside an unpacked archive. None or several is an error. Hidden folders
    and macOS archive metadata (``__MACOSX``) are not searched."""
    base = Path(base)
    hits = []
    frontier = [base]
    for _ in range(max_depth + 1):
        hits.extend(folder for folder in frontier if all((folder / n).exists() for n in names))
        frontier = [child for folder in frontier for child in sorted(folder.iterdir())
                    if child.is_dir() and not child.name.startswith((".", "__MACOSX"))]
    if len(hits) != 1:
        found = "nothing" if not hits else ", ".join(map(str, hits))
        raise MissingFileError(f"expected one folder under {base} containing {list(names)}, found {found}")
    return hits[0]


@dataclass(frozen=True)
class OrganiseResult:
    """What :func:`organise_pairs` / :func:`organise_folders` did: files placed now, files already in place, and
    the relative destinations whose source was not found."""

    placed: int
    unchanged: int
    missing: tuple[str, ...]


def media_source(dest_root: str | Path, *, source: str | Path | None = None, archive: str | Path | None = None,
                 contains: Sequence[str] = ()) -> Path | None:
    """The folder to take downloaded media from: ``source``, or ``archive`` unpacked under
    ``<dest_root>/_downloads/`` (then the unique folder in it holding ``contains``, when given). ``None`` if neither."""
    if source is not None:
        return Path(source)
    if archive is None:
        return None
    unpacked = extract_archive(archive, Path(dest_root) / "_downloads")
    return find_folder_with(unpacked, contains) if contains else unpacked


def organise_pairs(media_dir: str | Path, layout: str, dest_root: str | Path, image_ids: Iterable[str],
                   audio_ids: Iterable[str], *, image_ext: str = ".jpg", extra: Mapping[str, Path] | None = None,
                   mode: str = "copy", overwrite: bool = False) -> OrganiseResult:
    """Place ``frames/<id><image_ext>`` and ``audio/<id>.wav`` (plus ``extra``: ``{relative destination: source}``)
    under ``dest_root`` from media found in ``media_dir`` (:func:`index_media` layout). Idempotent."""
    images, audio = index_media(media_dir, layout, image_ext=image_ext)
    plan, missing = plan_pairs(image_ids, audio_ids, images, audio, image_ext=image_ext)
    return _organise(plan, missing, extra, dest_root, mode, overwrite)


def organise_folders(folders: Mapping[str, Path], dest_root: str | Path, *, files: Mapping[str, Path] | None = None,
                     mode: str = "copy", overwrite: bool = False) -> OrganiseResult:
    """Place every file of each source folder under ``dest_root/<name>/`` (``folders``: ``{name: source folder}``)
    and single ``files`` (``{relative destination: source}``). Idempotent; absent sources are reported missing."""
    plan: dict[str, Path] = {}
    missing = []
    for name, folder in folders.items():
        folder = Path(folder)
        if not folder.is_dir():
            missing.append(f"{name}/")
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file() and not entry.name.startswith("."):
                plan[f"{name}/{entry.name}"] = Path(entry.path)
    return _organise(plan, missing, files, dest_root, mode, overwrite)


def _organise(plan: dict[str, Path], missing: list[str], files: Mapping[str, Path] | None, dest_root: str | Path,
              mode: str, overwrite: bool) -> OrganiseResult:
    """Add the single ``files`` to ``plan`` (absent ones to ``missing``), place everything, and say what was done."""
    for relative, path in (files or {}).items():
        if Path(path).is_file():
            plan[relative] = Path(path)
        else:
            missing.append(relative)
    placed, unchanged = place_files(plan, dest_root, mode=mode, overwrite=overwrite)
    return OrganiseResult(placed, unchanged, tuple(sorted(missing)))


def check_media(root: str | Path, queries: Iterable[Query]) -> list[str]:
    """Media of ``queries`` that cannot be opened: images through PIL (``verify``), audio through soundfile
    (``info``). Returns ``"<path>: <problem>"`` lines; the prepare scripts run it with ``--check-media``."""
    problems = []
    seen: set[str] = set()
    for query in queries:
        for relative, kind in ((query.image, "image"), (query.audio, "audio"), (query.mask, "image")):
            if relative is None or relative in seen:
                continue
            seen.add(relative)
            path = resolve(root, relative)
            try:
                if kind == "image":
                    with Image.open(path) as image:
                        image.verify()
                else:
                    soundfile.info(str(path))
            except Exception as err:  # noqa: BLE001 - any failure to open is reported, with its reason
                problems.append(f"{relative}: {type(err).__name__}: {err}")
    return problems
