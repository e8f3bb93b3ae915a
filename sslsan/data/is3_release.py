"""The IS3 release (Interactive Synthetic Sound Source; SSL-Align, ICCV 2023) read as queries like IS3+-mini's.

Layout under the dataset root: ``images/<name>.jpg``, ``audio_wav/<name>.wav`` (``audio_waw/`` in the README's
spelling), ``gt_segmentation/<name>.<png|jpg>``, ``IS3_annotation.json``; names ``<objA>_<objB>_<id>_<target>``.
Boxes are floats in 224-px coordinates (see :mod:`sslsan.data.boxes`). The folder format IS3+-mini writes is
:mod:`sslsan.data.is3`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from sslsan.data.boxes import FRAME_SIZE, check_policy, entry_boxes, is3_box_to_pixels, raw_box
from sslsan.data.lists import QueryList, ReadReport, files_in, finish_read, load_json
from sslsan.data.records import AnnotationError, Query, resolve
from sslsan.errors import MissingFileError

IS3_AUDIO_DIRS = ("audio_wav", "audio_waw")  # the release README spells the folder "audio_waw"
IS3_MASK_SUFFIXES = (".png", ".jpg", ".jpeg")


def is3_image_id(name: str) -> str:
    """The image an IS3 annotation belongs to: its name without the last ``_<target>`` token."""
    head, sep, _ = name.rpartition("_")
    if not sep or not head:
        raise AnnotationError(f"IS3 annotation name {name!r} has no '_<target>' suffix")
    return head


def is3_target(name: str) -> str:
    """The sounding object of an IS3 annotation: the last token of its name (``..._baby`` → ``baby``)."""
    is3_image_id(name)
    return name.rpartition("_")[2]


def is3_audio_dir(root: str | Path) -> str:
    """The release's audio folder under ``root``: ``audio_wav`` or, as the README spells it, ``audio_waw``."""
    for name in IS3_AUDIO_DIRS:
        if (Path(root) / name).is_dir():
            return name
    raise MissingFileError(f"IS3 audio folder not found: neither {Path(root) / IS3_AUDIO_DIRS[0]} "
                            f"nor {Path(root) / IS3_AUDIO_DIRS[1]} exists")


@dataclass(frozen=True)
class Is3Annotation:
    """One IS3 annotation: ``name`` (``<objA>_<objB>_<id>_<target>``), the image and audio file names (no folder),
    the published box (224-px floats) and any other fields of the entry."""

    name: str
    image_file: str
    audio_file: str
    box: tuple[float, float, float, float]
    other: Mapping[str, Any]


