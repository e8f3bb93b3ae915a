"""Reading the containers the raw material ships in, with no tool beyond ``dpkg-deb`` and the standard library.

- Debian packages (``.deb``): ``dpkg-deb --fsys-tarfile`` streams the data tarball (it handles xz and zstd), and
  :func:`extract_deb` keeps only the members a predicate wants.
- GCompris Qt resource archives (``.rcc``, format versions 1–3, zlib-compressed entries): :func:`read_rcc`.
- The OpenSFX sound catalogue (``opensfx.cat``: an index of offset/size pairs, each entry a credit string followed
  by a RIFF wav): :func:`read_opensfx`.
- Credits: Debian machine-readable ``copyright`` files (:func:`parse_dep5`, :func:`dep5_lookup`) and the per-folder
  ``README`` credit blocks GCompris ships (:func:`parse_gcompris_readme`).
"""

from __future__ import annotations

import fnmatch
import struct
import subprocess
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from sslsan.errors import DataError


class ContainerError(DataError):
    """A package or archive that cannot be read; the message names the file and the problem."""


# ------------------------------------------------------------------------------------------------ .deb


def extract_deb(deb: Path, dest: Path, wanted: Callable[[str], bool]) -> list[str]:
    """Extract the members of ``deb`` whose path (without the leading ``./``) satisfies ``wanted``.

    Returns the extracted paths, relative to ``dest``. Only regular files are written; links are skipped.
    """
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise ContainerError(f"{deb.name}: `dpkg-deb` was not found; IS3+-mini's assets come from Debian/Ubuntu "
                             "packages, so it needs a Debian-based system (dpkg is part of every one)") from None
    extracted: list[str] = []
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile() or not wanted(name):
                    continue
                target = dest / name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                target.write_bytes(source.read())
                extracted.append(name)
    except tarfile.TarError as err:
        proc.kill()
        raise ContainerError(f"{deb}: not a readable Debian package ({err})") from err
    finally:
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = proc.wait()
    if code != 0:
        raise ContainerError(f"{deb}: dpkg-deb failed ({stderr.strip().splitlines()[-1] if stderr.strip() else code})")
    return extracted


# ------------------------------------------------------------------------------------------------ .rcc

_RCC_DIRECTORY = 0x02
_RCC_ZLIB = 0x01
_RCC_ZSTD = 0x04


def read_rcc(path: Path) -> dict[str, bytes]:
    """All files of a Qt binary resource archive, as ``{"/path/inside": bytes}``.

    Layout: a 20-byte header (``qres``, version, then offsets of the tree, data and name tables). Tree nodes are
    14 bytes (v1) or 22 bytes (v2+, with a modification time): name offset, flags, then either child count and
    first child (directories) or country, language and data offset (files). zlib-compressed data carries a
    4-byte big-endian uncompressed size before the zlib stream.
    """
    blob = Path(path).read_bytes()
    if blob[:4] != b"qres":
        raise ContainerError(f"{path}: not a Qt resource archive (no 'qres' magic)")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 14 if version == 1 else 22
    files: dict[str, bytes] = {}

    def node_name(offset: int) -> str:
        start = names + offset
        (length,) = struct.unpack(">H", blob[start:start + 2])
        return blob[start + 6:start + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        start = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[start:start + 6])
        name = node_name(name_offset) if index else ""
        if flags & _RCC_DIRECTORY:
            count, first = struct.unpack(">II", blob[start + 6:start + 14])
            for child in range(count):
                walk(first + child, f"{prefix}{name}/")
            return
        (data_offset,) = struct.unpack(">I", blob[start + 10:start + 14])
        begin = data + data_offset
        (size,) = struct.unpack(">I", blob[begin:begin + 4])
        raw = blob[begin + 4:begin + 4 + size]
        if flags & _RCC_ZSTD:
            raise ContainerError(f"{path}: entry {prefix}{name} is zstd-compressed, which is not supported")
        if flags & _RCC_ZLIB:
            raw = zlib.decompress(raw[4:])
        files[prefix + name] = raw

    try:
        walk(0, "")
    except (struct.error, zlib.error, UnicodeDecodeError) as err:
        raise ContainerError(f"{path}: damaged Qt resource archive ({err})") from err
    return files


# ------------------------------------------------------------------------------------------------ OpenSFX


@dataclass(frozen=True)
class SoundEntry:
    """One entry of ``opensfx.cat``: its index, the credit/licence text and the wav bytes (empty if unused)."""

    index: int
    credit: str
    wav: bytes


