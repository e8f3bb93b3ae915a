"""Published boxes → pixels of the 224×224 frame, and what to do with boxes that are outside it or empty.

Every box ends up in pixels of the 224×224 frame the lineage evaluates on, with the lineage's own rounding, so
:func:`~sslsan.data.records.box_map` reproduces its ground-truth maps exactly:

=================  ====================================================  ===========================================
dataset            annotation as published                               → 224-px box, ground truth
=================  ====================================================  ===========================================
VGG-SS             ``vggss.json``: ``[x1, y1, x2, y2]`` normalised 0..1   ``int(224 * clip(v, 0, 1))``; union (binary)
Flickr-SoundNet    ``Annotations/<id>.xml``: integer pixels of a 256×256  ``int(224 * v / 256)``; consensus
                   frame, boxes of up to 3 annotators                     ``min(count / 2, 1)``
IS3 release        ``{"image", "audio", "gt_box"}`` list, 224-px floats   ``int(v)``; union (binary)
=================  ====================================================  ===========================================

The ``invalid_boxes`` policy of the readers (:data:`INVALID_BOX_POLICIES`): ``"drop"`` leaves out empty boxes and
entries left with none, ``"lineage"`` keeps such entries with an all-zero ground truth (as the lineage scores them),
``"error"`` raises on the first box outside its frame or empty.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from sslsan.data.lists import ReadReport
from sslsan.data.records import AnnotationError
from sslsan.errors import UsageError

FRAME_SIZE = 224  # the lineage resizes every test frame to 224×224 and draws its ground truth there
FLICKR_ANNOTATION_SIZE = 256  # Flickr-SoundNet XML boxes are pixels of a 256×256 frame

INVALID_BOX_POLICIES = ("drop", "lineage", "error")

Pixels = tuple[int, int, int, int]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def raw_box(value: Any, where: str) -> tuple[float, float, float, float]:
    """A published box as four finite numbers; anything else is an error naming ``where``."""
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(_is_number(v) for v in value):
        raise AnnotationError(f"{where}: box {value!r} is not a list of 4 numbers")
    if not all(math.isfinite(v) for v in value):
        raise AnnotationError(f"{where}: box {value!r} has a non-finite coordinate")
    return tuple(value)  # type: ignore[return-value]


def vggss_box_to_pixels(box: Sequence[float]) -> Pixels:
    """A VGG-SS box (``[x1, y1, x2, y2]`` normalised to 0..1) in 224-px: ``int(224 * clip(v, 0, 1))`` per coordinate.

    This is EZ-VSL's ``(np.clip(box, 0, 1) * 224).astype(int)`` (LVS: ``int(224 * max(v, 0))``, the same on the
    published file, whose largest coordinate is 1.0).
    """
    return tuple(int(FRAME_SIZE * min(max(float(v), 0.0), 1.0)) for v in box)  # type: ignore[return-value]


def flickr_box_to_pixels(box: Sequence[int]) -> Pixels:
    """A Flickr-SoundNet box (integer pixels of the 256×256 frame) in 224-px: ``int(224 * v / 256)``.

    Coordinates are clipped to [0, 256] first; for values above 256 this equals the lineage (numpy slicing stops at
    224). The lineage does not handle negative values (they would wrap around); none are expected.
    """
    return tuple(int(FRAME_SIZE * min(max(v, 0), FLICKR_ANNOTATION_SIZE) / FLICKR_ANNOTATION_SIZE)
                 for v in box)  # type: ignore[return-value]


def is3_box_to_pixels(box: Sequence[float]) -> Pixels:
    """An IS3 box (floats in 224-px coordinates) in 224-px: ``int(v)`` (SSL-Align / vssl_eval), clipped to [0, 224]."""
    return tuple(int(min(max(float(v), 0.0), float(FRAME_SIZE))) for v in box)  # type: ignore[return-value]


def _outside(box: Sequence[float], upper: float) -> bool:
    return any(v < 0 or v > upper for v in box)


def resolve_boxes(owner: str, raw_boxes: Sequence[Sequence[float]], to_pixels: Callable, upper: float,
                  policy: str, report: ReadReport) -> tuple[Pixels, ...]:
    """Convert ``raw_boxes`` to 224-px boxes under the ``invalid_boxes`` policy; record every clip and drop.

    ``upper`` is the largest valid raw coordinate (1 for VGG-SS, 256 for Flickr, 224 for IS3). A box with raw
    coordinates outside ``[0, upper]`` is clipped (as the lineage does) unless ``policy == "error"``; a box that is
    empty in the 224 frame is dropped (the lineage draws it as nothing) unless ``policy == "error"``.
    """
    kept = []
    for index, raw in enumerate(raw_boxes):
        pixels = to_pixels(raw)
        empty = pixels[0] >= pixels[2] or pixels[1] >= pixels[3]
        outside = _outside(raw, upper)
        label = f"{owner}, box #{index} {list(raw)}"
        if policy == "error" and (outside or empty):
            problem = "has coordinates outside the image" if outside else f"is empty in the 224 frame ({pixels})"
            raise AnnotationError(f"{label} {problem}")
        if outside:
            report.clipped_boxes.append(f"{label} clipped to {pixels}")
        if empty:
            report.dropped_boxes.append(f"{label} is empty in the 224 frame ({pixels})")
            continue
        kept.append(pixels)
    return tuple(kept)


def check_policy(policy: str) -> None:
    if policy not in INVALID_BOX_POLICIES:
        raise UsageError(f"invalid_boxes must be one of {INVALID_BOX_POLICIES}, not {policy!r}")


def entry_boxes(entry: str, where: str, raw_boxes: Sequence[Sequence[float]], to_pixels: Callable, upper: float,
                policy: str, report: ReadReport, extra: dict[str, Any]) -> tuple[Pixels, ...] | None:
    """The 224-px boxes of one entry under ``policy`` (:func:`resolve_boxes`, errors naming ``where``), or ``None``
    when the entry is left out for having none (``"drop"``); one kept with none (``"lineage"``) gets
    ``extra["empty_gt"] = True``."""
    boxes = resolve_boxes(where, raw_boxes, to_pixels, upper, policy, report)
    if boxes:
        return boxes
    if policy == "lineage":
        report.empty_gt.append(entry)
        extra["empty_gt"] = True
        return boxes
    report.dropped_queries.append(entry)
    return None
