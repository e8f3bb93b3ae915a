"""IS3+-mini: an offline IS3+-like dataset built from real recordings and photo cut-outs.

IS3+ (SSL-SaN's test set: IS3 scenes with two sounding objects, plus silence, noise and offscreen audio) is not
released, so the book runs on this stand-in, composed on the fly from the assets of :mod:`sslsan.data.assets`::

    root = ensure_dataset("default", seed=0)        # builds once, later calls return at once
    build_dataset("tiny", "out/", seed=1)            # explicit; `sslsan data build --preset tiny --out out/`

Splits (``part`` marks the test subsets)
----------------------------------------
- **train**: 1–3 objects per image, one of them sounding; the entry pairs the image with a 3 s augmented clip of
  that object's recording. ``recording`` (a cleaned 16 kHz copy under ``recordings/``) and ``recording_group``
  let the trainer re-augment the same recording every epoch (:class:`sslsan.data.augment.AudioAugment`).
- **val**: drawn like train (training recordings, sprites and backgrounds; lightly treated clips) with fixed
  negatives from its own offscreen pool (``class_files_dict_val.json``). Model selection and threshold fitting use
  it, never test.
- **test**: IS3-style: two objects of different classes, each with its own mask, box and 3 s clip (two queries
  per image), on held-out background photos. ``unseen``: recording groups and sprite instances never used in
  train/val/pretrain (classes with a single sprite reuse it; ``objects[].sprite_heldout`` says so); ``seen``:
  training groups and sprites, new crops; ``style``: Noto emoji sprites with training recordings (a visual
  domain shift). Every query carries fixed negatives: an offscreen clip (a class absent from the image, from
  ``class_files_dict.json``) and a ``noise_seed``; :func:`sslsan.data.negatives_pool.draw_negatives` re-draws
  them for the paper's 10 seeds.
- **pretrain** (``pretrain/annotations.json``, :func:`read_pretrain`): single-object labelled images (training
  sprites on training backgrounds) and the class-labelled training recordings, cut into clips on the fly. It
  stands in for the ImageNet / supervised audio pretraining every model of the lineage starts from.

Held out per class: ``round(25 %)`` (at least one) of the real recording groups and of the rendered ones, one
sprite when there are two or more; 25 % of the background photos are test-only.

Object size and placement (measured with :func:`layout_baselines`)
------------------------------------------------------------------
The legacy evaluation thresholds a 7×7 map at its median, so it always marks half the image: a perfect map of a
small object scores a low cIoU (at most twice the object's area fraction), while large central objects hand an
audio-agnostic centre prior a good score. We measured both ends on 300 test images (600 queries) per setting:
the centre prior (a Gaussian of σ = 1.75 cells) and the ceiling of any 7×7 map (the box average-pooled to 7×7,
ties broken towards the box), both upsampled bilinearly to 224 and scored with the median policy.

=======================================  =========  ==========================  ==========================
test objects (box area per object,       visible    centre prior: mean cIoU /   7×7 ceiling: mean cIoU /
centres ≥ d image sides apart)           box area   cIoU@0.5 / pointing         cIoU@0.5 / both objects
=======================================  =========  ==========================  ==========================
14–26 %, d = 0.38                        0.18       0.238 / 0.000 / 0.255       0.352 / 0.013 / 0.977
**20–35 %, d = 0.35 (chosen)**           0.22       0.294 / 0.023 / 0.383       0.443 / 0.255 / 0.973
25–40 %, d = 0.30 (prototype-like)       0.26       0.340 / 0.075 / 0.535       0.512 / 0.492 / 0.900
=======================================  =========  ==========================  ==========================

We chose the middle row: objects big enough that cIoU@0.5 is reachable for a quarter of the queries, small
and apart enough that the centre prior points at the right object in only 38 % of queries and, like any
audio-agnostic map, never at both objects of an image ("both objects" is 0 for it by construction). Test
objects keep ≥ 70 % of their mask visible and boxes overlap by IoU ≤ 0.1; positions are uniform over the frame.
On the default test set itself (seed 0, 1,020 queries, mean visible box area 22 %) the centre prior scores
0.295 / 0.025 / 0.400 and the 7×7 ceiling 0.441 / 0.245 / 0.961 (``sslsan data info DIR`` prints them).
Train images use 1–3 objects of 8–30 % each (≥ 50 % visible); pretrain images one object of 5–45 %.

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
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from sslsan.config import display_path, quiet
from sslsan.data import is3
from sslsan.data.augment import EVAL_AUGMENT, AudioAugment, AugmentConfig
from sslsan.data.mini.classmap import offscreen_classes, onscreen_classes
from sslsan.data.mini.scenes import LayoutConfig, compose, background_crop
from sslsan.data.negatives_pool import PAPER_SEEDS, draw_negatives, stable_int
from sslsan.data.records import AnnotationError, Query

DATASET_NAME = "IS3+-mini"
SPLIT_CODES = {"train": 1, "val": 2, "test": 3, "pretrain": 4, "plan": 9}
TRAIN_LAYOUT = LayoutConfig(objects=(1, 3), area=(0.08, 0.30), min_visible=0.5, max_box_iou=0.3)
TEST_LAYOUT = LayoutConfig(objects=(2, 2), area=(0.20, 0.35), min_visible=0.7, max_box_iou=0.1,
                           min_center_distance=0.35)
PRETRAIN_LAYOUT = LayoutConfig(objects=(1, 1), area=(0.05, 0.45))


class DatasetMismatchError(AnnotationError):
    """The output folder holds another build (preset, seed or asset set); it is refused, not mixed."""


@dataclass(frozen=True)
class Preset:
    """Everything that sizes and shapes a build; one entry of :data:`PRESETS`."""

    name: str
    train_images: int
    val_images: int
    test_unseen_images: int
    test_seen_images: int
    test_style_images: int
    pretrain_images: int
    image_size: int = 224
    clip_seconds: float = 3.0
    sample_rate: int = 16_000
    train_layout: LayoutConfig = TRAIN_LAYOUT
    test_layout: LayoutConfig = TEST_LAYOUT
    pretrain_layout: LayoutConfig = PRETRAIN_LAYOUT
    train_augment: AugmentConfig = AugmentConfig()
    eval_augment: AugmentConfig = EVAL_AUGMENT
    heldout_fraction: float = 0.25
    test_background_fraction: float = 0.25
    noise_level: float = 1.0  # std of the white-noise negative (the companion paper: N(0, 1))
    jpeg_quality: int = 95


PRESETS: dict[str, Preset] = {
    "default": Preset("default", train_images=2400, val_images=320, test_unseen_images=300, test_seen_images=150,
                      test_style_images=60, pretrain_images=5000),
    "tiny": Preset("tiny", train_images=40, val_images=10, test_unseen_images=4, test_seen_images=2,
                   test_style_images=2, pretrain_images=24),
}


def get_preset(preset: str | Preset) -> Preset:
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise KeyError(f"unknown IS3+-mini preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset]


# ------------------------------------------------------------------------------------------------ split plan


@dataclass
class SplitPlan:
    """Which recording groups, sprites and backgrounds each split may use (all chosen from the seed)."""

    train_groups: dict[str, list[str]]
    heldout_groups: dict[str, list[str]]
    train_sprites: dict[str, list[str]]
    heldout_sprites: dict[str, list[str]]
    emoji: dict[str, str]
    train_backgrounds: list[str]
    test_backgrounds: list[str]
    pools: dict[str, dict[str, list[str]]]  # "val" / "test" → class → recordings (offscreen negatives)


def _held(count: int, fraction: float) -> int:
    return max(1, int(fraction * count + 0.5)) if count >= 2 else 0


def plan_splits(manifest, preset: Preset, seed: int) -> SplitPlan:
    """Hold out recording groups (real and rendered separately), sprites and backgrounds for test."""
    rng = np.random.default_rng([seed, SPLIT_CODES["plan"]])
    train_groups, heldout_groups, train_sprites, heldout_sprites = {}, {}, {}, {}
    for name in onscreen_classes():
        groups = manifest.groups(name)
        train_groups[name], heldout_groups[name] = [], []
        for synthetic in (False, True):
            kind = [g for g, recs in groups.items() if recs[0]["synthetic"] == synthetic]
            order = [kind[i] for i in rng.permutation(len(kind))]
            cut = _held(len(order), preset.heldout_fraction)
            heldout_groups[name] += sorted(order[:cut])
            train_groups[name] += sorted(order[cut:])
        if not train_groups[name] or not heldout_groups[name]:
            raise AnnotationError(f"class {name!r} has {len(groups)} recording group(s) in the asset set; at least "
                                  "two are needed (one for training, one held out)")
        sprites = sorted(s["path"] for s in manifest.sprites if s["class"] == name)
        if not sprites:
            raise AnnotationError(f"class {name!r} has no sprite in the asset set")
        order = [sprites[i] for i in rng.permutation(len(sprites))]
        cut = 1 if len(order) >= 2 else 0
        heldout_sprites[name], train_sprites[name] = sorted(order[:cut]), sorted(order[cut:])
    backgrounds = sorted(b["path"] for b in manifest.backgrounds)
    background_order = [backgrounds[i] for i in rng.permutation(len(backgrounds))]
    background_cut = max(1, int(round(preset.test_background_fraction * len(background_order))))
    pools: dict[str, dict[str, list[str]]] = {"val": {}, "test": {}}
    by_group = {}
    for name in onscreen_classes() + offscreen_classes():
        by_group[name] = manifest.groups(name)
    for name in onscreen_classes():
        pools["test"][name] = sorted(r["path"] for g in heldout_groups[name] for r in by_group[name][g])
        pools["val"][name] = sorted(r["path"] for g in train_groups[name] for r in by_group[name][g])
    for name in offscreen_classes():
        groups = sorted(by_group[name])
        order = [groups[i] for i in rng.permutation(len(groups))]
        for i, group in enumerate(order):  # alternate, the first to test: single-group classes are test-only
            split = "test" if i % 2 == 0 else "val"
            pools[split].setdefault(name, []).extend(r["path"] for r in by_group[name][group])
    pools = {split: {c: sorted(files) for c, files in sorted(pool.items()) if files} for split, pool in pools.items()}
    return SplitPlan(train_groups, heldout_groups, train_sprites, heldout_sprites,
                     {e["class"]: e["path"] for e in manifest.emoji}, sorted(background_order[background_cut:]),
                     sorted(background_order[:background_cut]), pools)


# ------------------------------------------------------------------------------------------------ item plans


@dataclass(frozen=True)
class ObjectPlan:
    class_name: str
    sprite: str  # asset path of the sprite (or emoji) image
    sprite_heldout: bool
    recording: str | None = None  # asset path; None for objects that are not queried
    group: str | None = None


@dataclass(frozen=True)
class ItemPlan:
    """Everything chosen for one image before it is drawn (the drawing itself uses ``seed``)."""

    split: str
    index: int
    image_id: str
    part: str
    background: str
    objects: tuple[ObjectPlan, ...]
    queried: tuple[int, ...]  # which objects get a query (train/val: one; test: all)
    seed: tuple[int, ...]


def _pick_recording(manifest_groups: dict, groups: list[str], rng: np.random.Generator) -> tuple[str, str]:
    """A recording from ``groups``: real or rendered with equal odds when a class has both, then uniform."""
    real = [g for g in groups if not manifest_groups[g][0]["synthetic"]]
    rendered = [g for g in groups if manifest_groups[g][0]["synthetic"]]
    pool = real if (real and (not rendered or rng.random() < 0.5)) else rendered
    group = pool[int(rng.integers(len(pool)))]
    records = manifest_groups[group]
    return records[int(rng.integers(len(records)))]["path"], group


def _class_cycle(classes: list[str], rng: np.random.Generator) -> Callable[[int], list[str]]:
    """Draw ``k`` distinct classes at a time so every class is used about equally often."""
    queue: list[str] = []

    def take(k: int) -> list[str]:
        chosen: list[str] = []
        while len(chosen) < k:
            if not queue:
                queue.extend(classes[i] for i in rng.permutation(len(classes)))
            candidate = queue.pop()
            if candidate in chosen:
                queue.insert(0, candidate)
                continue
            chosen.append(candidate)
        return chosen

    return take


def plan_items(manifest, plan: SplitPlan, preset: Preset, seed: int) -> dict[str, list[ItemPlan]]:
    """The item plans of every split, in order (this order is the annotation order)."""
    classes = onscreen_classes()
    groups = {name: manifest.groups(name) for name in classes}
    items: dict[str, list[ItemPlan]] = {"train": [], "val": [], "test": [], "pretrain": []}

    def make(split: str, count: int, part: str, layout: LayoutConfig, sprite_source: str, heldout: bool,
             offset: int = 0) -> None:
        rng = np.random.default_rng([seed, SPLIT_CODES[split], stable_int(part)])
        take = _class_cycle(classes, rng)
        for n in range(count):
            index = offset + n
            k = int(rng.integers(layout.objects[0], layout.objects[1] + 1))
            chosen = take(k)
            queried = tuple(range(k)) if split == "test" else (() if split == "pretrain" else
                                                                (int(rng.integers(k)),))
            objects = []
            for j, name in enumerate(chosen):
                if sprite_source == "emoji":
                    sprite, sprite_held = plan.emoji[name], False
                elif heldout and plan.heldout_sprites[name]:
                    sprite, sprite_held = plan.heldout_sprites[name][0], True
                else:
                    pool = plan.train_sprites[name] or plan.heldout_sprites[name]
                    sprite, sprite_held = pool[int(rng.integers(len(pool)))], False
                recording = group = None
                if j in queried:
                    recording, group = _pick_recording(
                        groups[name], plan.heldout_groups[name] if heldout else plan.train_groups[name], rng)
                objects.append(ObjectPlan(name, sprite, sprite_held, recording, group))
            backgrounds = plan.test_backgrounds if split == "test" else plan.train_backgrounds
            background = backgrounds[int(rng.integers(len(backgrounds)))]
            image_id = f"{split}_{index:05d}"
            items[split].append(ItemPlan(split, index, image_id, part, background, tuple(objects), queried,
                                         (seed, SPLIT_CODES[split], index)))

    make("train", preset.train_images, "", preset.train_layout, "photo", heldout=False)
    make("val", preset.val_images, "", preset.train_layout, "photo", heldout=False)
    make("test", preset.test_unseen_images, "unseen", preset.test_layout, "photo", heldout=True)
    make("test", preset.test_seen_images, "seen", preset.test_layout, "photo", heldout=False,
         offset=preset.test_unseen_images)
    make("test", preset.test_style_images, "style", preset.test_layout, "emoji", heldout=False,
         offset=preset.test_unseen_images + preset.test_seen_images)
    make("pretrain", preset.pretrain_images, "", preset.pretrain_layout, "photo", heldout=False)
    return items


# ------------------------------------------------------------------------------------------------ drawing


@dataclass
class _WorkerContext:
    """What every worker needs: where things are, the preset, and small caches of decoded assets."""

    asset_root: Path
    out: Path
    preset: Preset
    seed: int
    pools: dict[str, dict[str, list[str]]]
    pool_lengths: dict[str, int]
    cache: dict = field(default_factory=dict)


_CONTEXT: _WorkerContext | None = None


def _init_worker(context: _WorkerContext) -> None:
    global _CONTEXT
    _CONTEXT = context


def _cached(kind: str, path: str, loader: Callable[[Path], object]):
    key = (kind, path)
    if key not in _CONTEXT.cache:
        _CONTEXT.cache[key] = loader(_CONTEXT.asset_root / path)
    return _CONTEXT.cache[key]


def _load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def _load_rgba(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA")).copy()


def _load_wave(path: Path) -> np.ndarray:
    from sslsan.audio import load_audio

    return load_audio(path)


def _save_jpeg(array: np.ndarray, path: Path, quality: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(array).save(tmp, format="JPEG", quality=quality)
    os.replace(tmp, path)


def _save_mask(mask: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
    os.replace(tmp, path)


def _recording_in_dataset(asset_path: str) -> str:
    """Recordings are copied into the dataset under the same relative path as in the asset cache."""
    return asset_path


def render_item(item: ItemPlan) -> tuple[str, int, list[dict]]:
    """Draw one planned image and its clips, write them, and return its annotation entries."""
    from sslsan.audio import fit_length, save_audio

    ctx = _CONTEXT
    preset, out = ctx.preset, ctx.out
    rng = np.random.default_rng(item.seed)
    layout = {"test": preset.test_layout, "pretrain": preset.pretrain_layout}.get(item.split, preset.train_layout)
    background = background_crop(_cached("rgb", item.background, _load_rgb), preset.image_size, rng)
    sprites = [_cached("rgba", obj.sprite, _load_rgba) for obj in item.objects]
    image, placed = compose(background, sprites, layout, rng, name=item.image_id)
    folder = "pretrain/images" if item.split == "pretrain" else "images"
    image_path = f"{folder}/{item.image_id}.jpg"
    _save_jpeg(image, out / image_path, preset.jpeg_quality)
    if item.split == "pretrain":
        obj, place = item.objects[0], placed[0]
        return item.split, item.index, [{"image": image_path, "class": obj.class_name, "gt_box": list(place.box),
                                         "sprite": obj.sprite, "background": item.background}]
    objects = []
    for obj, place in zip(item.objects, placed):
        mask_path = f"gt_segmentation/{item.image_id}_{obj.class_name.replace(' ', '_')}.png"
        _save_mask(place.mask, out / mask_path)
        objects.append({"class": obj.class_name, "gt_box": list(place.box), "mask": mask_path,
                        "sprite": obj.sprite, "sprite_heldout": obj.sprite_heldout,
                        "visible_fraction": round(place.visible_fraction, 4)})
    augment = AudioAugment(replace(preset.train_augment if item.split == "train" else preset.eval_augment,
                                   clip_seconds=preset.clip_seconds, sample_rate=preset.sample_rate))
    num_samples = int(round(preset.clip_seconds * preset.sample_rate))
    entries = []
    for j in item.queried:
        obj = item.objects[j]
        query_id = f"{item.image_id}_{obj.class_name.replace(' ', '_')}"
        audio_path = f"audio_wav/{query_id}.wav"
        clip = augment(_cached("wave", obj.recording, _load_wave), rng)
        save_audio(out / audio_path, clip, preset.sample_rate)
        entry = {"query_id": query_id, "image_id": item.image_id, "split": item.split, "image": image_path,
                 "audio": audio_path, "class": obj.class_name, "gt_box": objects[j]["gt_box"],
                 "mask": objects[j]["mask"]}
        if item.part:
            entry["part"] = item.part
        entry.update({"recording": _recording_in_dataset(obj.recording), "recording_group": obj.group,
                      "sprite": obj.sprite, "background": item.background, "objects": objects})
        if item.split in ("val", "test"):
            query = Query(query_id=query_id, image_id=item.image_id, image=image_path, audio=audio_path,
                          class_name=obj.class_name, extra={"objects": objects})
            draw = draw_negatives([query], ctx.pools[item.split], ctx.seed, num_samples=num_samples,
                                  lengths=ctx.pool_lengths)[0]
            off_path = f"audio_wav/{query_id}_offscreen.wav"
            source = _cached("wave", draw.offscreen_audio, _load_wave)
            save_audio(out / off_path, fit_length(source, num_samples, draw.offscreen_offset), preset.sample_rate)
            entry["negatives"] = {"offscreen": {"audio": off_path, "class": draw.offscreen_class,
                                                "source": draw.offscreen_audio, "offset": draw.offscreen_offset},
                                  "noise_seed": draw.noise_seed}
        entries.append(entry)
    return item.split, item.index, entries


def entry_files(entry: dict) -> list[str]:
    """Every file an annotation entry (or pretrain image record) refers to."""
    files = [entry["image"]]
    for key in ("audio", "mask"):
        if entry.get(key):
            files.append(entry[key])
    files += [obj["mask"] for obj in entry.get("objects", ()) if obj.get("mask")]
    offscreen = entry.get("negatives", {}).get("offscreen")
    if offscreen:
        files.append(offscreen["audio"])
    return files


# ------------------------------------------------------------------------------------------------ build


def _build_identity(preset: Preset, seed: int, asset_digest: str) -> dict:
    return {"name": DATASET_NAME, "format": is3.FORMAT_VERSION, "preset": preset.name, "seed": seed,
            "preset_config": json.loads(json.dumps(asdict(preset))), "assets_sha256": asset_digest}


IDENTITY_FILE = ".is3plus_mini.json"  # written first, kept: names the build a folder holds, even half-built


def _check_out_dir(out: Path, identity: dict) -> None:
    """Refuse a folder that holds anything but this very build (so two builds never mix)."""
    marker = out / IDENTITY_FILE
    if marker.is_file():
        found = json.loads(marker.read_text())
    elif (out / "dataset.json").is_file():
        info = json.loads((out / "dataset.json").read_text())
        found = info.get("extra", {}).get("identity", {"preset": info.get("preset"), "seed": info.get("seed")})
    elif out.is_dir() and any(out.iterdir()):
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


def _copy_recordings(manifest, out: Path) -> None:
    """Copy every cleaned recording into the dataset (``recordings/``): the trainer re-augments from them and the
    offscreen pools point at them."""
    for record in manifest.recordings:
        target = out / record["path"]
        source = manifest.path(record["path"])
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)


def build_dataset(preset: str | Preset = "default", out: str | Path | None = None, seed: int = 0, *,
                  workers: int | None = None, progress: bool = True, log: Callable[[str], None] | None = None
                  ) -> Path:
    """Build (or finish building) IS3+-mini into ``out``; returns ``out``.

    ``workers`` processes draw the items (default: all cores); the result does not depend on it. Items already
    on disk from an earlier run with the same preset and seed are kept.
    """
    from sslsan.data.assets import ensure_assets

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    preset = get_preset(preset)
    out = Path(out) if out is not None else default_out(preset.name, seed)
    if is_complete(out, preset, seed):  # a finished build is self-contained: no need to look at the assets
        log(f"IS3+-mini: {display_path(out)} is already complete")
        return out
    manifest = ensure_assets(log=log)
    identity = _build_identity(preset, seed, manifest.digest)
    _check_out_dir(out, identity)
    is3.write_json_atomic(out / IDENTITY_FILE, identity)
    (out / ".build").mkdir(exist_ok=True)
    started = time.perf_counter()

    plan = plan_splits(manifest, preset, seed)
    items = plan_items(manifest, plan, preset, seed)
    _copy_recordings(manifest, out)
    import soundfile

    lengths = {path: soundfile.info(str(out / path)).frames for pool in plan.pools.values()
               for files in pool.values() for path in files}
    records = _load_records(out)
    todo = [item for split in items.values() for item in split
            if not ((item.split, item.index) in records and _valid(out, records[(item.split, item.index)]))]
    context = _WorkerContext(manifest.root, out, preset, seed, plan.pools, lengths)

    journal = out / ".build" / "items.jsonl"
    if todo:
        # heavy imports the workers need, loaded once here so forked workers do not each pay seconds for them
        import scipy.signal  # noqa: F401
        import sslsan.audio  # noqa: F401

        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        log(f"IS3+-mini: drawing {len(todo)} of {sum(map(len, items.values()))} items "
            f"({preset.name}, seed {seed}) with {workers} process(es) into {display_path(out)}")
        with open(journal, "a") as handle:
            for split, index, entries in _run(todo, context, workers, progress):
                records[(split, index)] = entries
                handle.write(json.dumps({"split": split, "index": index, "entries": entries}) + "\n")
                handle.flush()
    _write_outputs(out, manifest, plan, items, records, preset, seed, identity)
    shutil.rmtree(out / ".build")
    log(f"IS3+-mini: {display_path(out)} ready ({time.perf_counter() - started:.0f} s)")
    return out


def _run(todo: list[ItemPlan], context: _WorkerContext, workers: int, progress: bool):
    """Draw ``todo`` in ``workers`` processes (or in this one), yielding results as they finish."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="IS3+-mini", unit="img", disable=quiet(progress), file=sys.stderr)
    try:
        if workers == 1:
            _init_worker(context)
            for item in todo:
                yield render_item(item)
                bar.update()
            return
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ctx.Pool(workers, initializer=_init_worker, initargs=(context,)) as pool:
            for result in pool.imap_unordered(render_item, todo, chunksize=8):
                yield result
                bar.update()
    finally:
        bar.close()


