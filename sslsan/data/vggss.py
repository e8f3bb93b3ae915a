"""VGG-SS (VGG-Sound Sources; Chen et al., CVPR 2021): the test lists and ``vggss.json``'s boxes.

Layout under the dataset root: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``vggss.json``, ``vggss_test.csv``
(+ heard/unheard lists); ``<id> = <youtube id>_<start seconds, 6 digits>`` (e.g. ``zpWuikVorYg_000032``).

Known differences between the published files (pinned in :data:`sslsan.data.metadata.PINNED`):

- the heard / unheard test lists hold 2,564 / 2,575 ids (their last line has no newline, so ``wc -l`` says
  2,563 / 2,574, the numbers often quoted);
- ``vggss.json`` has 18 boxes that are empty after the lineage's clip-and-truncate (12 of them carry garbage
  coordinates such as ``-2.88e16``) and two entries (``M1P1xla8rg0_000000``, ``MKC9LvRivTM_000030``) with no
  non-empty box at all; the lineage scores those two as guaranteed failures (all-zero ground truth).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslsan.data.boxes import FRAME_SIZE, check_policy, entry_boxes, raw_box, vggss_box_to_pixels
from sslsan.data.lists import (QueryList, ReadReport, check_id, dedupe, finish_read, load_json, missing_media,
                               read_id_list)
from sslsan.data.records import AnnotationError, Query, resolve
from sslsan.errors import UsageError

VGGSS_TEST_LISTS = {"test": "vggss_test.csv", "heard": "vggss_heard_test.csv", "unheard": "vggss_unheard_test.csv"}
VGGSS_LIST_SIZES = {"test": 5158, "heard": 2564, "unheard": 2575}


@dataclass(frozen=True)
class VggssAnnotation:
    """One ``vggss.json`` entry: clip id, class name and its boxes as published (normalised ``[x1, y1, x2, y2]``)."""

    file: str
    class_name: str
    boxes: tuple[tuple[float, float, float, float], ...]


def read_vggss_annotations(path: str | Path) -> dict[str, VggssAnnotation]:
    """``vggss.json`` as ``{clip id: VggssAnnotation}``.

    Format: a JSON list of ``{"file": "<id>", "class": "<name>", "bbox": [[x1, y1, x2, y2], ...]}`` with 1–7 boxes
    normalised to 0..1 (the published file has 5,158 entries). Structural problems (not a list, missing keys, a
    box that is not 4 finite numbers, no boxes, a repeated id) are errors naming the file and the entry; values
    outside 0..1 are left for the reader's ``invalid_boxes`` policy.
    """
    path = Path(path)
    data = load_json(path, "VGG-SS annotation file")
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a JSON list of {{file, class, bbox}} objects, "
                              f"got {type(data).__name__}")
    out: dict[str, VggssAnnotation] = {}
    for index, entry in enumerate(data):
        where = f"{path}, entry #{index}"
        if not isinstance(entry, dict) or not {"file", "class", "bbox"} <= set(entry):
            raise AnnotationError(f"{where}: expected an object with keys file, class, bbox, got {entry!r:.120}")
        if not isinstance(entry["file"], str) or not isinstance(entry["class"], str):
            raise AnnotationError(f"{where}: 'file' and 'class' must be strings")
        clip = check_id(entry["file"], where)
        where = f"{path}, entry #{index} ({clip})"
        if clip in out:
            raise AnnotationError(f"{where}: the id appears twice")
        boxes = entry["bbox"]
        if not isinstance(boxes, list) or not boxes:
            raise AnnotationError(f"{where}: 'bbox' must be a non-empty list of boxes")
        out[clip] = VggssAnnotation(clip, entry["class"], tuple(raw_box(b, where) for b in boxes))
    return out


def read_vggss(root: str | Path, subset: str = "test", *, annotation_file: str | Path = "vggss.json",
               list_file: str | Path | None = None, invalid_boxes: str = "drop", strict: bool = False) -> QueryList:
    """VGG-SS test queries (Chen et al., CVPR 2021) for the ids of a test list that exist on disk.

    ``subset`` picks the list (``"test"``: ``vggss_test.csv``, 5,158 ids; ``"heard"``/``"unheard"``: the EZ-VSL
    open-set lists, 2,564 / 2,575 ids) unless ``list_file`` is given; heard/unheard queries get ``part=subset``.
    Paths are relative to ``root``. One query per clip: ``frames/<id>.jpg`` + ``audio/<id>.wav``, boxes in 224-px
    (:func:`~sslsan.data.boxes.vggss_box_to_pixels`), ``gt="union"``, ``class_name`` from the annotation. The
    published normalised boxes are kept in ``extra["boxes_normalised"]``.

    ``invalid_boxes``: ``"drop"`` (default) leaves out boxes that are empty in the 224 frame and entries left with
    none; ``"lineage"`` keeps such entries with no box (an all-zero ground truth, a guaranteed failure, as the
    lineage scores them) and ``extra["empty_gt"]=True``; ``"error"`` raises :class:`AnnotationError` on the first
    box outside 0..1 or empty. Listed ids without media are counted in ``.report`` (``strict=True`` raises).
    """
    check_policy(invalid_boxes)
    if subset not in VGGSS_TEST_LISTS:
        raise UsageError(f"subset must be one of {sorted(VGGSS_TEST_LISTS)}, not {subset!r}")
    root = Path(root)
    list_path = resolve(root, str(list_file) if list_file is not None else VGGSS_TEST_LISTS[subset])
    annotation_path = resolve(root, str(annotation_file))
    report = ReadReport(f"VGG-SS ({subset})", (str(list_path), str(annotation_path)))
    ids = dedupe(read_id_list(list_path), report)
    report.listed = len(ids)
    if subset == "test" and list_file is None and len(ids) != VGGSS_LIST_SIZES["test"]:
        report.notes.append(f"the list has {len(ids)} ids, the published one {VGGSS_LIST_SIZES['test']}")
    annotations = read_vggss_annotations(annotation_path)
    report.missing = missing_media(root, ((i, i, i) for i in ids), "VGG-SS")
    queries = []
    for clip in ids:
        if clip in report.missing:
            continue
        if clip not in annotations:
            raise AnnotationError(f"{annotation_path}: no entry for listed id {clip} (list {list_path})")
        entry = annotations[clip]
        extra: dict[str, Any] = {"boxes_normalised": entry.boxes}
        boxes = entry_boxes(clip, f"{annotation_path}, {clip}", entry.boxes, vggss_box_to_pixels, 1.0, invalid_boxes,
                            report, extra)
        if boxes is None:
            continue
        queries.append(Query(query_id=clip, image_id=clip, image=f"frames/{clip}.jpg", audio=f"audio/{clip}.wav",
                             boxes=boxes, image_size=(FRAME_SIZE, FRAME_SIZE), gt="union",
                             class_name=entry.class_name, split="test",
                             part=None if subset == "test" else subset, extra=extra))
    return finish_read(queries, report, strict)
