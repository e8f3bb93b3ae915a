"""The public metadata files (box files and id lists on GitHub), pinned by commit and sha256, and the manifests.

The prepare scripts (``data_scripts/prepare_*.py``) make these files present in a dataset folder, from a local
copy (:func:`install_pinned`) or from raw.githubusercontent.com (:func:`fetch_pinned`, the only code that goes
online, through :data:`_urlopen`), and record what they did in ``<root>/sslsan_manifest.json``. The known
differences between the published files are described in the module of each format (:mod:`sslsan.data.vggss`,
:mod:`sslsan.data.flickr`, :mod:`sslsan.data.vggsound`). The media are never downloaded by sslsan
(:data:`SOURCES` says where they live).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from sslsan import __version__
from sslsan.data.lists import load_json
from sslsan.errors import DataError, SslsanError
from sslsan.io import sha256_file, write_bytes, write_text_if_changed

@dataclass(frozen=True)
class PinnedFile:
    """A metadata file from a public GitHub repository, pinned by commit and sha256.

    ``sha256`` is the pinned file's digest; ``equivalent`` lists digests of byte-different copies with the same
    content (e.g. SLAVC's ``flickr_test.csv``, which lacks the final newline). ``rows`` is the number of ids or
    entries it holds.
    """

    name: str
    repo: str
    commit: str
    path: str
    sha256: str
    rows: int
    about: str
    equivalent: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"

    @property
    def digests(self) -> tuple[str, ...]:
        return (self.sha256, *self.equivalent)


_EZVSL = ("stoneMo/EZ-VSL", "95ff5bff30191fed11856699a7669419fa59b356")
_SLAVC = ("stoneMo/SLAVC", "05b429c6f474ca6f1070d08e1d0142948d1625bf")
_SSLALIGN = ("kaistmm/SSLalignment", "e7ae3c5518e5a4d911c49e034d906612cf922aff")


def _pin(name: str, source: tuple[str, str], path: str, sha256: str, rows: int, about: str,
         equivalent: tuple[str, ...] = ()) -> PinnedFile:
    return PinnedFile(name, source[0], source[1], path, sha256, rows, about, equivalent)


PINNED: dict[str, PinnedFile] = {p.name: p for p in (
    _pin("vggss.json", _EZVSL, "metadata/vggss.json",
         "ae300b4a259267e6fe839970d495862edd70bfe3da63d925bcdb34054ed3b15e", 5158,
         "VGG-SS boxes (same file in LVS, SLAVC, SSL-Align)"),
    _pin("vggss_test.csv", _EZVSL, "metadata/vggss_test.csv",
         "971081929d45caf21a148a6ca968822d96e8316331d0cc0bafb1783acb4d2c35", 5158, "VGG-SS test ids"),
    _pin("vggss_heard_test.csv", _EZVSL, "metadata/vggss_heard_test.csv",
         "70a01c6828e7b84531823616ebb2e32e75bbaf5e44c715fa366b61111ab33c4e", 2564, "VGG-SS heard test ids"),
    _pin("vggss_unheard_test.csv", _EZVSL, "metadata/vggss_unheard_test.csv",
         "11883813db359df63e1a28f69bb53e1ceef7f5b8d68e0149de5792540acb9e17", 2575, "VGG-SS unheard test ids"),
    _pin("vggss_test_plus_silent.csv", _SLAVC, "metadata/vggss_test_plus_silent.csv",
         "905a009428e16d1108e5af112d8e682dbe1702a2ed897b3d56753ff587018e4e", 5158,
         "Extended VGG-SS negatives (379 same-clip, 4,779 mismatched)"),
    _pin("vggss_10k.txt", _EZVSL, "metadata/vggss_10k.txt",
         "9a19023b17aedc79001bbcb69ccd5c96f6af2f7b8ef1b12fa92a76050a0ae43e", 10_000, "VGGSound-10k training ids"),
    _pin("vggss_144k.txt", _EZVSL, "metadata/vggss_144k.txt",
         "a9a02f704e8bb2d746c43860e5830e7589e9311de5bd067459484ec5bb4bd529", 144_000, "VGGSound-144k training ids"),
    _pin("flickr_test.csv", _SSLALIGN, "metadata/flickr_test.csv",
         "238dbe3d91befda692b9b8a9a1a0c2e14b1642de0801c8459adf59ae7f11f268", 250,
         "Flickr-SoundNet test ids, 250 (SLAVC, SSL-Align)",
         ("e5c04bd722fc73a2daafcdafe9e10068d198c5df168300db4e05aa61b4ef71ed",)),  # SLAVC's copy (no final newline)
    _pin("flickr_test_249.csv", _SSLALIGN, "metadata/flickr_test_249.csv",
         "faf5465bdb991cfb7506ccadef64dfea9e9bceb47e895d0e4dbdc2a0ca622871", 249,
         "Flickr-SoundNet test ids, 249 (EZ-VSL/FNAC/LVS's flickr_test.csv, byte-identical)"),
    _pin("flickr_test_plus_silent.csv", _SLAVC, "metadata/flickr_test_plus_silent.csv",
         "45a0d32b64a9ef9e567d3eaf4a4a29683cdb0f7f4e1924a0e26cde24fa298643", 250,
         "Extended Flickr-SoundNet negatives (all mismatched)"),
    _pin("synthetic3240_bbox.json", _SSLALIGN, "metadata/synthetic3240_bbox.json",
         "fb0314fcc42e8bfdcfb24115e4cbbbbdfa2e0a53d59ca424c5308c0147ecde34", 6480,
         "IS3 boxes, 224-px, 6,480 annotations of 3,240 images"),
)}

DATASET_METADATA: dict[str, tuple[str, ...]] = {
    "vggss": ("vggss.json", "vggss_test.csv", "vggss_heard_test.csv", "vggss_unheard_test.csv",
              "vggss_test_plus_silent.csv"),
    "flickr": ("flickr_test.csv", "flickr_test_249.csv", "flickr_test_plus_silent.csv"),
    "vggsound": ("vggss_10k.txt", "vggss_144k.txt"),
    "is3": ("synthetic3240_bbox.json",),
}

SOURCES: dict[str, str] = {
    "vggss": "http://www.robots.ox.ac.uk/~vgg/research/lvs/",  # LVS project page: VGG-SS
    "vggsound": "https://www.robots.ox.ac.uk/~vgg/data/vggsound/",  # vggsound.csv: YouTube ids + start times
    "flickr": "https://github.com/ardasnck/learning_to_localize_sound_source",  # 5k annotated pairs (Senocak et al.)
    "soundnet": "http://soundnet.csail.mit.edu/",  # Flickr-SoundNet training videos
    "extended_flickr": "https://drive.google.com/file/d/1Z7mtXpml0gj2qUEIhFjWvBRryk4DRXot/view?usp=sharing",
    "extended_vggss": "https://drive.google.com/file/d/1dcaSyJ8xyfCPKmESDLyKucglm-1ROEOt/view?usp=sharing",
    "is3": "https://drive.google.com/file/d/1j-2sY6aJMS9kTpamaJM-4vg9eI-40VFB/view?usp=sharing",  # SSLalignment README
    "is3_previous": "https://drive.google.com/file/d/12jq7-Ke09ZPoUI1od44q97DNLrThoHc3/view?usp=sharing",
}
"""Where the media live (Google Drive / YouTube / project pages: downloaded by hand, never by sslsan)."""


class ChecksumError(DataError):
    """A file whose sha256 is not the pinned one."""


class DownloadError(SslsanError, RuntimeError):
    """A download that failed (typically: no internet); the message says how to get the file by hand."""


_urlopen = urllib.request.urlopen  # the one network entry point; the test suite replaces it and never goes online


def check_pinned(path: str | Path, name: str) -> str:
    """The sha256 of ``path`` if it is the pinned ``name`` (or a known equivalent copy); else :class:`ChecksumError`."""
    pinned = PINNED[name]
    actual = sha256_file(path)
    if actual not in pinned.digests:
        raise ChecksumError(f"{path}: sha256 {actual} is not the pinned {name} ({pinned.sha256}, "
                            f"{pinned.repo}@{pinned.commit[:7]}:{pinned.path}); replace it with the pinned file "
                            f"(the prepare scripts: --overwrite with --fetch-metadata or --metadata-dir)")
    return actual


def fetch_pinned(name: str, dest_dir: str | Path, *, timeout: float = 30.0, overwrite: bool = False) -> Path:
    """Download the pinned metadata file ``name`` from raw.githubusercontent.com into ``dest_dir`` (needs internet).

    Idempotent: a present file with the pinned sha256 is kept as is. A present file with another digest is a
    :class:`ChecksumError` unless ``overwrite``. The download is checked against the pinned sha256 before it is
    written (atomically). Offline or HTTP failures raise :class:`DownloadError` with the URL to fetch by hand.
    """
    pinned = PINNED[name]
    dest = Path(dest_dir) / name
    if dest.exists() and not overwrite:
        check_pinned(dest, name)
        return dest
    try:
        with _urlopen(pinned.url, timeout=timeout) as response:
            data = response.read()
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(f"could not download {pinned.url} ({err}). Without internet, download it elsewhere and "
                            f"put it at {dest}, or pass its folder with --metadata-dir; its sha256 must be "
                            f"{pinned.sha256}") from err
    actual = hashlib.sha256(data).hexdigest()
    if actual not in pinned.digests:
        raise ChecksumError(f"download of {pinned.url} has sha256 {actual}, expected {pinned.sha256}")
    write_bytes(dest, data)
    return dest


def install_pinned(name: str, source: str | Path, dest_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a local copy of the pinned file ``name`` into ``dest_dir`` after checking its sha256 (idempotent)."""
    source = Path(source)
    check_pinned(source, name)
    dest = Path(dest_dir) / name
    if dest.exists():
        if sha256_file(dest) == sha256_file(source):
            return dest
        if not overwrite:
            raise FileExistsError(f"{dest} exists and differs from {source}; pass overwrite to replace it")
    write_bytes(dest, source.read_bytes())
    return dest


@dataclass(frozen=True)
class MetadataStatus:
    """How :func:`obtain_metadata` got one file: ``present``, ``installed``, ``fetched`` or ``missing``."""

    name: str
    state: str
    sha256: str | None
    detail: str


def obtain_metadata(names: Iterable[str], dest_dir: str | Path, *, metadata_dir: str | Path | None = None,
                    fetch: bool = False, timeout: float = 30.0, overwrite: bool = False) -> list[MetadataStatus]:
    """Make the pinned files ``names`` present and verified in ``dest_dir``.

    For each file, in order: already in ``dest_dir`` (verified; with ``overwrite`` it is replaced when a source
    below is available) → copied from ``metadata_dir`` (verified) → downloaded when ``fetch`` (verified) →
    reported ``missing`` with its URL. A present file with a wrong digest raises :class:`ChecksumError`; a failed
    download raises :class:`DownloadError`.
    """
    statuses = []
    for name in names:
        pinned = PINNED[name]
        dest = Path(dest_dir) / name
        local = Path(metadata_dir) / name if metadata_dir is not None else None
        has_local = local is not None and local.is_file()
        if dest.exists() and not (overwrite and (has_local or fetch)):
            statuses.append(MetadataStatus(name, "present", check_pinned(dest, name), str(dest)))
        elif has_local:
            install_pinned(name, local, dest_dir, overwrite=overwrite)
            statuses.append(MetadataStatus(name, "installed", sha256_file(dest), f"copied from {local}"))
        elif fetch:
            fetch_pinned(name, dest_dir, timeout=timeout, overwrite=overwrite)
            statuses.append(MetadataStatus(name, "fetched", sha256_file(dest), pinned.url))
        else:
            statuses.append(MetadataStatus(name, "missing", None, f"get it from {pinned.url}"))
    return statuses


def metadata_manifest(dest_dir: str | Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {sha256, url, rows}}`` for the pinned files ``names`` present in ``dest_dir`` (for manifests)."""
    out = {}
    for name in sorted(names):
        path = Path(dest_dir) / name
        if path.is_file():
            pinned = PINNED[name]
            out[name] = {"sha256": sha256_file(path), "url": pinned.url, "rows": pinned.rows}
    return out


# ----------------------------------------------------------------------------------------------- manifests

MANIFEST_NAME = "sslsan_manifest.json"


def write_manifest(dest_root: str | Path, manifest: Mapping[str, Any]) -> bool:
    """Write ``<dest_root>/sslsan_manifest.json`` (sorted keys, no timestamps); ``False`` when already identical."""
    content = {"sslsan_version": __version__, **manifest}
    return write_text_if_changed(Path(dest_root) / MANIFEST_NAME,
                                 json.dumps(content, indent=1, sort_keys=True, default=str) + "\n")


def read_manifest(dest_root: str | Path) -> dict[str, Any]:
    """The manifest a prepare script wrote under ``dest_root``."""
    return load_json(Path(dest_root) / MANIFEST_NAME, "manifest")
