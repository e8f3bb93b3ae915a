"""What IS3+-mini holds: the presets, the split plan (what is held out) and the plan of every item.

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
  ``class_files_dict.json``) and a ``noise_seed``; :func:`sslsan.protocol.draw_negatives` re-draws
  them for the paper's 10 seeds.
- **pretrain** (``pretrain/annotations.json``, :func:`sslsan.data.mini.build.read_pretrain`): single-object
  labelled images (training sprites on training backgrounds) and the class-labelled training recordings, cut into
  clips on the fly. It stands in for the ImageNet / supervised audio pretraining every model of the lineage
  starts from.

Held out per class: ``round(25 %)`` (at least one; of the real ones at least the class map's
``min_heldout_groups``, two for v2) of the real recording groups and of the rendered ones, one sprite when there
are two or more; 25 % of the background photos are test-only. The class map comes from
:data:`PRESET_CLASS_MAPS` (``default`` and ``tiny``: v1; ``v2``: v2).

Object size and placement (measured when the sizes were chosen)
---------------------------------------------------------------
The legacy evaluation thresholds a 7×7 map at its median, so it always marks half the image: a perfect map of a
small object scores a low cIoU (at most twice the object's area fraction), while large central objects hand an
audio-agnostic centre prior a good score. We measured both ends on 300 test images (600 queries) per setting:
the centre prior (a Gaussian of σ = 1.75 cells) and the ceiling of any 7×7 map (the box average-pooled to 7×7,
ties broken towards the box), both upsampled bilinearly to 224 and scored with the median policy. (That measurement broke the ties of the
ceiling's zero plateau towards the box; the reference rows every report and notebook now show come from
:func:`sslsan.evaluate.layout_rows`, one definition, and give a somewhat higher ceiling.)

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from sslsan.data.augment import EVAL_AUGMENT, AugmentConfig
from sslsan.data.mini.attribution import AssetManifest
from sslsan.data.mini.classmap import CLASS_MAPS, ClassMap
from sslsan.data.mini.scenes import LayoutConfig
from sslsan.protocol import stable_int
from sslsan.data.records import AnnotationError
from sslsan.errors import UsageError

SPLIT_CODES = {"train": 1, "val": 2, "test": 3, "pretrain": 4, "plan": 9}
TRAIN_LAYOUT = LayoutConfig(objects=(1, 3), area=(0.08, 0.30), min_visible=0.5, max_box_iou=0.3)
TEST_LAYOUT = LayoutConfig(objects=(2, 2), area=(0.20, 0.35), min_visible=0.7, max_box_iou=0.1,
                           min_center_distance=0.35)
PRETRAIN_LAYOUT = LayoutConfig(objects=(1, 1), area=(0.05, 0.45))


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
    "v2": Preset("v2", train_images=2400, val_images=320, test_unseen_images=300, test_seen_images=150,
                 test_style_images=60, pretrain_images=5000),
}
#: the class map each preset draws from. Kept out of :class:`Preset` so the default build's identity (its
#: ``preset_config``) is unchanged; switching the default to v2 is the one line ``"default": "v2"``.
PRESET_CLASS_MAPS: dict[str, str] = {"default": "v1", "tiny": "v1", "v2": "v2"}


def class_map_of(preset: str | Preset) -> ClassMap:
    """The class map a preset draws from (presets not in :data:`PRESET_CLASS_MAPS` use v1)."""
    return CLASS_MAPS[PRESET_CLASS_MAPS.get(get_preset(preset).name, "v1")]


def get_preset(preset: str | Preset) -> Preset:
    """A preset by name (or the preset itself)."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise UsageError(f"unknown IS3+-mini preset {preset!r}; choose one of {sorted(PRESETS)}")
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


def _held(count: int, fraction: float, least: int = 1) -> int:
    """How many of ``count`` groups to hold out: ``fraction`` of them, at least ``least``, never all."""
    return min(count - 1, max(least, int(fraction * count + 0.5))) if count >= 2 else 0


def plan_splits(manifest: AssetManifest, preset: Preset, seed: int) -> SplitPlan:
    """Hold out recording groups (real and rendered separately), sprites and backgrounds for test."""
    rng = np.random.default_rng([seed, SPLIT_CODES["plan"]])
    cmap = class_map_of(preset)
    train_groups, heldout_groups, train_sprites, heldout_sprites = {}, {}, {}, {}
    for name in cmap.onscreen():
        groups = manifest.groups(name)
        train_groups[name], heldout_groups[name] = [], []
        for synthetic in (False, True):
            kind = [g for g, recs in groups.items() if recs[0]["synthetic"] == synthetic]
            order = [kind[i] for i in rng.permutation(len(kind))]
            cut = _held(len(order), preset.heldout_fraction, 1 if synthetic else cmap.min_heldout_groups)
            heldout_groups[name] += sorted(order[:cut])
            train_groups[name] += sorted(order[cut:])
        real = sum(not recs[0]["synthetic"] for recs in groups.values())
        if real < cmap.min_groups:
            raise AnnotationError(f"class {name!r} has {real} real recording group(s) in the asset set; class map "
                                  f"{cmap.name} needs {cmap.min_groups} for an onscreen class (make it offscreen)")
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
    pools = _negative_pools(manifest, cmap, train_groups, heldout_groups, rng)
    return SplitPlan(train_groups, heldout_groups, train_sprites, heldout_sprites,
                     {e["class"]: e["path"] for e in manifest.emoji}, sorted(background_order[background_cut:]),
                     sorted(background_order[:background_cut]), pools)


def _negative_pools(manifest: AssetManifest, cmap: ClassMap, train_groups: dict[str, list[str]],
                    heldout_groups: dict[str, list[str]], rng: np.random.Generator) -> dict[str, dict[str, list[str]]]:
    """The offscreen pools of val and test: sprite classes by their split's groups, offscreen classes alternated."""
    pools: dict[str, dict[str, list[str]]] = {"val": {}, "test": {}}
    by_group = {name: manifest.groups(name) for name in cmap.onscreen() + cmap.offscreen()}
    for name in cmap.onscreen():
        pools["test"][name] = sorted(r["path"] for g in heldout_groups[name] for r in by_group[name][g])
        pools["val"][name] = sorted(r["path"] for g in train_groups[name] for r in by_group[name][g])
    for name in cmap.offscreen():
        groups = sorted(by_group[name])
        order = [groups[i] for i in rng.permutation(len(groups))]
        for i, group in enumerate(order):  # alternate, the first to test: single-group classes are test-only
            split = "test" if i % 2 == 0 else "val"
            pools[split].setdefault(name, []).extend(r["path"] for r in by_group[name][group])
    return {split: {c: sorted(files) for c, files in sorted(pool.items()) if files} for split, pool in pools.items()}


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


def plan_items(manifest: AssetManifest, plan: SplitPlan, preset: Preset, seed: int) -> dict[str, list[ItemPlan]]:
    """The item plans of every split, in order (this order is the annotation order)."""
    classes = class_map_of(preset).onscreen()
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
