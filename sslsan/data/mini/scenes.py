"""Drawing one IS3+-mini image: a background photo crop with photo cut-outs pasted on it.

Each pasted sprite's alpha channel (≥ 50 %) is its mask. Later sprites occlude earlier ones, so an object's
*visible* mask is its mask minus every mask pasted after it; its box is the bounding box of the visible mask
(``[x1, y1, x2, y2]``, ``x2``/``y2`` exclusive, pixels of the output image). A layout is accepted only when every
object keeps at least ``min_visible`` of its mask, object boxes overlap little (``max_box_iou``) and, for test
images, the objects are apart (``min_center_distance``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from sslsan.errors import SslsanError


@dataclass(frozen=True)
class LayoutConfig:
    """How many objects an image holds, how big they are and how they may be arranged.

    ``area`` is the fraction of the image covered by an object's *box* before occlusion (sizing by area rather
    than by longest side keeps elongated objects — a bassoon, a bus — from being tiny). ``max_side`` caps the
    longest side as a fraction of the image.
    """

    objects: tuple[int, int] = (1, 3)
    area: tuple[float, float] = (0.08, 0.30)
    max_side: float = 0.85
    min_visible: float = 0.5
    max_box_iou: float = 0.3
    min_center_distance: float = 0.0  # fraction of the image side
    attempts: int = 60


class LayoutError(SslsanError, RuntimeError):
    """No placement satisfied the layout constraints (the message says which image)."""


@dataclass
class PlacedObject:
    """One object in a finished image."""

    mask: np.ndarray  # bool H×W, the visible part
    full_area: int  # pixels of the object's whole mask before occlusion
    box: tuple[int, int, int, int]

    @property
    def visible_fraction(self) -> float:
        return float(self.mask.sum()) / max(1, self.full_area)


def background_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop (60–100 % of the short side) resized to ``size``, maybe mirrored, with a mild
    brightness/contrast change. ``photo`` is uint8 H×W×3; returns float32 in [0, 255]."""
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.6, 1.0))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((size, size), Image.BILINEAR)
    image = np.asarray(crop, dtype=np.float32)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    contrast, brightness = rng.uniform(0.85, 1.15), rng.uniform(-20, 20)
    return np.clip((image - 127.5) * contrast + 127.5 + brightness, 0, 255)


def scaled_sprite(sprite: np.ndarray, area_fraction: float, size: int, max_side: float, flip: bool
                  ) -> np.ndarray:
    """Resize an RGBA sprite (uint8 h×w×4) so its box covers ``area_fraction`` of a ``size``² image."""
    height, width = sprite.shape[:2]
    scale = np.sqrt(area_fraction * size * size / (height * width))
    scale = min(scale, max_side * size / max(height, width))
    new_w, new_h = max(4, int(round(width * scale))), max(4, int(round(height * scale)))
    image = Image.fromarray(sprite).resize((new_w, new_h), Image.LANCZOS)
    array = np.asarray(image)
    return array[:, ::-1] if flip else array


def _box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``[x1, y1, x2, y2]`` of a boolean mask, with exclusive ``x2``/``y2`` (a box map covers ``y1:y2``)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def compose(background: np.ndarray, sprites: list[np.ndarray], layout: LayoutConfig, rng: np.random.Generator,
            name: str = "image") -> tuple[np.ndarray, list[PlacedObject]]:
    """Paste ``sprites`` (uint8 RGBA, in pasting order) on ``background`` (float32 S×S×3) under ``layout``.

    Sizes, flips and positions are drawn from ``rng`` until every constraint holds (``layout.attempts`` tries;
    after each third failure the objects are made 15 % smaller). Returns the uint8 image and the placed objects.
    """
    size = background.shape[0]
    shrink = 1.0
    for attempt in range(layout.attempts):
        if attempt and attempt % 3 == 0:
            shrink *= 0.85
        scaled = [scaled_sprite(s, rng.uniform(*layout.area) * shrink, size, layout.max_side, rng.random() < 0.5)
                  for s in sprites]
        positions, boxes = [], []
        for sprite in scaled:
            h, w = sprite.shape[:2]
            top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
            positions.append((top, left))
            boxes.append((left, top, left + w, top + h))
        if any(_box_iou(a, b) > layout.max_box_iou for i, a in enumerate(boxes) for b in boxes[i + 1:]):
            continue
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
        if layout.min_center_distance and any(
                np.hypot(a[0] - b[0], a[1] - b[1]) < layout.min_center_distance * size
                for i, a in enumerate(centres) for b in centres[i + 1:]):
            continue
        full_masks = []
        for sprite, (top, left) in zip(scaled, positions):
            mask = np.zeros((size, size), dtype=bool)
            mask[top:top + sprite.shape[0], left:left + sprite.shape[1]] = sprite[..., 3] >= 128
            full_masks.append(mask)
        visible = []
        for i, mask in enumerate(full_masks):
            covered = np.zeros_like(mask)
            for later in full_masks[i + 1:]:
                covered |= later
            visible.append(mask & ~covered)
        if any(v.sum() < layout.min_visible * max(1, m.sum()) or not v.any() for v, m in zip(visible, full_masks)):
            continue
        image = background.copy()
        for sprite, (top, left) in zip(scaled, positions):
            h, w = sprite.shape[:2]
            alpha = sprite[..., 3:4].astype(np.float32) / 255.0
            region = image[top:top + h, left:left + w]
            image[top:top + h, left:left + w] = region * (1 - alpha) + sprite[..., :3].astype(np.float32) * alpha
        placed = [PlacedObject(v, int(m.sum()), mask_box(v)) for v, m in zip(visible, full_masks)]
        return np.clip(np.round(image), 0, 255).astype(np.uint8), placed
    raise LayoutError(f"{name}: no layout of {len(sprites)} objects met the constraints in {layout.attempts} tries")