def _write_outputs(out: Path, manifest, plan: SplitPlan, items: dict[str, list[ItemPlan]],
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
    is3.write_json_atomic(out / "class_files_dict.json", plan.pools["test"])
    is3.write_json_atomic(out / "class_files_dict_val.json", plan.pools["val"])
    pretrain_images = [entry for item in items["pretrain"] for entry in records[("pretrain", item.index)]]
    groups = {name: manifest.groups(name) for name in onscreen_classes()}
    pretrain_audio = [{"recording": record["path"], "class": name, "recording_group": group}
                      for name in onscreen_classes() for group in plan.train_groups[name]
                      for record in groups[name][group]]
    is3.write_json_atomic(out / "pretrain" / "annotations.json", {
        "classes": onscreen_classes(), "images": pretrain_images, "recordings": pretrain_audio,
        "augment": asdict(preset.train_augment)})
    counts["pretrain_images"] = len(pretrain_images)
    counts["pretrain_recordings"] = len(pretrain_audio)
    shutil.copytree(manifest.path("licenses"), out / "licenses", dirs_exist_ok=True)
    attribution = manifest.path("ATTRIBUTION.md").read_text()
    (out / "ATTRIBUTION.md").write_text(
        "IS3+-mini images are composites of the sprites and background photos below; its clips are crops of the "
        "recordings below (speed, level, equaliser and noise-floor changes).\n\n" + attribution)
    info = is3.DatasetInfo(
        name=DATASET_NAME, classes=onscreen_classes(), preset=preset.name, seed=seed,
        image_size=preset.image_size, sample_rate=preset.sample_rate, clip_seconds=preset.clip_seconds,
        splits=counts,
        negatives={"silence": "zeros", "noise": {"distribution": "normal", "mean": 0.0, "std": preset.noise_level},
                   "noise_level": preset.noise_level, "noise_seed_key": "negatives.noise_seed",
                   "offscreen": {"test": "class_files_dict.json", "val": "class_files_dict_val.json",
                                 "excludes": "every class in the image"},
                   "fixed_draw_seed": seed, "redraw_seeds": list(PAPER_SEEDS)},
        extra={"identity": identity, "parts": dict(sorted(parts.items())),
               "offscreen_classes": sorted({c for pool in plan.pools.values() for c in pool}
                                           - set(onscreen_classes())),
               "assets": {"version": manifest.data["version"], "manifest_sha256": manifest.digest},
               "heldout": {"recording_groups": plan.heldout_groups, "sprites": plan.heldout_sprites,
                           "backgrounds": plan.test_backgrounds},
               "train": {"recording_groups": plan.train_groups, "sprites": plan.train_sprites,
                         "backgrounds": plan.train_backgrounds}})
    is3.write_info(out, info)


def default_out(preset: str, seed: int, smoke: bool = False) -> Path:
    """Where :func:`ensure_dataset` keeps a build: ``work_dir()/is3plus_mini-<preset>-seed<seed>``."""
    from sslsan.config import work_dir

    return work_dir(smoke) / f"is3plus_mini-{preset}-seed{seed}"


def is_complete(out: str | Path, preset: str | Preset, seed: int) -> bool:
    """Whether ``out`` holds a finished build of ``preset``/``seed`` with every referenced file present."""
    out, preset = Path(out), get_preset(preset)
    if not (out / "dataset.json").is_file() or (out / ".build").exists():
        return False
    info = is3.read_info(out)
    if info.preset != preset.name or info.seed != seed or \
            info.extra.get("identity", {}).get("preset_config") != json.loads(json.dumps(asdict(preset))):
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


# ------------------------------------------------------------------------------------------------ readers


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


# ------------------------------------------------------------------------------------------------ measurement


def _upsample_bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling with ``align_corners=False`` (what ``F.interpolate`` does), in numpy."""
    cells = grid.shape[0]
    coords = np.clip((np.arange(size) + 0.5) * cells / size - 0.5, 0, cells - 1)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, cells - 1)
    weight = coords - low
    rows = grid[low] * (1 - weight)[:, None] + grid[high] * weight[:, None]
    return rows[:, low] * (1 - weight)[None, :] + rows[:, high] * weight[None, :]


def _median_ciou(score: np.ndarray, gt: np.ndarray) -> float:
    """The lineage's cIoU: binarise the map at its median, then |pred ∩ gt| / (|gt| + |pred \\ gt|)."""
    threshold = np.sort(score.ravel())[score.size // 2]
    pred = score >= threshold
    return float((pred & gt).sum() / (gt.sum() + (pred & ~gt).sum()))


def layout_baselines(root: str | Path, split: str = "test", cells: int = 7) -> dict[str, float]:
    """What two audio-agnostic maps score on a split under the legacy median policy.

    - ``prior_*``: a centre prior (a Gaussian of σ = 1.75 cells on the 7×7 grid);
    - ``oracle_*``: each query's ground-truth box average-pooled to 7×7 — the ceiling of any 7×7 map.

    Both are upsampled bilinearly to the image size. ``*_ciou``: mean cIoU; ``*_ciou50``: fraction with
    cIoU ≥ 0.5; ``*_pointing``: the map's maximum lies in the query's box; ``*_both``: in an image, each
    query's maximum lies in its own box and not in the other's (0 for any audio-agnostic map when boxes are
    disjoint).
    """
    from sslsan.data.records import box_map

    queries = is3.read_queries(root, split)
    size = is3.read_info(root).image_size
    centre = (np.arange(cells) - (cells - 1) / 2) ** 2
    prior = _upsample_bilinear(np.exp(-(centre[:, None] + centre[None, :]) / (2 * 1.75**2)), size)
    results: dict[str, list[float]] = {f"{m}_{s}": [] for m in ("prior", "oracle")
                                       for s in ("ciou", "ciou50", "pointing")}
    peaks: dict[str, dict[str, tuple[int, int]]] = {}
    boxes: dict[str, dict[str, tuple]] = {}
    pool = size // cells
    grid_y, grid_x = np.mgrid[0:size, 0:size] + 0.5
    for query in queries:
        gt = box_map(query.boxes, (size, size), query.image_size) > 0
        oracle = _upsample_bilinear(gt.reshape(cells, pool, cells, pool).mean(axis=(1, 3)), size)
        # break the ties of the zero plateau by closeness to the box, as the best 7×7 map would: otherwise the
        # median of a mostly-zero map is 0 and ``>=`` marks the whole image
        x1, y1, x2, y2 = query.boxes[0]
        distance = np.hypot(np.maximum(0, np.maximum(x1 - grid_x, grid_x - x2)),
                            np.maximum(0, np.maximum(y1 - grid_y, grid_y - y2)))
        oracle = oracle - 1e-6 * distance
        for name, score in (("prior", prior), ("oracle", oracle)):
            ciou = _median_ciou(score, gt)
            y, x = np.unravel_index(int(np.argmax(score)), score.shape)
            results[f"{name}_ciou"].append(ciou)
            results[f"{name}_ciou50"].append(float(ciou >= 0.5))
            results[f"{name}_pointing"].append(float(gt[y, x]))
            peaks.setdefault(name, {})[query.query_id] = (x, y)
        boxes.setdefault(query.image_id, {})[query.query_id] = query.boxes[0]
    summary = {key: float(np.mean(values)) for key, values in results.items()}
    for name in ("prior", "oracle"):
        both = []
        for image_boxes in boxes.values():
            if len(image_boxes) != 2:
                continue
            ok = True
            for query_id, box in image_boxes.items():
                x, y = peaks[name][query_id]
                others = [b for q, b in image_boxes.items() if q != query_id]
                inside = lambda b: b[0] <= x < b[2] and b[1] <= y < b[3]  # noqa: E731
                ok &= inside(box) and not any(inside(b) for b in others)
            both.append(float(ok))
        summary[f"{name}_both"] = float(np.mean(both)) if both else float("nan")
    summary["gt_area"] = float(np.mean([(q.boxes[0][2] - q.boxes[0][0]) * (q.boxes[0][3] - q.boxes[0][1])
                                        for q in queries]) / size**2)
    return summary
