"""Drawing IS3+-mini items: one planned image, its masks and clips, written to disk by a worker process.

Each item has its own generator (its plan's ``seed``), so what a worker draws does not depend on which worker
draws it or in which order. Every file is written atomically, so a killed build leaves whole files only.
"""

from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

# imported with this module, before the build forks its workers, so that they do not each import it
from sslsan.audio import fit_length, load_audio, save_audio
from sslsan.config import quiet
from sslsan.data.augment import AudioAugment
from sslsan.data.mini.plan import ItemPlan, Preset
from sslsan.data.mini.scenes import background_crop, compose
from sslsan.protocol import draw_negatives
from sslsan.data.records import Query
from sslsan.io import atomic_write


@dataclass
class WorkerContext:
    """What every worker needs: where things are, the preset, and small caches of decoded assets."""

    asset_root: Path
    out: Path
    preset: Preset
    seed: int
    pools: dict[str, dict[str, list[str]]]
    pool_lengths: dict[str, int]
    cache: dict = field(default_factory=dict)


_CONTEXT: WorkerContext | None = None


def init_worker(context: WorkerContext) -> None:
    """Give this process the context :func:`render_item` draws with (a pool initializer)."""
    global _CONTEXT
    _CONTEXT = context


def _cached(kind: str, path: str, loader: Callable[[Path], object]):
    key = (kind, path)
    if key not in _CONTEXT.cache:
        _CONTEXT.cache[key] = loader(_CONTEXT.asset_root / path)
    return _CONTEXT.cache[key]


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def _load_rgba(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA")).copy()


def _save_jpeg(array: np.ndarray, path: Path, quality: int) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="JPEG", quality=quality))


def _save_mask(mask: np.ndarray, path: Path) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG"))


def _recording_in_dataset(asset_path: str) -> str:
    """Recordings are copied into the dataset under the same relative path as in the asset cache."""
    return asset_path


def render_item(item: ItemPlan) -> tuple[str, int, list[dict]]:
    """Draw one planned image and its clips, write them, and return its annotation entries."""
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
        clip = augment(_cached("wave", obj.recording, load_audio), rng)
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
            source = _cached("wave", draw.offscreen_audio, load_audio)
            save_audio(out / off_path, fit_length(source, num_samples, draw.offscreen_offset), preset.sample_rate)
            entry["negatives"] = {"offscreen": {"audio": off_path, "class": draw.offscreen_class,
                                                "source": draw.offscreen_audio, "offset": draw.offscreen_offset},
                                  "noise_seed": draw.noise_seed}
        entries.append(entry)
    return item.split, item.index, entries


def render_items(todo: list[ItemPlan], context: WorkerContext, workers: int, progress: bool
                 ) -> Iterator[tuple[str, int, list[dict]]]:
    """Draw ``todo`` in ``workers`` processes (or in this one), yielding results as they finish."""
    bar = tqdm(total=len(todo), desc="IS3+-mini", unit="img", disable=quiet(progress), file=sys.stderr)
    try:
        if workers == 1:
            init_worker(context)
            for item in todo:
                yield render_item(item)
                bar.update()
            return
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ctx.Pool(workers, initializer=init_worker, initargs=(context,)) as pool:
            for result in pool.imap_unordered(render_item, todo, chunksize=8):
                yield result
                bar.update()
    finally:
        bar.close()


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