def read_opensfx(path: Path) -> list[SoundEntry]:
    """The entries of an OpenTTD sound catalogue.

    The file starts with (offset | 0x80000000, size) pairs, little-endian; the first offset also tells how many
    pairs there are. Each entry is a length byte, a NUL-terminated name (OpenSFX puts the full credit there), then
    a RIFF wav.
    """
    blob = Path(path).read_bytes()
    if len(blob) < 8:
        raise ContainerError(f"{path}: too short to be a sound catalogue")
    count = (struct.unpack("<I", blob[:4])[0] & 0x7FFFFFFF) // 8
    entries = []
    for index in range(count):
        offset, size = struct.unpack("<II", blob[8 * index:8 * index + 8])
        offset &= 0x7FFFFFFF
        if offset + size > len(blob) or size == 0:
            raise ContainerError(f"{path}: entry {index} points outside the file")
        name_length = blob[offset]
        credit = blob[offset + 1:offset + 1 + name_length].split(b"\0")[0].decode("latin-1")
        body = blob[offset + 1 + name_length:offset + size]
        riff = body.find(b"RIFF")
        entries.append(SoundEntry(index, credit.strip(), body[riff:] if riff >= 0 else b""))
    return entries


def opensfx_original(credit: str) -> str | None:
    """The freesound original(s) an OpenSFX entry was edited from (``Original "x.wav" by ...``), if named.

    Entries cut from the same original are one recording, whatever their name says.
    """
    marker = credit.find("riginal ")
    if marker < 0:
        return None
    rest = credit[marker + len("riginal "):]
    if not rest.startswith('"'):
        return None
    end = rest.find('"', 1)
    return rest[1:end] if end > 0 else None


# ------------------------------------------------------------------------------------------------ credits


@dataclass(frozen=True)
class Credit:
    """Who made a file and under which licence; ``source`` is an upstream address when known."""

    copyright: str
    license: str
    source: str = ""


def parse_dep5(text: str) -> list[tuple[list[str], Credit]]:
    """The ``Files:`` stanzas of a Debian machine-readable copyright file, in order (the last match wins)."""
    stanzas: list[tuple[list[str], Credit]] = []
    for block in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and current:
                fields[current].append(line.strip())
            elif ":" in line:
                current, value = line.split(":", 1)
                current = current.strip().lower()
                fields[current] = [value.strip()] if value.strip() else []
        if "files" not in fields:
            continue
        patterns = " ".join(fields["files"]).split()
        licence = (fields.get("license") or [""])[0]
        holders = "; ".join(v for v in fields.get("copyright", []) if v)
        comment = " ".join(fields.get("comment", []))
        source = next((word for word in comment.split() if word.startswith("http")), "")
        stanzas.append((patterns, Credit(holders, licence, source)))
    return stanzas


def dep5_lookup(stanzas: list[tuple[list[str], Credit]], path: str) -> Credit | None:
    """The credit of ``path`` under DEP-5 rules: the last stanza with a matching pattern.

    Packaged files are sometimes converted after the copyright file was written (GCompris ships ``sea1.jpg`` as
    ``sea1.webp``), so a pattern also matches when only the extension differs.
    """
    stem = str(PurePosixPath(path).with_suffix(""))
    found = None
    for patterns, credit in stanzas:
        for pattern in patterns:
            pattern_stem = str(PurePosixPath(pattern).with_suffix("")) if "." in PurePosixPath(pattern).name else None
            if fnmatch.fnmatchcase(path, pattern) or (pattern_stem and pattern_stem == stem):
                found = credit
    return found


def parse_gcompris_readme(text: str) -> dict[str, Credit]:
    """GCompris' per-folder credit blocks (``Copyright:``, ``License:``, ``Source:``, ``Files:`` + names)."""
    credits: dict[str, Credit] = {}
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        names: list[str] = []
        in_files = False
        for line in block.splitlines():
            line = line.strip()
            if not line:
                continue
            if in_files and ":" not in line:
                names.append(line)
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            in_files = key == "files"
            if in_files and value.strip():
                names.extend(value.split())
            elif not in_files:
                fields[key] = value.strip()
        if names and ("copyright" in fields or "license" in fields):
            credit = Credit(fields.get("copyright", ""), fields.get("license", ""), fields.get("source", ""))
            for name in names:
                credits[name] = credit
    return credits
