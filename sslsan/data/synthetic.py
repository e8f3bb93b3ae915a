"""A tiny synthetic dataset in the IS3 format: coloured shapes that hum at their own pitch.

It needs no assets (no Debian packages), builds in about a second, and is what unit tests of models, training and
evaluation run on. Class c is a shape of a fixed colour whose sound is a harmonic tone at a class-specific pitch,
so a model *can* learn the correspondence. It is not a benchmark: IS3+-mini (``sslsan.data.mini.build``) is.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
import numpy as np

from sslsan.audio import SAMPLE_RATE, save_audio
from sslsan.data.is3 import DatasetInfo, write_info, write_split
from sslsan.data.manifest import write_manifest
from sslsan.io import write_json

COLOURS = [(220, 40, 40), (40, 170, 60), (40, 80, 220), (230, 200, 30), (160, 60, 200), (30, 190, 200),
           (240, 130, 30), (120, 120, 120)]
PITCHES = [220.0, 277.2, 329.6, 392.0, 466.2, 554.4, 659.3, 784.0]


def _shape_mask(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / max(size - 1, 1) * 2 - 1
    if kind % 3 == 0:
        mask = xx**2 + yy**2 <= 1.0  # disc
    elif kind % 3 == 1:
        mask = np.ones((size, size), bool)  # square
    else:
        mask = yy >= 2 * np.abs(xx) - 1  # triangle
    return mask


def _tone(class_id: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = PITCHES[class_id % len(PITCHES)] * rng.uniform(0.97, 1.03)
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 2, 3))
    wave *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2  # slow tremolo
    wave += 0.01 * rng.standard_normal(len(t))
    return (0.4 * wave / np.abs(wave).max()).astype(np.float32)


def _scene(root: Path, image_id: str, classes: list[int], rng: np.random.Generator, size: int, split: str,
           seconds: float) -> list[dict]:
    image = (rng.uniform(60, 140, (1, 1, 3)) + rng.normal(0, 12, (size, size, 3))).clip(0, 255)
    entries, objects, taken = [], [], np.zeros((size, size), bool)
    for slot, class_id in enumerate(classes):
        side = int(rng.uniform(0.3, 0.45) * size)
        for _ in range(50):  # place without overlapping earlier objects
            x, y = rng.integers(0, size - side, 2)
            if not taken[y : y + side, x : x + side].any():
                break
        mask = np.zeros((size, size), bool)
        mask[y : y + side, x : x + side] = _shape_mask(class_id, side, rng)
        taken |= mask
        image[mask] = COLOURS[class_id % len(COLOURS)]
        rows, cols = np.nonzero(mask)
        box = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
        mask_path = f"gt_segmentation/{image_id}_{slot}.png"
        Image.fromarray((mask * 255).astype(np.uint8)).save(root / mask_path)
        objects.append({"class": f"class{class_id}", "gt_box": box, "mask": mask_path})
    Image.fromarray(image.astype(np.uint8)).save(root / f"images/{image_id}.png")
    sounding = range(len(classes)) if split == "test" else [0]
    for slot in sounding:
        query_id = f"{image_id}_{slot}"
        audio_path = f"audio_wav/{query_id}.wav"
        save_audio(root / audio_path, _tone(classes[slot], seconds, rng))
        entry = {"query_id": query_id, "image_id": image_id, "split": split, "image": f"images/{image_id}.png",
                 "audio": audio_path, "class": objects[slot]["class"], "gt_box": objects[slot]["gt_box"],
                 "mask": objects[slot]["mask"], "objects": objects}
        if split != "train":
            absent = [c for c in range(len(PITCHES)) if c not in classes]
            off_class = int(rng.choice(absent))
            off_path = f"audio_wav/{query_id}_offscreen.wav"
            save_audio(root / off_path, _tone(off_class, seconds, rng))
            entry["negatives"] = {"offscreen": {"audio": off_path, "class": f"class{off_class}"},
                                  "noise_seed": int(rng.integers(2**31))}
        entries.append(entry)
    return entries


def write_fixture(root: str | Path, num_classes: int = 4, train: int = 24, val: int = 6, test: int = 6,
                  seed: int = 0, image_size: int = 224, seconds: float = 3.0) -> Path:
    """Write a synthetic IS3-format dataset to ``root``: ``train``/``val`` images with 1–2 objects (one sounding),
    ``test`` images with two objects of different classes and two queries each."""
    if not 2 <= num_classes <= len(PITCHES):
        raise ValueError(f"num_classes must be between 2 and {len(PITCHES)}")
    root = Path(root)
    for folder in ("images", "audio_wav", "gt_segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = {"train": train, "val": val, "test": test}
    names = [f"class{c}" for c in range(num_classes)]
    class_files: dict[str, list[str]] = {name: [] for name in names}
    for split, count in sizes.items():
        entries = []
        for i in range(count):
            n_objects = 2 if split == "test" else int(rng.integers(1, 3))
            classes = [int(c) for c in rng.choice(num_classes, n_objects, replace=False)]
            entries += _scene(root, f"{split}{i:04d}", classes, rng, image_size, split, seconds)
        write_split(root, split, entries)
        for entry in entries:
            class_files[entry["class"]].append(entry["audio"])
    write_json(root / "class_files_dict.json", class_files)
    write_info(root, DatasetInfo(name="synthetic-shapes", classes=names, preset="fixture", seed=seed,
                                 image_size=image_size, clip_seconds=seconds,
                                 splits={k: v for k, v in sizes.items()},
                                 negatives={"noise": "white", "noise_level": 1.0}))
    write_manifest(root)
    return root