def _basename(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AnnotationError(f"{where}: {key!r} must be a non-empty path string")
    name = value.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or name in {".", ".."}:
        raise AnnotationError(f"{where}: {key!r} {value!r} has no file name")
    return name


def read_is3_annotations(path: str | Path) -> list[Is3Annotation]:
    """IS3 annotations from ``IS3_annotation.json`` or the SSL-Align repo's ``synthetic3240_bbox.json``.

    Format: a JSON list of ``{"image": ".../<name>.jpg", "audio": ".../<name>.wav", "gt_box": [x1, y1, x2, y2]}``
    (``synthetic3240_bbox.json``: 6,480 entries, absolute cluster paths of which only the file names are used; boxes
    are floats in 224-px coordinates). ``audio`` may be absent (then ``<name>.wav``); other keys are kept in
    ``other``. Names must be unique. The release's ``IS3_annotation.json`` is documented only as "bounding box and
    category per annotation" and is read with this schema (the negative-audio code reads it the same way); a file
    in another schema is an error that says what was found.
    """
    path = Path(path)
    data = load_json(path, "IS3 annotation file")
    if not isinstance(data, list) or not data:
        raise AnnotationError(f"{path}: expected a non-empty JSON list of {{image, audio, gt_box}} objects, "
                              f"got {type(data).__name__}{'' if data else ' (empty)'}")
    out = []
    names: set[str] = set()
    for index, entry in enumerate(data):
        where = f"{path}, entry #{index}"
        if not isinstance(entry, dict) or not {"image", "gt_box"} <= set(entry):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise AnnotationError(f"{where}: expected an object with keys image, gt_box (and audio), got {keys}")
        image_file = _basename(entry["image"], where, "image")
        name = image_file.rsplit(".", 1)[0]
        where = f"{path}, entry #{index} ({name})"
        if not name.rpartition("_")[0]:
            raise AnnotationError(f"{where}: the name has no '_<target>' suffix (expected <objA>_<objB>_<id>_<target>)")
        if name in names:
            raise AnnotationError(f"{where}: the annotation name appears twice")
        names.add(name)
        audio_file = _basename(entry["audio"], where, "audio") if "audio" in entry else f"{name}.wav"
        other = {k: v for k, v in entry.items() if k not in {"image", "audio", "gt_box"}}
        out.append(Is3Annotation(name, image_file, audio_file, raw_box(entry["gt_box"], where), other))
    return out


def _mask_files(directory: Path) -> dict[str, str]:
    """``{stem: file name}`` of the masks in ``gt_segmentation/`` (empty when the folder is absent)."""
    if not directory.is_dir():
        return {}
    out: dict[str, str] = {}
    for entry in os.scandir(directory):
        stem, dot, suffix = entry.name.rpartition(".")
        if not dot or f".{suffix.lower()}" not in IS3_MASK_SUFFIXES or not entry.is_file():
            continue
        if stem in out:
            raise AnnotationError(f"{directory}: two masks for {stem}: {out[stem]} and {entry.name}")
        out[stem] = entry.name
    return out


def read_is3_release(root: str | Path, annotation_file: str | Path = "IS3_annotation.json", *,
                     invalid_boxes: str = "drop", strict: bool = False) -> QueryList:
    """The IS3 release (SSL-Align, ICCV 2023) as queries shaped like IS3+-mini's: two per image.

    Layout under ``root``: ``images/``, ``audio_wav/`` (or ``audio_waw/``), optional ``gt_segmentation/``, and
    ``annotation_file`` (``IS3_annotation.json``, or ``synthetic3240_bbox.json`` from the SSL-Align repository; see
    :func:`read_is3_annotations`). Each annotation ``<objA>_<objB>_<id>_<target>`` becomes a query with
    ``query_id=<name>``, ``image_id=<name without the target>`` (the two queries of an image share it),
    ``class_name=<target>``, ``images/<image file>``, ``<audio dir>/<audio file>``, the box in 224-px
    (:func:`~sslsan.data.boxes.is3_box_to_pixels`), ``gt="union"``, and ``mask=gt_segmentation/<name>.<png|jpg>``
    when present. Images that do not end up with exactly two queries are listed in the report's notes.
    ``invalid_boxes`` and ``strict`` as in :func:`~sslsan.data.vggss.read_vggss`.
    """
    check_policy(invalid_boxes)
    root = Path(root)
    annotation_path = resolve(root, str(annotation_file))
    audio_dir = is3_audio_dir(root)
    report = ReadReport("IS3 release", (str(annotation_path),))
    if audio_dir != IS3_AUDIO_DIRS[0]:
        report.notes.append(f"audio read from {audio_dir}/ (the README's spelling)")
    annotations = read_is3_annotations(annotation_path)
    report.listed = len(annotations)
    images = files_in(root / "images", "", "IS3 images")
    audio = files_in(root / audio_dir, "", "IS3 audio")
    masks = _mask_files(root / "gt_segmentation")
    queries = []
    for item in annotations:
        lacking = tuple(path for path, present in ((f"images/{item.image_file}", item.image_file in images),
                                                   (f"{audio_dir}/{item.audio_file}", item.audio_file in audio))
                        if not present)
        if lacking:
            report.missing[item.name] = lacking
            continue
        extra: dict[str, Any] = {"gt_box": item.box, "annotation": dict(item.other)}
        boxes = entry_boxes(item.name, f"{annotation_path}, {item.name}", [item.box], is3_box_to_pixels,
                            float(FRAME_SIZE), invalid_boxes, report, extra)
        if boxes is None:
            continue
        mask = masks.get(item.name)
        queries.append(Query(query_id=item.name, image_id=is3_image_id(item.name), image=f"images/{item.image_file}",
                             audio=f"{audio_dir}/{item.audio_file}", boxes=boxes,
                             image_size=(FRAME_SIZE, FRAME_SIZE), gt="union",
                             mask=f"gt_segmentation/{mask}" if mask else None, class_name=is3_target(item.name),
                             split="test", extra=extra))
    if masks and len(masks) < len(queries):
        report.notes.append(f"{len(queries) - sum(q.mask is not None for q in queries)} queries have no mask")
    sizes = Counter(q.image_id for q in queries)
    odd = sorted(image for image, count in sizes.items() if count != 2)
    if odd:
        report.notes.append(f"{len(odd)} images do not have exactly two queries (e.g. {', '.join(odd[:3])})")
    return finish_read(queries, report, strict)
