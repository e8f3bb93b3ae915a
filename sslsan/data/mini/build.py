"""IS3+-mini: an offline IS3+-like dataset built from real recordings and photo cut-outs.

IS3+ (SSL-SaN's test set: IS3 scenes with two sounding objects, plus silence, noise and offscreen audio) is not
released, so the book runs on this stand-in, composed on the fly from the assets of
:mod:`sslsan.data.mini.assets`::

    root = ensure_dataset("default", seed=0)        # builds once, later calls return at once
    build_dataset("tiny", "out/", seed=1)            # explicit; `sslsan data build --preset tiny --out out/`

The splits, what is held out and why the objects have their size are described in :mod:`sslsan.data.mini.plan`.

Determinism and resumption
--------------------------
One seed drives everything: every item has its own generator ``(seed, split, index)``, so the output does not
depend on the number of worker processes. Items are written atomically and recorded in ``.build/`` as they
finish; a killed build continues where it stopped, an item whose files are on disk is not redone, and a folder
that holds another preset, seed or asset set is refused rather than mixed. Annotation files and
``dataset.json`` are byte-identical for the same seed (no timestamps).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import soundfile

from sslsan.config import check_seed, display_path, work_dir
from sslsan.data import is3
from sslsan.data.augment import AugmentConfig
from sslsan.data.manifest import damaged_files, write_manifest
from sslsan.data.mini.assets import ensure_assets
from sslsan.data.mini.attribution import AssetManifest
from sslsan.data.mini.plan import ItemPlan, Preset, SplitPlan, class_map_of, get_preset, plan_items, plan_splits
from sslsan.data.mini.render import WorkerContext, entry_files, render_items
from sslsan.protocol import COMPANION_SEEDS
from sslsan.data.records import AnnotationError
from sslsan.errors import DataError, UsageError
from sslsan.io import LOCK_NAME, atomic_write, check_writable, folder_lock, write_json, write_text

DATASET_NAME = "IS3+-mini"
IDENTITY_FILE = ".is3plus_mini.json"  # written first, kept: names the build a folder holds, even half-built


class DatasetMismatchError(AnnotationError, DataError):
    """The output folder holds another build (preset, seed or asset set); it is refused, not mixed."""


# ------------------------------------------------------------------------------------------------ identity


def _build_identity(preset: Preset, seed: int, asset_digest: str) -> dict:
    return {"name": DATASET_NAME, "format": is3.FORMAT_VERSION, "preset": preset.name, "seed": seed,
            "preset_config": _preset_config(preset), "assets_sha256": asset_digest}


def _preset_config(preset: Preset) -> dict:
    """The preset as plain JSON values (tuples become lists), as it is stored and compared."""
    return json.loads(json.dumps(asdict(preset)))


def _check_out_dir(out: Path, identity: dict) -> None:
    """Refuse a folder that holds anything but this very build (so two builds never mix)."""
    marker = out / IDENTITY_FILE
    if marker.is_file():
        found = json.loads(marker.read_text())
    elif (out / "dataset.json").is_file():
        info = json.loads((out / "dataset.json").read_text())
        found = info.get("extra", {}).get("identity", {"preset": info.get("preset"), "seed": info.get("seed")})
    elif out.is_dir() and any(path.name != LOCK_NAME for path in out.iterdir()):
        raise DatasetMismatchError(f"{out}: the folder is not empty and holds no IS3+-mini build; choose an empty "
                                   "or new folder")
    else:
        return
    if found != identity:
        differences = [key for key in ("preset", "seed", "preset_config", "assets_sha256", "format")
                       if found.get(key) != identity.get(key)]
        raise DatasetMismatchError(
            f"{out} holds an IS3+-mini build with preset={found.get('preset')!r} seed={found.get('seed')!r} "
            f"(differs in: {', '.join(differences) or 'identity'}); refusing to mix it with preset="
            f"{identity['preset']!r} seed={identity['seed']!r}: use another --out or delete that folder")


# ------------------------------------------------------------------------------------------------ resumption


def _index_of(image_path: str) -> int:
    return int(Path(image_path).stem.rsplit("_", 1)[-1])


def _load_records(out: Path) -> dict[tuple[str, int], list[dict]]:
    """Entries of items finished by an earlier run, keyed by (split, index): from the annotation files of a
    finished build (some of whose files may since have been deleted) and from the journal of a killed one."""
    records: dict[tuple[str, int], list[dict]] = {}
    for split in ("train", "val", "test"):
        path = out / "annotations" / f"{split}.json"
        if path.is_file():
            for entry in is3.read_json(path):
                records.setdefault((split, _index_of(entry["image"])), []).append(entry)
    if (out / "pretrain" / "annotations.json").is_file():
        for entry in is3.read_json(out / "pretrain" / "annotations.json").get("images", []):
            records[("pretrain", _index_of(entry["image"]))] = [entry]
    journal = out / ".build" / "items.jsonl"
    if journal.is_file():
        for line in journal.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a killed run may be cut short; that item is simply redone
            records[(record["split"], record["index"])] = record["entries"]
    return records


def _valid(out: Path, entries: list[dict]) -> bool:
    return all((out / path).is_file() for entry in entries for path in entry_files(entry))


def _copy_recordings(manifest: AssetManifest, out: Path) -> None:
    """Copy every cleaned recording into the dataset (``recordings/``): the trainer re-augments from them and the
    offscreen pools point at them."""
    for record in manifest.recordings:
        target = out / record["path"]
        source = manifest.path(record["path"])
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            continue
        atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


# ------------------------------------------------------------------------------------------------ build


def build_dataset(preset: str | Preset = "default", out: str | Path | None = None, seed: int = 0, *,
                  workers: int | None = None, progress: bool = True, log: Callable[[str], None] | None = None
                  ) -> Path:
    """Build (or finish building) IS3+-mini into ``out``; returns ``out``.

    ``workers`` processes draw the items (default: all cores); the result does not depend on it. Items already
    on disk from an earlier run with the same preset and seed are kept.
    """
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    preset = get_preset(preset)
    check_seed(seed, "dataset seed")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers={workers!r}: at least 1 process (None = all cores)")
    out = Path(out) if out is not None else default_out(preset.name, seed)
    check_writable(out, "dataset folder")  # before the assets, whose first fetch takes minutes
    with folder_lock(out, "sslsan data build"):
        return _build(preset, out, seed, workers, progress, log)


def _build(preset: Preset, out: Path, seed: int, workers: int | None, progress: bool,
           log: Callable[[str], None]) -> Path:
    if is_complete(out, preset, seed):  # a finished build is self-contained: no need to look at the assets
        log(f"IS3+-mini: {display_path(out)} is already complete")
        return out
    damaged = damaged_files(out) or {}
    if damaged:  # items are drawn from their own seeds: removed files are redrawn identically
        log(f"IS3+-mini: redrawing {len(damaged)} damaged file(s) of {display_path(out)}: "
            f"{', '.join(list(damaged)[:5])}")
        for name in damaged:
            (out / name).unlink(missing_ok=True)
    manifest = ensure_assets(log=log, class_map=class_map_of(preset).name)
    identity = _build_identity(preset, seed, manifest.digest)
    _check_out_dir(out, identity)
    write_json(out / IDENTITY_FILE, identity)
    (out / ".build").mkdir(exist_ok=True)
    started = time.perf_counter()

    plan = plan_splits(manifest, preset, seed)
    items = plan_items(manifest, plan, preset, seed)
    _copy_recordings(manifest, out)
    lengths = {path: soundfile.info(str(out / path)).frames for pool in plan.pools.values()
               for files in pool.values() for path in files}
    records = _load_records(out)
    todo = [item for split in items.values() for item in split
            if not ((item.split, item.index) in records and _valid(out, records[(item.split, item.index)]))]
    context = WorkerContext(manifest.root, out, preset, seed, plan.pools, lengths)

    journal = out / ".build" / "items.jsonl"
    if todo:
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        log(f"IS3+-mini: drawing {len(todo)} of {sum(map(len, items.values()))} items "
            f"({preset.name}, seed {seed}) with {workers} process(es) into {display_path(out)}")
        with open(journal, "a") as handle:
            for split, index, entries in render_items(todo, context, workers, progress):
                records[(split, index)] = entries
                handle.write(json.dumps({"split": split, "index": index, "entries": entries}) + "\n")
                handle.flush()
    _write_outputs(out, manifest, plan, items, records, preset, seed, identity)
    write_manifest(out)  # last: a build is complete when its manifest is there and every file matches it
    shutil.rmtree(out / ".build")
    log(f"IS3+-mini: {display_path(out)} ready ({time.perf_counter() - started:.0f} s)")
    return out


def _write_outputs(out: Path, manifest: AssetManifest, plan: SplitPlan, items: dict[str, list[ItemPlan]],
                   records: dict[tuple[str, int], list[dict]], preset: Preset, seed: int, identity: dict) -> None:
    """Annotations, pools, pretraining index, attribution, and ``dataset.json`` last (it marks completion)."""
    counts: dict[str, int] = {}
    parts: dict[str, int] = {}
    for split in ("train", "val", "test"):
        entries = [entry for item in items[split] for entry in records[(split, item.index)]]
        is3.write_split(out, split, entries)
        counts[split] = len(entries)
        counts[f"{split}_images"] = len(items[split])
        for entry in entries:
            if "part" in entry:
                parts[entry["part"]] = parts.get(entry["part"], 0) + 1
    write_json(out / "class_files_dict.json", plan.pools["test"])
    write_json(out / "class_files_dict_val.json", plan.pools["val"])
    pretrain_images = [entry for item in items["pretrain"] for entry in records[("pretrain", item.index)]]
    classes = class_map_of(preset).onscreen()
    groups = {name: manifest.groups(name) for name in classes}
    pretrain_audio = [{"recording": record["path"], "class": name, "recording_group": group}
                      for name in classes for group in plan.train_groups[name]
                      for record in groups[name][group]]
    write_json(out / "pretrain" / "annotations.json", {
        "classes": classes, "images": pretrain_images, "recordings": pretrain_audio,
        "augment": asdict(preset.train_augment)})
    counts["pretrain_images"] = len(pretrain_images)
    counts["pretrain_recordings"] = len(pretrain_audio)
    shutil.copytree(manifest.path("licenses"), out / "licenses", dirs_exist_ok=True)
    attribution = manifest.path("ATTRIBUTION.md").read_text()
    write_text(out / "ATTRIBUTION.md",
               "IS3+-mini images are composites of the sprites and background photos below; its clips are crops of "
               "the recordings below (speed, level, equaliser and noise-floor changes).\n\n" + attribution)
    info = is3.DatasetInfo(
        name=DATASET_NAME, classes=classes, preset=preset.name, seed=seed,
        image_size=preset.image_size, sample_rate=preset.sample_rate, clip_seconds=preset.clip_seconds,
        splits=counts,
        negatives={"silence": "zeros", "noise": {"distribution": "normal", "mean": 0.0, "std": preset.noise_level},
                   "noise_level": preset.noise_level, "noise_seed_key": "negatives.noise_seed",
                   "offscreen": {"test": "class_files_dict.json", "val": "class_files_dict_val.json",
                                 "excludes": "every class in the image"},
                   "fixed_draw_seed": seed, "redraw_seeds": list(COMPANION_SEEDS)},
        extra={"identity": identity, "parts": dict(sorted(parts.items())),
               "offscreen_classes": sorted({c for pool in plan.pools.values() for c in pool}
                                           - set(classes)),
               "assets": {"version": manifest.data["version"], "manifest_sha256": manifest.digest},
               "heldout": {"recording_groups": plan.heldout_groups, "sprites": plan.heldout_sprites,
                           "backgrounds": plan.test_backgrounds},
               "train": {"recording_groups": plan.train_groups, "sprites": plan.train_sprites,
                         "backgrounds": plan.train_backgrounds}})
    is3.write_info(out, info)


# ------------------------------------------------------------------------------------------------ entry points


def default_out(preset: str, seed: int, smoke: bool = False) -> Path:
    """Where :func:`ensure_dataset` keeps a build: ``work_dir()/is3plus_mini-<preset>-seed<seed>``."""
    return work_dir(smoke) / f"is3plus_mini-{preset}-seed{seed}"


def is_complete(out: str | Path, preset: str | Preset, seed: int) -> bool:
    """Whether ``out`` holds a finished build of ``preset``/``seed`` whose files all match its manifest (sizes and
    sha256), and every referenced file is present."""
    out, preset = Path(out), get_preset(preset)
    if not (out / "dataset.json").is_file() or (out / ".build").exists():
        return False
    if damaged_files(out):  # (None: a build from before the manifest, checked by file existence below)
        return False
    info = is3.read_info(out)
    if info.preset != preset.name or info.seed != seed or \
            info.extra.get("identity", {}).get("preset_config") != _preset_config(preset):
        return False
    for split in ("train", "val", "test"):
        if is3.missing_files(out, is3.read_queries(out, split)):
            return False
    pretrain = read_pretrain(out)
    return all((out / image["image"]).is_file() for image in pretrain.images)


def ensure_dataset(preset: str | Preset = "default", out: str | Path | None = None, seed: int = 0, *,
                   smoke: bool = False, workers: int | None = None, progress: bool = True) -> Path:
    """The dataset folder, built if needed (idempotent; a finished build returns after a quick file check).

    Without ``out`` it lives in :func:`default_out` (``smoke`` runs keep their own work folder).
    """
    preset = get_preset(preset)
    out = Path(out) if out is not None else default_out(preset.name, seed, smoke)
    if is_complete(out, preset, seed):
        return out
    # called from notebooks and experiments: the build's messages are ordinary output (stdout), not warnings
    return build_dataset(preset, out, seed, workers=workers, progress=progress,
                         log=lambda message: print(message, flush=True))


@dataclass(frozen=True)
class PretrainSet:
    """The labelled pretraining set: single-object images and class-labelled training recordings."""

    classes: list[str]
    images: list[dict]  # {"image", "class", "gt_box", "sprite", "background"}
    recordings: list[dict]  # {"recording", "class", "recording_group"}
    augment: AugmentConfig


def read_pretrain(root: str | Path) -> PretrainSet:
    """Read ``pretrain/annotations.json``; cut clips from the recordings with ``AudioAugment(set.augment)``."""
    path = Path(root) / "pretrain" / "annotations.json"
    data = is3.read_json(path)
    try:
        augment = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["augment"].items()})
        return PretrainSet(list(data["classes"]), list(data["images"]), list(data["recordings"]), augment)
    except (KeyError, TypeError) as err:
        raise AnnotationError(f"{path}: not an IS3+-mini pretraining index ({err})") from err
