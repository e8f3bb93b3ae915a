"""The one record type every dataset reader produces: a *query* = one image asked about one audio clip.

IS3-style data has two queries per image (one per sounding object); VGG-SS and Flickr-SoundNet have one. Readers of
every format (IS3+-mini, the IS3 release, VGG-SS, Flickr-SoundNet) return lists of :class:`Query`, so loading,
ground-truth maps and evaluation have a single code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from sslsan.errors import DataError

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the frame given by `image_size`

GT_MODES = ("union", "consensus")


class AnnotationError(DataError):
    """An annotation that cannot be used; the message names the file/entry and the problem."""


@dataclass(frozen=True)
class Query:
    """One (image, audio) evaluation or training item.

    Paths are relative to the dataset root (absolute paths are allowed for external data).
    ``gt`` says how ``boxes`` become a ground-truth map: ``"union"`` (binary union, VGG-SS/IS3) or
    ``"consensus"`` (Flickr-SoundNet: each annotator's box adds 1, the map is ``min(sum / 2, 1)``).
    ``part`` tags subsets such as ``"seen"``/``"unseen"`` recordings; ``extra`` carries format-specific fields.
    ``exact_size``: the image file itself is ``image_size`` pixels (the IS3 format), so a file of another size is
    refused rather than resized (its boxes would no longer match it); real datasets' frames are resized by design.
    """

    query_id: str
    image_id: str
    image: str
    audio: str | None
    boxes: tuple[Box, ...] = ()
    image_size: tuple[int, int] = (224, 224)  # (height, width) of the frame the boxes refer to
    gt: str = "union"
    mask: str | None = None
    class_name: str | None = None
    split: str = "test"
    part: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    exact_size: bool = False

    def __post_init__(self):
        if self.gt not in GT_MODES:
            raise AnnotationError(f"query {self.query_id}: gt mode {self.gt!r} is not one of {GT_MODES}")
        for box in self.boxes:
            check_box(box, self.image_size, f"query {self.query_id}")


def check_box(box, image_size: tuple[int, int], where: str) -> None:
    """Refuse a box that is not 4 finite numbers, is empty, or leaves its ``(height, width)`` frame; the message
    starts with ``where``."""
    height, width = image_size
    if len(box) != 4:
        raise AnnotationError(f"{where}: box {box} does not have 4 numbers")
    x1, y1, x2, y2 = box
    if not all(np.isfinite(box)):
        raise AnnotationError(f"{where}: box {box} has a non-finite coordinate")
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise AnnotationError(f"{where}: box {box} is empty or outside the {width}×{height} image")


def box_map(boxes, size: tuple[int, int] = (224, 224), image_size: tuple[int, int] = (224, 224),
            mode: str = "union") -> np.ndarray:
    """Ground-truth map (``float32``, ``size``) from pixel boxes given in an ``image_size`` frame.

    Boxes are rescaled to ``size`` and rounded the way the lineage does (``int`` truncation of the scaled corners);
    a box covers rows ``y1:y2`` and columns ``x1:x2``. ``union`` gives a binary map; ``consensus`` gives
    ``min(count / 2, 1)`` so pixels two annotators agree on are 1 and single-annotator pixels are 0.5.
    """
    out_h, out_w = size
    in_h, in_w = image_size
    count = np.zeros(size, dtype=np.float32)
    for x1, y1, x2, y2 in boxes:
        c1, c2 = int(x1 * out_w / in_w), int(x2 * out_w / in_w)
        r1, r2 = int(y1 * out_h / in_h), int(y2 * out_h / in_h)
        if mode == "union":
            count[r1:r2, c1:c2] = 1.0
        else:
            count[r1:r2, c1:c2] += 1.0
    if mode == "consensus":
        return np.minimum(count / 2.0, 1.0)
    if mode != "union":
        raise ValueError(f"unknown gt mode {mode!r}")
    return count


def resolve(root: str | Path, relative: str | None) -> Path | None:
    """A record's path made absolute against the dataset root (absolute paths pass through)."""
    if relative is None:
        return None
    path = Path(relative)
    return path if path.is_absolute() else Path(root) / path
