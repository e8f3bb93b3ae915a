"""Readers for the real datasets, and the library code behind ``data_scripts/prepare_*.py``.

Every reader returns a :class:`QueryList`: a plain ``list`` of :class:`~sslsan.data.records.Query` that also carries
a :class:`ReadReport` (``.report``) saying how many ids the list names, how many exist on disk, and which boxes were
clipped or dropped and why. The lineage (EZ-VSL, SLAVC, FNAC, SSL-Align) silently intersects its test lists with the
files on disk and silently draws degenerate boxes as nothing; here every such decision is counted, logged, and can
be made fatal (``strict=True`` for missing media, ``invalid_boxes="error"`` for bad boxes).

Formats and coordinate frames. Every box ends up in pixels of the 224×224 frame the lineage evaluates on, with the
lineage's own rounding, so :func:`~sslsan.data.records.box_map` reproduces its ground-truth maps exactly:

=================  ====================================================  ===========================================
dataset            annotation as published                               → 224-px box, ground truth
=================  ====================================================  ===========================================
VGG-SS             ``vggss.json``: ``[x1, y1, x2, y2]`` normalised 0..1   ``int(224 * clip(v, 0, 1))``; union (binary)
Flickr-SoundNet    ``Annotations/<id>.xml``: integer pixels of a 256×256  ``int(224 * v / 256)``; consensus
                   frame, boxes of up to 3 annotators                     ``min(count / 2, 1)``
IS3 release        ``{"image", "audio", "gt_box"}`` list, 224-px floats   ``int(v)``; union (binary)
=================  ====================================================  ===========================================

Layouts (paths relative to the dataset root given to the reader):

- VGG-SS: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``vggss.json``, ``vggss_test.csv`` (+ heard/unheard lists);
  ``<id> = <youtube id>_<start seconds, 6 digits>`` (e.g. ``zpWuikVorYg_000032``).
- Flickr-SoundNet: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``Annotations/<id>.xml``, ``flickr_test.csv``.
- VGGSound training (``VGGSound-all``): ``frames/<id>.jpg``, ``audio/<id>.wav``, ``vggss_10k.txt``/``vggss_144k.txt``.
- Extended sets (SLAVC): the test layout above plus ``*_test_plus_silent.csv``.
- IS3 release: ``images/<name>.jpg``, ``audio_wav/<name>.wav`` (``audio_waw/`` in the README's spelling),
  ``gt_segmentation/<name>.<png|jpg>``, ``IS3_annotation.json``; names ``<objA>_<objB>_<id>_<target>``.

Known differences between the published lists, pinned here (see :data:`PINNED`):

- Flickr-SoundNet test list: 250 ids in SLAVC / SSL-Align, 249 in EZ-VSL / FNAC / LVS (``3908875350`` missing).
- VGG-SS heard / unheard test lists hold 2,564 / 2,575 ids (their last line has no newline, so ``wc -l`` says
  2,563 / 2,574, the numbers often quoted).
- ``vggss.json`` has 18 boxes that are empty after the lineage's clip-and-truncate (12 of them carry garbage
  coordinates such as ``-2.88e16``) and two entries (``M1P1xla8rg0_000000``, ``MKC9LvRivTM_000030``) with no
  non-empty box at all; the lineage scores those two as guaranteed failures (all-zero ground truth).
- The VGGSound training lists overlap the VGG-SS test list: 238 of the 10k ids and 3,709 of the 144k ids are VGG-SS
  test ids (the lineage trains on them); :func:`read_vggsound_train` can exclude them (``exclude=``).
"""

from __future__ import annotations

import csv
import filecmp
import hashlib
import http.client
import json
import logging
import math
import os
import random
import shutil
import tarfile
import urllib.request
import zipfile
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from sslsan.data.records import AnnotationError, Query, resolve

logger = logging.getLogger(__name__)

FRAME_SIZE = 224  # the lineage resizes every test frame to 224×224 and draws its ground truth there
FLICKR_ANNOTATION_SIZE = 256  # Flickr-SoundNet XML boxes are pixels of a 256×256 frame

INVALID_BOX_POLICIES = ("drop", "lineage", "error")

VGGSS_TEST_LISTS = {"test": "vggss_test.csv", "heard": "vggss_heard_test.csv", "unheard": "vggss_unheard_test.csv"}
VGGSS_LIST_SIZES = {"test": 5158, "heard": 2564, "unheard": 2575}
VGGSOUND_TRAIN_LISTS = {"10k": "vggss_10k.txt", "144k": "vggss_144k.txt"}
VGGSOUND_TRAIN_SIZES = {"10k": 10_000, "144k": 144_000}
EXTENDED_LISTS = {"flickr": "flickr_test_plus_silent.csv", "vggss": "vggss_test_plus_silent.csv"}
EXTENDED_HEADER = ("video", "audio", "label")
NEGATIVE_LABEL = "non-sounding"
IS3_AUDIO_DIRS = ("audio_wav", "audio_waw")  # the release README spells the folder "audio_waw"
IS3_MASK_SUFFIXES = (".png", ".jpg", ".jpeg")

# ----------------------------------------------------------------------------------------------- Flickr lists

FLICKR_EZVSL_MISSING_ID = "3908875350"
FLICKR_TEST_IDS_250: tuple[str, ...] = tuple("""
10000130166 10007936344 10008553263 10009662863 10013411946 10016382545 10031203703 10035917404 10045181004
10060697266 10061269855 10067897816 10069511285 10079676496 10080652613 10106776154 10109936483 10110769444
10111706074 10119607346 10119736773 10129791115 10129813456 10163352444 10165890496 10173808724 10202025415
10221582415 10234680056 10246013484 10268129763 10278084464 10283938426 10289643764 10304554474 10308472565
10369815925 10389014583 10409146004 10409351364 10413912845 10437048305 10440265465 10441843213 10446128125
10451898725 10468313544 10476442285 10476446674 10477544895 10481128583 10520382525 10545790805 10548273474
10549911663 10555704135 10557361454 10610974774 10624261424 10635080206 10654057765 10659354545 10666396623
10667001125 10701841844 10743985374 10751849775 10761625676 10771238614 10795023275 10796050285 10805310706
10847897294 10859255295 10862172945 10939270325 10952523225 10979853044 10980225216 11002352834 11036641226
11050409385 11071986404 11101358996 11154049584 11314266424 11650557765 11764496003 11765015695 11776645404
12015590114 12031178616 12048726756 12066557153 12103535156 12158276143 12328837165 12373955905 12444360833
12512072175 12534178685 12598610153 12599965145 12729873904 13153991894 13234495505 13409856383 13447842855
13579448834 13660204414 13721325644 13861270725 14062380939 14172932360 14174434304 14203929291 14414061986
14566072101 14648401332 14652810592 14678892718 14680986811 14742398172 14778198185 14899015793 15135657108
15210828119 15679023977 15799251138 15994498891 16012165838 16101081359 16369370669 16419739420 16563757295
16659090834 16804898716 16950760048 17140316339 17537079145 19306860381 20854461578 2401957951 2404965389
2432219254 2462141223 2465634368 2499673064 2509250774 2542659118 2630218696 2695985181 2698329253 2766580444
2778088729 2808068937 2811549163 2819123278 2858344348 2895192729 2897081671 2897653916 2907554899 2935372113
2961466546 3012435981 3052033339 3102685146 3109408703 3202731977 3207674548 3230152596 3403348616 3413119417
3416359816 3484198977 3535748358 3568893693 3668283413 3709678770 3719297546 3727937033 3749326537 3790233127
3801318146 3828103578 3896768873 3908875350 3956341886 4007045926 4041216001 4180455681 4303617148 4351373013
4407899725 4479260803 4543136011 4576746825 4646464908 4657718822 4717096777 4755507106 4758950312 4767923306
4876943924 4938432980 4957886467 4965189170 5006362787 5130986168 5179649119 5194793239 5220919991 5237296528
5303633386 5344317532 5480070309 5490101320 5601291878 5607310495 5697766486 5801923729 5873098388 5906878321
5991393107 6067281197 6098668510 6158154336 6185482260 6289328021 6458319057 6669466181 6755812421 6897499873
7178293884 7387939334 7560517176 7623513024 7733838448 7740990330 7897462346 8250285374 8294094053 8311669586
8396975855 9060997789 9309351423 9456627660 9636000842 9761803312
""".split())
"""The 250-id Flickr-SoundNet test list of SLAVC and SSL-Align, in file order (string-sorted)."""

FLICKR_TEST_IDS_249: tuple[str, ...] = tuple(i for i in FLICKR_TEST_IDS_250 if i != FLICKR_EZVSL_MISSING_ID)
"""The 249-id list of EZ-VSL, FNAC and LVS: the 250 list without ``3908875350``."""


def flickr_test_ids(variant: int = 250) -> tuple[str, ...]:
    """The pinned Flickr-SoundNet test ids: ``variant=250`` (SLAVC, SSL-Align) or ``249`` (EZ-VSL, FNAC, LVS)."""
    if variant == 250:
        return FLICKR_TEST_IDS_250
    if variant == 249:
        return FLICKR_TEST_IDS_249
    raise ValueError(f"Flickr-SoundNet test list variant must be 249 or 250, not {variant!r}")


def identify_flickr_list(ids: Iterable[str]) -> str:
    """Which published Flickr-SoundNet test list ``ids`` is: ``"250"``, ``"249"`` or ``"custom (N ids)"``."""
    found = set(ids)
    if found == set(FLICKR_TEST_IDS_250):
        return "250"
    if found == set(FLICKR_TEST_IDS_249):
        return "249"
    return f"custom ({len(found)} ids)"


FLICKR_LIST_NOTES = {
    "250": "Flickr-SoundNet 250-id list (SLAVC, SSL-Align)",
    "249": f"Flickr-SoundNet 249-id list (EZ-VSL, FNAC, LVS: the 250 list without {FLICKR_EZVSL_MISSING_ID})",
}

# ----------------------------------------------------------------------------------------------- reports


class MissingMediaError(FileNotFoundError):
    """Listed ids whose frame or audio is not on disk (raised by readers called with ``strict=True``)."""


@dataclass
class ReadReport:
    """What a reader did: counts, and every id or box it left out, with the reason.

    ``listed`` counts the (de-duplicated) ids or entries the list/annotation names; ``returned`` the queries in the
    result. ``missing`` maps an id to the relative paths that are not on disk. ``clipped_boxes`` are boxes with
    coordinates outside their frame that were clipped (as the lineage does); ``dropped_boxes`` boxes that are empty
    in the 224 frame and were left out (the lineage draws them as nothing); ``dropped_queries`` entries left with no
    box at all (``invalid_boxes="drop"``); ``empty_gt`` entries kept with no box (``invalid_boxes="lineage"``).
    """

    dataset: str
    sources: tuple[str, ...] = ()
    listed: int = 0
    returned: int = 0
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    duplicate_ids: list[str] = field(default_factory=list)
    clipped_boxes: list[str] = field(default_factory=list)
    dropped_boxes: list[str] = field(default_factory=list)
    dropped_queries: list[str] = field(default_factory=list)
    empty_gt: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> int:
        """Listed ids whose media are all on disk."""
        return self.listed - len(self.missing)

    @property
    def clean(self) -> bool:
        """Nothing missing, clipped or dropped."""
        return not (self.missing or self.clipped_boxes or self.dropped_boxes or self.dropped_queries or self.empty_gt)

    def summary(self) -> str:
        """One human-readable paragraph (what the readers log and the prepare scripts print)."""
        parts = [f"{self.dataset}: {self.listed} listed, {self.found} with media on disk, {self.returned} queries"]
        if self.missing:
            examples = ", ".join(sorted(self.missing)[:3])
            parts.append(f"{len(self.missing)} listed ids lack media (e.g. {examples})")
        for label, items in (("duplicate ids ignored", self.duplicate_ids), ("boxes clipped", self.clipped_boxes),
                             ("empty boxes dropped", self.dropped_boxes),
                             ("entries dropped (no valid box)", self.dropped_queries),
                             ("entries kept with an empty ground truth", self.empty_gt)):
            if items:
                parts.append(f"{len(items)} {label}")
        parts.extend(self.notes)
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (used in the prepare scripts' manifests)."""
        out = asdict(self)
        out["sources"] = list(self.sources)
        out["found"] = self.found
        out["missing"] = {k: list(v) for k, v in sorted(self.missing.items())}
        return out


@contextmanager
def quiet_reports(level: int = logging.ERROR):
    """Silence the readers' report warnings for a block (the prepare scripts print the reports themselves)."""
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


class QueryList(list):
    """A ``list`` of :class:`Query` carrying the :class:`ReadReport` of the read that produced it (``.report``)."""

    def __init__(self, queries: Iterable[Query], report: ReadReport):
        super().__init__(queries)
        self.report = report


def _finish(queries: list[Query], report: ReadReport, strict: bool) -> QueryList:
    """Wrap ``queries`` with ``report``; raise on missing media when ``strict``; log a warning when not clean."""
    report.returned = len(queries)
    if strict and report.missing:
        examples = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(report.missing.items())[:5])
        raise MissingMediaError(
            f"{report.dataset}: {len(report.missing)} of {report.listed} listed ids lack media ({examples}"
            f"{' ...' if len(report.missing) > 5 else ''})"
        )
    if not report.clean:
        logger.warning(report.summary())
    else:
        logger.info(report.summary())
    return QueryList(queries, report)


# ----------------------------------------------------------------------------------------------- list files


def _check_id(value: str, where: str) -> str:
    """An id from a list or annotation file: non-empty, no path separators (ids become file names)."""
    if not value or "/" in value or "\\" in value or value in {".", ".."} or value != value.strip():
        raise AnnotationError(f"{where}: {value!r} is not a valid id (empty, padded, or contains a path separator)")
    return value


def _csv_rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV or one-column text list as ``(line number, cells)``.

    CRLF line ends and a missing final newline (both present in the published lists) are accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise AnnotationError(f"{path}: not a readable CSV/text list ({err})") from err
    rows = [(number, [cell.strip() for cell in row]) for number, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise AnnotationError(f"{path}: the {what} is empty")
    return rows


def _dedupe(ids: Sequence[str], report: ReadReport | None) -> list[str]:
    """``ids`` in first-seen order without repeats; repeats are recorded in ``report.duplicate_ids``."""
    seen: set[str] = set()
    out = []
    for item in ids:
        if item in seen:
            if report is not None:
                report.duplicate_ids.append(item)
            continue
        seen.add(item)
        out.append(item)
    return out


def read_id_list(path: str | Path) -> list[str]:
    """Ids from a one-id-per-line list (``vggss_test.csv``, ``vggss_10k.txt``, ...), first column, in file order.

    Repeats are kept (readers de-duplicate and report them). A row whose first cell is empty is an error.
    """
    path = Path(path)
    return [_check_id(cells[0], f"{path} line {number}") for number, cells in _csv_rows(path, "id list")]


def read_flickr_list(path: str | Path) -> list[tuple[str, int]]:
    """Rows ``(id, value)`` of a Flickr-SoundNet test list (``flickr_test.csv``: ``<numeric id>,<int>`` per line).

    The second column is an integer whose meaning the repositories do not document; it is kept in ``extra``.
    """
    path = Path(path)
    rows = []
    for number, cells in _csv_rows(path, "Flickr-SoundNet test list"):
        if len(cells) != 2 or not cells[0].isdigit():
            raise AnnotationError(f"{path} line {number}: expected '<numeric id>,<int>', got {','.join(cells)!r}")
        try:
            value = int(cells[1])
        except ValueError as err:
            raise AnnotationError(f"{path} line {number}: second column {cells[1]!r} is not an integer") from err
        rows.append((cells[0], value))
    return rows


def read_extended_list(path: str | Path) -> list[tuple[str, str]]:
    """Negative pairs ``(video id, audio id)`` of a SLAVC extended list (``*_test_plus_silent.csv``).

    Format: a ``video,audio,label`` header, then one row per negative; every published row has the label
    ``non-sounding`` (frame of clip ``video`` with the audio of clip ``audio``; in VGG-SS 379 rows have
    ``video == audio``: clips whose sound source is not visible). Any other label is an error.
    """
    path = Path(path)
    rows = _csv_rows(path, "extended (plus_silent) list")
    number, header = rows[0]
    if tuple(cell.lower() for cell in header) != EXTENDED_HEADER:
        raise AnnotationError(f"{path} line {number}: expected the header {','.join(EXTENDED_HEADER)!r}, "
                              f"got {','.join(header)!r}")
    pairs = []
    for number, cells in rows[1:]:
        if len(cells) != 3:
            raise AnnotationError(f"{path} line {number}: expected 'video,audio,label', got {','.join(cells)!r}")
        video, audio, label = cells
        if label != NEGATIVE_LABEL:
            raise AnnotationError(f"{path} line {number}: label {label!r} is not {NEGATIVE_LABEL!r}")
        where = f"{path} line {number}"
        pairs.append((_check_id(video, where), _check_id(audio, where)))
    if not pairs:
        raise AnnotationError(f"{path}: the extended list has a header but no rows")
    return pairs


# ----------------------------------------------------------------------------------------------- boxes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _raw_box(value: Any, where: str) -> tuple[float, float, float, float]:
    """A published box as four finite numbers; anything else is an error naming ``where``."""
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(_is_number(v) for v in value):
        raise AnnotationError(f"{where}: box {value!r} is not a list of 4 numbers")
    if not all(math.isfinite(v) for v in value):
        raise AnnotationError(f"{where}: box {value!r} has a non-finite coordinate")
    return tuple(value)  # type: ignore[return-value]


def vggss_box_to_pixels(box: Sequence[float]) -> tuple[int, int, int, int]:
    """A VGG-SS box (``[x1, y1, x2, y2]`` normalised to 0..1) in 224-px: ``int(224 * clip(v, 0, 1))`` per coordinate.

    This is EZ-VSL's ``(np.clip(box, 0, 1) * 224).astype(int)`` (LVS: ``int(224 * max(v, 0))``, the same on the
    published file, whose largest coordinate is 1.0).
    """
    return tuple(int(FRAME_SIZE * min(max(float(v), 0.0), 1.0)) for v in box)  # type: ignore[return-value]


def flickr_box_to_pixels(box: Sequence[int]) -> tuple[int, int, int, int]:
    """A Flickr-SoundNet box (integer pixels of the 256×256 frame) in 224-px: ``int(224 * v / 256)``.

    Coordinates are clipped to [0, 256] first; for values above 256 this equals the lineage (numpy slicing stops at
    224). The lineage does not handle negative values (they would wrap around); none are expected.
    """
    return tuple(int(FRAME_SIZE * min(max(v, 0), FLICKR_ANNOTATION_SIZE) / FLICKR_ANNOTATION_SIZE)
                 for v in box)  # type: ignore[return-value]


def is3_box_to_pixels(box: Sequence[float]) -> tuple[int, int, int, int]:
    """An IS3 box (floats in 224-px coordinates) in 224-px: ``int(v)`` (SSL-Align / vssl_eval), clipped to [0, 224]."""
    return tuple(int(min(max(float(v), 0.0), float(FRAME_SIZE))) for v in box)  # type: ignore[return-value]


def _outside(box: Sequence[float], upper: float) -> bool:
    return any(v < 0 or v > upper for v in box)


def _resolve_boxes(owner: str, raw_boxes: Sequence[Sequence[float]], to_pixels: Callable, upper: float,
                   policy: str, report: ReadReport) -> tuple[tuple[int, int, int, int], ...]:
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


def _check_policy(policy: str) -> None:
    if policy not in INVALID_BOX_POLICIES:
        raise ValueError(f"invalid_boxes must be one of {INVALID_BOX_POLICIES}, not {policy!r}")


def _keep_without_boxes(owner: str, policy: str, report: ReadReport) -> bool:
    """An entry left with no box: keep it with an empty ground truth (``"lineage"``) or drop it (``"drop"``)."""
    if policy == "lineage":
        report.empty_gt.append(owner)
        return True
    report.dropped_queries.append(owner)
    return False


# ----------------------------------------------------------------------------------------------- media on disk


def _files_in(directory: Path, suffix: str, what: str) -> set[str]:
    """Names without ``suffix`` of the files ``*<suffix>`` in ``directory`` (``suffix=""``: whole file names).

    One listing per folder, as the lineage does; the folder must exist.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"{what} folder {directory} does not exist")
    cut = len(suffix)
    return {entry.name[: len(entry.name) - cut] for entry in os.scandir(directory)
            if entry.name.endswith(suffix) and entry.is_file()}


def _missing_pairs(ids: Iterable[tuple[str, str, str]], frames: set[str], audio: set[str], frame_ext: str
                   ) -> dict[str, tuple[str, ...]]:
    """``key -> missing relative paths`` for ``(key, frame id, audio id)`` triples."""
    missing = {}
    for key, frame_id, audio_id in ids:
        lacking = []
        if frame_id not in frames:
            lacking.append(f"frames/{frame_id}{frame_ext}")
        if audio_id not in audio:
            lacking.append(f"audio/{audio_id}.wav")
        if lacking:
            missing[key] = tuple(lacking)
    return missing


# ----------------------------------------------------------------------------------------------- VGG-SS


@dataclass(frozen=True)
class VggssAnnotation:
    """One ``vggss.json`` entry: clip id, class name and its boxes as published (normalised ``[x1, y1, x2, y2]``)."""

    file: str
    class_name: str
    boxes: tuple[tuple[float, float, float, float], ...]


def _load_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: malformed JSON ({err})") from err


def read_vggss_annotations(path: str | Path) -> dict[str, VggssAnnotation]:
    """``vggss.json`` as ``{clip id: VggssAnnotation}``.

    Format: a JSON list of ``{"file": "<id>", "class": "<name>", "bbox": [[x1, y1, x2, y2], ...]}`` with 1–7 boxes
    normalised to 0..1 (the published file has 5,158 entries). Structural problems (not a list, missing keys, a
    box that is not 4 finite numbers, no boxes, a repeated id) are errors naming the file and the entry; values
    outside 0..1 are left for the reader's ``invalid_boxes`` policy.
    """
    path = Path(path)
    data = _load_json(path, "VGG-SS annotation file")
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
        clip = _check_id(entry["file"], where)
        where = f"{path}, entry #{index} ({clip})"
        if clip in out:
            raise AnnotationError(f"{where}: the id appears twice")
        boxes = entry["bbox"]
        if not isinstance(boxes, list) or not boxes:
            raise AnnotationError(f"{where}: 'bbox' must be a non-empty list of boxes")
        out[clip] = VggssAnnotation(clip, entry["class"], tuple(_raw_box(b, where) for b in boxes))
    return out


def read_vggss(root: str | Path, subset: str = "test", *, annotation_file: str | Path = "vggss.json",
               list_file: str | Path | None = None, invalid_boxes: str = "drop", strict: bool = False) -> QueryList:
    """VGG-SS test queries (Chen et al., CVPR 2021) for the ids of a test list that exist on disk.

    ``subset`` picks the list (``"test"``: ``vggss_test.csv``, 5,158 ids; ``"heard"``/``"unheard"``: the EZ-VSL
    open-set lists, 2,564 / 2,575 ids) unless ``list_file`` is given; heard/unheard queries get ``part=subset``.
    Paths are relative to ``root``. One query per clip: ``frames/<id>.jpg`` + ``audio/<id>.wav``, boxes in 224-px
    (:func:`vggss_box_to_pixels`), ``gt="union"``, ``class_name`` from the annotation. The published normalised
    boxes are kept in ``extra["boxes_normalised"]``.

    ``invalid_boxes``: ``"drop"`` (default) leaves out boxes that are empty in the 224 frame and entries left with
    none; ``"lineage"`` keeps such entries with no box (an all-zero ground truth, a guaranteed failure, as the
    lineage scores them) and ``extra["empty_gt"]=True``; ``"error"`` raises :class:`AnnotationError` on the first
    box outside 0..1 or empty. Listed ids without media are counted in ``.report`` (``strict=True`` raises).
    """
    _check_policy(invalid_boxes)
    if subset not in VGGSS_TEST_LISTS:
        raise ValueError(f"subset must be one of {sorted(VGGSS_TEST_LISTS)}, not {subset!r}")
    root = Path(root)
    list_path = resolve(root, str(list_file) if list_file is not None else VGGSS_TEST_LISTS[subset])
    annotation_path = resolve(root, str(annotation_file))
    report = ReadReport(f"VGG-SS ({subset})", (str(list_path), str(annotation_path)))
    ids = _dedupe(read_id_list(list_path), report)
    report.listed = len(ids)
    if subset == "test" and list_file is None and len(ids) != VGGSS_LIST_SIZES["test"]:
        report.notes.append(f"the list has {len(ids)} ids, the published one {VGGSS_LIST_SIZES['test']}")
    annotations = read_vggss_annotations(annotation_path)
    frames = _files_in(root / "frames", ".jpg", "VGG-SS frames")
    audio = _files_in(root / "audio", ".wav", "VGG-SS audio")
    report.missing = _missing_pairs(((i, i, i) for i in ids), frames, audio, ".jpg")
    queries = []
    for clip in ids:
        if clip in report.missing:
            continue
        if clip not in annotations:
            raise AnnotationError(f"{annotation_path}: no entry for listed id {clip} (list {list_path})")
        entry = annotations[clip]
        boxes = _resolve_boxes(f"{annotation_path}, {clip}", entry.boxes, vggss_box_to_pixels, 1.0, invalid_boxes,
                               report)
        extra: dict[str, Any] = {"boxes_normalised": entry.boxes}
        if not boxes:
            if not _keep_without_boxes(clip, invalid_boxes, report):
                continue
            extra["empty_gt"] = True
        queries.append(Query(query_id=clip, image_id=clip, image=f"frames/{clip}.jpg", audio=f"audio/{clip}.wav",
                             boxes=boxes, image_size=(FRAME_SIZE, FRAME_SIZE), gt="union",
                             class_name=entry.class_name, split="test",
                             part=None if subset == "test" else subset, extra=extra))
    return _finish(queries, report, strict)


# ----------------------------------------------------------------------------------------------- Flickr-SoundNet

_XML_COORDINATES = ("xmin", "ymin", "xmax", "ymax")


def read_flickr_xml(path: str | Path) -> tuple[tuple[int, int, int, int], ...]:
    """The boxes of one Flickr-SoundNet annotation file, ``(xmin, ymin, xmax, ymax)`` in 256×256 pixels.

    Structure (as every public parser reads it): root → children → ``<bbox>`` elements; inside a ``<bbox>`` the first
    child is not a coordinate and the next four are ``xmin, ymin, xmax, ymax`` as integers. Boxes come from up to
    three annotators and are returned in file order. Like the lineage, coordinates are read by position; when the
    four elements are named after coordinates they must be in that order. Grandchildren that are not ``<bbox>``
    are ignored (the lineage would crash on them). Malformed XML, a ``<bbox>`` without exactly five children,
    a non-integer coordinate, or no ``<bbox>`` at all is an :class:`AnnotationError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Flickr-SoundNet annotation file {path} does not exist")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise AnnotationError(f"{path}: malformed XML ({err})") from err
    boxes = []
    for child in root:
        for element in child:
            if element.tag != "bbox":
                continue
            where = f"{path}, <bbox> #{len(boxes)}"
            fields = list(element)
            if len(fields) != 5:
                raise AnnotationError(f"{where}: expected 5 children (a label, then xmin, ymin, xmax, ymax), "
                                      f"got {len(fields)}: {[f.tag for f in fields]}")
            coordinates = fields[1:]
            tags = [f.tag.lower() for f in coordinates]
            if any(tag in _XML_COORDINATES for tag in tags) and tags != list(_XML_COORDINATES):
                raise AnnotationError(f"{where}: coordinates must be xmin, ymin, xmax, ymax in this order, got {tags}")
            try:
                values = tuple(int((f.text or "").strip()) for f in coordinates)
            except ValueError as err:
                raise AnnotationError(f"{where}: a coordinate is not an integer "
                                      f"({[f.text for f in coordinates]})") from err
            boxes.append(values)
    if not boxes:
        raise AnnotationError(f"{path}: no <bbox> element (expected root → children → <bbox>)")
    return tuple(boxes)  # type: ignore[return-value]


def read_flickr(root: str | Path, list_file: str | Path = "flickr_test.csv", *,
                annotation_dir: str | Path = "Annotations", invalid_boxes: str = "drop",
                strict: bool = False) -> QueryList:
    """Flickr-SoundNet test queries (Senocak et al., CVPR 2018) for the listed ids that exist on disk.

    ``list_file`` is ``flickr_test.csv`` (``<id>,<int>`` rows): 250 ids in SLAVC/SSL-Align, 249 in EZ-VSL/FNAC/LVS;
    the report's notes say which one was read (:func:`identify_flickr_list`). One query per image:
    ``frames/<id>.jpg`` + ``audio/<id>.wav``, boxes of all annotators from ``Annotations/<id>.xml`` scaled
    256 → 224 with :func:`flickr_box_to_pixels`, ``gt="consensus"`` (``min(count / 2, 1)``: 1 where two annotators
    agree, 0.5 where one does). ``extra`` keeps the 256-px boxes, the annotation path and the list's second column.
    ``invalid_boxes`` and ``strict`` as in :func:`read_vggss`. A listed id with media but no XML is an error.
    """
    _check_policy(invalid_boxes)
    root = Path(root)
    list_path = resolve(root, str(list_file))
    annotation_root = resolve(root, str(annotation_dir))
    report = ReadReport("Flickr-SoundNet", (str(list_path), str(annotation_root)))
    rows = read_flickr_list(list_path)
    values = {}
    for clip, value in rows:
        values.setdefault(clip, value)
    ids = _dedupe([clip for clip, _ in rows], report)
    report.listed = len(ids)
    variant = identify_flickr_list(ids)
    report.notes.append(FLICKR_LIST_NOTES.get(variant, f"Flickr-SoundNet {variant} list"))
    if not annotation_root.is_dir():
        raise FileNotFoundError(f"Flickr-SoundNet annotation folder {annotation_root} does not exist")
    frames = _files_in(root / "frames", ".jpg", "Flickr-SoundNet frames")
    audio = _files_in(root / "audio", ".wav", "Flickr-SoundNet audio")
    report.missing = _missing_pairs(((i, i, i) for i in ids), frames, audio, ".jpg")
    queries = []
    for clip in ids:
        if clip in report.missing:
            continue
        xml_path = annotation_root / f"{clip}.xml"
        if not xml_path.is_file():
            raise FileNotFoundError(f"Flickr-SoundNet annotation file {xml_path} for listed id {clip} does not exist")
        raw = read_flickr_xml(xml_path)
        boxes = _resolve_boxes(str(xml_path), raw, flickr_box_to_pixels, FLICKR_ANNOTATION_SIZE, invalid_boxes,
                               report)
        extra: dict[str, Any] = {"boxes_256": raw, "annotation": _relative(xml_path, root),
                                 "list_value": values[clip]}
        if not boxes:
            if not _keep_without_boxes(clip, invalid_boxes, report):
                continue
            extra["empty_gt"] = True
        queries.append(Query(query_id=clip, image_id=clip, image=f"frames/{clip}.jpg", audio=f"audio/{clip}.wav",
                             boxes=boxes, image_size=(FRAME_SIZE, FRAME_SIZE), gt="consensus", split="test",
                             extra=extra))
    return _finish(queries, report, strict)


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute (records keep paths relative to the root)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


# ----------------------------------------------------------------------------------------------- training lists


def read_vggsound_train(root: str | Path, list_file: str | Path = "vggss_144k.txt", *, frame_ext: str = ".jpg",
                        exclude: Iterable[str] = (), strict: bool = False) -> QueryList:
    """Training queries (no boxes) for the ids of a VGGSound training list that exist on disk.

    ``root`` is the ``VGGSound-all`` folder (``audio/<id>.wav``, ``frames/<id><frame_ext>``; FNAC's frames are
    ``.png``); ``list_file`` is ``vggss_10k.txt`` (10,000 ids) or ``vggss_144k.txt`` (144,000), one id per line
    (the same reader serves Flickr-all with ``flickr_10k.txt`` / ``flickr_144k.txt``). ``exclude`` removes ids
    before the media check, e.g. the VGG-SS test ids, which the published lists contain (238 of the 10k, 3,709 of
    the 144k); the number removed is in the report's notes. Queries: ``split="train"``, ``class_name=None``.
    """
    root = Path(root)
    list_path = resolve(root, str(list_file))
    report = ReadReport(f"VGGSound training ({Path(list_path).name})", (str(list_path),))
    ids = _dedupe(read_id_list(list_path), report)
    excluded = set(exclude)
    if excluded:
        before = len(ids)
        ids = [i for i in ids if i not in excluded]
        report.notes.append(f"{before - len(ids)} listed ids excluded by the caller")
    report.listed = len(ids)
    frames = _files_in(root / "frames", frame_ext, "training frames")
    audio = _files_in(root / "audio", ".wav", "training audio")
    report.missing = _missing_pairs(((i, i, i) for i in ids), frames, audio, frame_ext)
    queries = [Query(query_id=i, image_id=i, image=f"frames/{i}{frame_ext}", audio=f"audio/{i}.wav", split="train")
               for i in ids if i not in report.missing]
    return _finish(queries, report, strict)


# ----------------------------------------------------------------------------------------------- extended sets


def read_extended(root: str | Path, list_file: str | Path, *, frame_ext: str = ".jpg",
                  strict: bool = False) -> QueryList:
    """The negative queries of a SLAVC extended test set (``flickr_test_plus_silent.csv``: 250 rows,
    ``vggss_test_plus_silent.csv``: 5,158 rows).

    Each row pairs the frame of clip ``video`` with the audio of clip ``audio`` (no visible source): query
    ``neg:<video>:<audio>``, ``image_id=<video>``, ``frames/<video>.jpg`` + ``audio/<audio>.wav``, no boxes,
    ``extra={"negative": True, "audio_id": ..., "same_clip": video == audio}``. The extended benchmark is these
    negatives plus the positives of :func:`read_flickr` / :func:`read_vggss` on the same root.
    """
    root = Path(root)
    list_path = resolve(root, str(list_file))
    report = ReadReport(f"extended negatives ({Path(list_path).name})", (str(list_path),))
    pairs = read_extended_list(list_path)
    keys = [f"neg:{video}:{audio}" for video, audio in pairs]
    unique = _dedupe(keys, report)
    report.listed = len(unique)
    frames = _files_in(root / "frames", frame_ext, "frames")
    audio_files = _files_in(root / "audio", ".wav", "audio")
    by_key = dict(zip(keys, pairs))
    report.missing = _missing_pairs(((k, *by_key[k]) for k in unique), frames, audio_files, frame_ext)
    same = sum(1 for k in unique if by_key[k][0] == by_key[k][1])
    report.notes.append(f"{same} negatives use the frame and audio of the same clip")
    queries = []
    for key in unique:
        if key in report.missing:
            continue
        video, audio = by_key[key]
        queries.append(Query(query_id=key, image_id=video, image=f"frames/{video}{frame_ext}",
                             audio=f"audio/{audio}.wav", split="test",
                             extra={"negative": True, "label": NEGATIVE_LABEL, "audio_id": audio,
                                    "same_clip": video == audio}))
    return _finish(queries, report, strict)


# ----------------------------------------------------------------------------------------------- IS3 release


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
    raise FileNotFoundError(f"IS3 audio folder not found: neither {Path(root) / IS3_AUDIO_DIRS[0]} "
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
    data = _load_json(path, "IS3 annotation file")
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
        out.append(Is3Annotation(name, image_file, audio_file, _raw_box(entry["gt_box"], where), other))
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
    (:func:`is3_box_to_pixels`), ``gt="union"``, and ``mask=gt_segmentation/<name>.<png|jpg>`` when present.
    Images that do not end up with exactly two queries are listed in the report's notes.
    ``invalid_boxes`` and ``strict`` as in :func:`read_vggss`.
    """
    _check_policy(invalid_boxes)
    root = Path(root)
    annotation_path = resolve(root, str(annotation_file))
    audio_dir = is3_audio_dir(root)
    report = ReadReport("IS3 release", (str(annotation_path),))
    if audio_dir != IS3_AUDIO_DIRS[0]:
        report.notes.append(f"audio read from {audio_dir}/ (the README's spelling)")
    annotations = read_is3_annotations(annotation_path)
    report.listed = len(annotations)
    images = _files_in(root / "images", "", "IS3 images")
    audio = _files_in(root / audio_dir, "", "IS3 audio")
    masks = _mask_files(root / "gt_segmentation")
    queries = []
    for item in annotations:
        lacking = tuple(path for path, present in ((f"images/{item.image_file}", item.image_file in images),
                                                   (f"{audio_dir}/{item.audio_file}", item.audio_file in audio))
                        if not present)
        if lacking:
            report.missing[item.name] = lacking
            continue
        boxes = _resolve_boxes(f"{annotation_path}, {item.name}", [item.box], is3_box_to_pixels, float(FRAME_SIZE),
                               invalid_boxes, report)
        extra: dict[str, Any] = {"gt_box": item.box, "annotation": dict(item.other)}
        if not boxes:
            if not _keep_without_boxes(item.name, invalid_boxes, report):
                continue
            extra["empty_gt"] = True
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
    return _finish(queries, report, strict)


# ----------------------------------------------------------------------------------------------- offscreen audio


def class_files_dict(queries: Iterable[Query]) -> dict[str, list[str]]:
    """``{class name: sorted audio paths}`` over the positive queries that have a class (IS3-style class dict).

    Used for offscreen negatives (the companion paper's protocol): a random clip of a class absent from the image.
    Negative queries (``extra["negative"]``) and queries without a class are skipped.
    """
    out: dict[str, set[str]] = defaultdict(set)
    for query in queries:
        if query.class_name is None or query.audio is None or query.extra.get("negative"):
            continue
        out[query.class_name].add(query.audio)
    return {name: sorted(files) for name, files in sorted(out.items())}


def image_classes(queries: Iterable[Query]) -> dict[str, frozenset[str]]:
    """``{image id: classes of its queries}``: one class for VGG-SS, both objects' classes for IS3."""
    out: dict[str, set[str]] = defaultdict(set)
    for query in queries:
        if query.class_name is not None and not query.extra.get("negative"):
            out[query.image_id].add(query.class_name)
    return {image: frozenset(classes) for image, classes in out.items()}


def offscreen_classes(query: Query, class_files: Mapping[str, Sequence[str]],
                      classes_by_image: Mapping[str, frozenset[str]]) -> list[str]:
    """Sorted classes an offscreen clip for ``query`` may come from: every class not present in its image.

    For IS3 both objects' classes are removed (not only the queried target), as in the negative-audio code.
    """
    present = classes_by_image.get(query.image_id, frozenset())
    if query.class_name is not None:
        present = present | {query.class_name}
    remaining = sorted(set(class_files) - present)
    if not remaining:
        raise ValueError(f"no class is absent from image {query.image_id} (classes {sorted(present)})")
    return remaining


def sample_offscreen(query: Query, class_files: Mapping[str, Sequence[str]],
                     classes_by_image: Mapping[str, frozenset[str]], rng: random.Random) -> str:
    """An offscreen audio path for ``query``: a uniformly drawn absent class, then a uniformly drawn clip of it
    (``rng.choice(sorted(classes))`` then ``rng.choice(files)``, the companion code's two draws)."""
    name = rng.choice(offscreen_classes(query, class_files, classes_by_image))
    files = class_files[name]
    if not files:
        raise ValueError(f"class {name!r} has no audio files")
    return rng.choice(list(files))


def write_class_files_json(class_files: Mapping[str, Sequence[str]], path: str | Path, *, stems: bool = False
                           ) -> Path:
    """Save a class dict as JSON: ``{class: [audio path, ...]}`` (IS3+-mini's ``class_files_dict.json``), or with
    ``stems=True`` the negative-audio code's ``{class: [file stem, ...]}``. Rewritten only when it changes."""
    path = Path(path)
    content = {name: sorted(Path(f).stem if stems else str(f) for f in files)
               for name, files in sorted(class_files.items())}
    _write_text_if_changed(path, json.dumps(content, indent=1, sort_keys=True) + "\n")
    return path


def read_class_files_json(path: str | Path, *, audio_dir: str | None = None) -> dict[str, list[str]]:
    """Load ``{class: [file, ...]}``. With ``audio_dir`` the values are the negative-audio code's file stems and
    become ``"<audio_dir>/<stem>.wav"``; without it they are returned as written (audio paths)."""
    path = Path(path)
    data = _load_json(path, "class dict")
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(s, str) for s in v)
                                             for v in data.values()):
        raise AnnotationError(f"{path}: expected a JSON object {{class: [file, ...]}}")
    if audio_dir is None:
        return {name: list(files) for name, files in sorted(data.items())}
    return {name: [f"{audio_dir}/{_check_id(stem, str(path))}.wav" for stem in stems]
            for name, stems in sorted(data.items())}


# ----------------------------------------------------------------------------------------------- pinned metadata


@dataclass(frozen=True)
class PinnedFile:
    """A metadata file from a public GitHub repository, pinned by commit and sha256.

    ``sha256`` is the pinned file's digest; ``equivalent`` lists digests of byte-different copies with the same
    content (e.g. SLAVC's ``flickr_test.csv``, which lacks the final newline). ``rows`` is the number of ids or
    entries it holds.
    """

    name: str
    repo: str
    commit: str
    path: str
    sha256: str
    rows: int
    about: str
    equivalent: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{self.repo}/{self.commit}/{self.path}"

    @property
    def digests(self) -> tuple[str, ...]:
        return (self.sha256, *self.equivalent)


_EZVSL = ("stoneMo/EZ-VSL", "95ff5bff30191fed11856699a7669419fa59b356")
_SLAVC = ("stoneMo/SLAVC", "05b429c6f474ca6f1070d08e1d0142948d1625bf")
_SSLALIGN = ("kaistmm/SSLalignment", "e7ae3c5518e5a4d911c49e034d906612cf922aff")


def _pin(name: str, source: tuple[str, str], path: str, sha256: str, rows: int, about: str,
         equivalent: tuple[str, ...] = ()) -> PinnedFile:
    return PinnedFile(name, source[0], source[1], path, sha256, rows, about, equivalent)


PINNED: dict[str, PinnedFile] = {p.name: p for p in (
    _pin("vggss.json", _EZVSL, "metadata/vggss.json",
         "ae300b4a259267e6fe839970d495862edd70bfe3da63d925bcdb34054ed3b15e", 5158,
         "VGG-SS boxes (same file in LVS, SLAVC, SSL-Align)"),
    _pin("vggss_test.csv", _EZVSL, "metadata/vggss_test.csv",
         "971081929d45caf21a148a6ca968822d96e8316331d0cc0bafb1783acb4d2c35", 5158, "VGG-SS test ids"),
    _pin("vggss_heard_test.csv", _EZVSL, "metadata/vggss_heard_test.csv",
         "70a01c6828e7b84531823616ebb2e32e75bbaf5e44c715fa366b61111ab33c4e", 2564, "VGG-SS heard test ids"),
    _pin("vggss_unheard_test.csv", _EZVSL, "metadata/vggss_unheard_test.csv",
         "11883813db359df63e1a28f69bb53e1ceef7f5b8d68e0149de5792540acb9e17", 2575, "VGG-SS unheard test ids"),
    _pin("vggss_test_plus_silent.csv", _SLAVC, "metadata/vggss_test_plus_silent.csv",
         "905a009428e16d1108e5af112d8e682dbe1702a2ed897b3d56753ff587018e4e", 5158,
         "Extended VGG-SS negatives (379 same-clip, 4,779 mismatched)"),
    _pin("vggss_10k.txt", _EZVSL, "metadata/vggss_10k.txt",
         "9a19023b17aedc79001bbcb69ccd5c96f6af2f7b8ef1b12fa92a76050a0ae43e", 10_000, "VGGSound-10k training ids"),
    _pin("vggss_144k.txt", _EZVSL, "metadata/vggss_144k.txt",
         "a9a02f704e8bb2d746c43860e5830e7589e9311de5bd067459484ec5bb4bd529", 144_000, "VGGSound-144k training ids"),
    _pin("flickr_test.csv", _SSLALIGN, "metadata/flickr_test.csv",
         "238dbe3d91befda692b9b8a9a1a0c2e14b1642de0801c8459adf59ae7f11f268", 250,
         "Flickr-SoundNet test ids, 250 (SLAVC, SSL-Align)",
         ("e5c04bd722fc73a2daafcdafe9e10068d198c5df168300db4e05aa61b4ef71ed",)),  # SLAVC's copy (no final newline)
    _pin("flickr_test_249.csv", _SSLALIGN, "metadata/flickr_test_249.csv",
         "faf5465bdb991cfb7506ccadef64dfea9e9bceb47e895d0e4dbdc2a0ca622871", 249,
         "Flickr-SoundNet test ids, 249 (EZ-VSL/FNAC/LVS's flickr_test.csv, byte-identical)"),
    _pin("flickr_test_plus_silent.csv", _SLAVC, "metadata/flickr_test_plus_silent.csv",
         "45a0d32b64a9ef9e567d3eaf4a4a29683cdb0f7f4e1924a0e26cde24fa298643", 250,
         "Extended Flickr-SoundNet negatives (all mismatched)"),
    _pin("synthetic3240_bbox.json", _SSLALIGN, "metadata/synthetic3240_bbox.json",
         "fb0314fcc42e8bfdcfb24115e4cbbbbdfa2e0a53d59ca424c5308c0147ecde34", 6480,
         "IS3 boxes, 224-px, 6,480 annotations of 3,240 images"),
)}

DATASET_METADATA: dict[str, tuple[str, ...]] = {
    "vggss": ("vggss.json", "vggss_test.csv", "vggss_heard_test.csv", "vggss_unheard_test.csv",
              "vggss_test_plus_silent.csv"),
    "flickr": ("flickr_test.csv", "flickr_test_249.csv", "flickr_test_plus_silent.csv"),
    "vggsound": ("vggss_10k.txt", "vggss_144k.txt"),
    "is3": ("synthetic3240_bbox.json",),
}

SOURCES: dict[str, str] = {
    "vggss": "http://www.robots.ox.ac.uk/~vgg/research/lvs/",  # LVS project page: VGG-SS
    "vggsound": "https://www.robots.ox.ac.uk/~vgg/data/vggsound/",  # vggsound.csv: YouTube ids + start times
    "flickr": "https://github.com/ardasnck/learning_to_localize_sound_source",  # 5k annotated pairs (Senocak et al.)
    "soundnet": "http://soundnet.csail.mit.edu/",  # Flickr-SoundNet training videos
    "extended_flickr": "https://drive.google.com/file/d/1Z7mtXpml0gj2qUEIhFjWvBRryk4DRXot/view?usp=sharing",
    "extended_vggss": "https://drive.google.com/file/d/1dcaSyJ8xyfCPKmESDLyKucglm-1ROEOt/view?usp=sharing",
    "is3": "https://drive.google.com/file/d/1j-2sY6aJMS9kTpamaJM-4vg9eI-40VFB/view?usp=sharing",  # SSLalignment README
    "is3_previous": "https://drive.google.com/file/d/12jq7-Ke09ZPoUI1od44q97DNLrThoHc3/view?usp=sharing",
}
"""Where the media live (Google Drive / YouTube / project pages: downloaded by hand, never by sslsan)."""


class ChecksumError(ValueError):
    """A file whose sha256 is not the pinned one."""


class DownloadError(RuntimeError):
    """A download that failed (typically: no internet); the message says how to get the file by hand."""


_urlopen = urllib.request.urlopen  # the one network entry point; the test suite replaces it and never goes online


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_pinned(path: str | Path, name: str) -> str:
    """The sha256 of ``path`` if it is the pinned ``name`` (or a known equivalent copy); else :class:`ChecksumError`."""
    pinned = PINNED[name]
    actual = sha256_file(path)
    if actual not in pinned.digests:
        raise ChecksumError(f"{path}: sha256 {actual} is not the pinned {name} ({pinned.sha256}, "
                            f"{pinned.repo}@{pinned.commit[:7]}:{pinned.path}); replace it with the pinned file "
                            f"(the prepare scripts: --overwrite with --fetch-metadata or --metadata-dir)")
    return actual


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fetch_pinned(name: str, dest_dir: str | Path, *, timeout: float = 30.0, overwrite: bool = False) -> Path:
    """Download the pinned metadata file ``name`` from raw.githubusercontent.com into ``dest_dir`` (needs internet).

    Idempotent: a present file with the pinned sha256 is kept as is. A present file with another digest is a
    :class:`ChecksumError` unless ``overwrite``. The download is checked against the pinned sha256 before it is
    written (atomically). Offline or HTTP failures raise :class:`DownloadError` with the URL to fetch by hand.
    """
    pinned = PINNED[name]
    dest = Path(dest_dir) / name
    if dest.exists() and not overwrite:
        check_pinned(dest, name)
        return dest
    try:
        with _urlopen(pinned.url, timeout=timeout) as response:
            data = response.read()
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(f"could not download {pinned.url} ({err}). Without internet, download it elsewhere and "
                            f"put it at {dest}, or pass its folder with --metadata-dir; its sha256 must be "
                            f"{pinned.sha256}") from err
    actual = hashlib.sha256(data).hexdigest()
    if actual not in pinned.digests:
        raise ChecksumError(f"download of {pinned.url} has sha256 {actual}, expected {pinned.sha256}")
    _write_bytes_atomic(dest, data)
    return dest


def install_pinned(name: str, source: str | Path, dest_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Copy a local copy of the pinned file ``name`` into ``dest_dir`` after checking its sha256 (idempotent)."""
    source = Path(source)
    check_pinned(source, name)
    dest = Path(dest_dir) / name
    if dest.exists():
        if sha256_file(dest) == sha256_file(source):
            return dest
        if not overwrite:
            raise FileExistsError(f"{dest} exists and differs from {source}; pass overwrite to replace it")
    _write_bytes_atomic(dest, source.read_bytes())
    return dest


@dataclass(frozen=True)
class MetadataStatus:
    """How :func:`obtain_metadata` got one file: ``present``, ``installed``, ``fetched`` or ``missing``."""

    name: str
    state: str
    sha256: str | None
    detail: str


def obtain_metadata(names: Iterable[str], dest_dir: str | Path, *, metadata_dir: str | Path | None = None,
                    fetch: bool = False, timeout: float = 30.0, overwrite: bool = False) -> list[MetadataStatus]:
    """Make the pinned files ``names`` present and verified in ``dest_dir``.

    For each file, in order: already in ``dest_dir`` (verified; with ``overwrite`` it is replaced when a source
    below is available) → copied from ``metadata_dir`` (verified) → downloaded when ``fetch`` (verified) →
    reported ``missing`` with its URL. A present file with a wrong digest raises :class:`ChecksumError`; a failed
    download raises :class:`DownloadError`.
    """
    statuses = []
    for name in names:
        pinned = PINNED[name]
        dest = Path(dest_dir) / name
        local = Path(metadata_dir) / name if metadata_dir is not None else None
        has_local = local is not None and local.is_file()
        if dest.exists() and not (overwrite and (has_local or fetch)):
            statuses.append(MetadataStatus(name, "present", check_pinned(dest, name), str(dest)))
        elif has_local:
            install_pinned(name, local, dest_dir, overwrite=overwrite)
            statuses.append(MetadataStatus(name, "installed", sha256_file(dest), f"copied from {local}"))
        elif fetch:
            fetch_pinned(name, dest_dir, timeout=timeout, overwrite=overwrite)
            statuses.append(MetadataStatus(name, "fetched", sha256_file(dest), pinned.url))
        else:
            statuses.append(MetadataStatus(name, "missing", None, f"get it from {pinned.url}"))
    return statuses


def metadata_manifest(dest_dir: str | Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {sha256, url, rows}}`` for the pinned files ``names`` present in ``dest_dir`` (for manifests)."""
    out = {}
    for name in sorted(names):
        path = Path(dest_dir) / name
        if path.is_file():
            pinned = PINNED[name]
            out[name] = {"sha256": sha256_file(path), "url": pinned.url, "rows": pinned.rows}
    return out


# ----------------------------------------------------------------------------------------------- organising media

MEDIA_LAYOUTS = ("frames-audio", "flat", "nested")
"""Source layouts :func:`index_media` understands: ``frames-audio`` (``frames/<id>.jpg`` + ``audio/<id>.wav``, the
lineage's), ``flat`` (both in one folder), ``nested`` (one level of sub-folders holding both, as the Flickr-SoundNet
download's ``Data/0`` … ``Data/9``)."""


def _index_folder(folder: Path, suffix: str, into: dict[str, Path]) -> None:
    for entry in os.scandir(folder):
        if entry.name.endswith(suffix) and entry.is_file():
            stem = entry.name[: -len(suffix)]
            if stem in into:
                raise FileExistsError(f"two files for id {stem}: {into[stem]} and {entry.path}")
            into[stem] = Path(entry.path)


def index_media(source: str | Path, layout: str, *, image_ext: str = ".jpg", audio_ext: str = ".wav"
                ) -> tuple[dict[str, Path], dict[str, Path]]:
    """``({id: image path}, {id: audio path})`` for the media found under ``source`` in the given layout.

    The id is the file name without its suffix. An id present twice (``nested``) is an error.
    """
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"source folder {source} does not exist")
    images: dict[str, Path] = {}
    audio: dict[str, Path] = {}
    if layout == "frames-audio":
        for sub, suffix, into in (("frames", image_ext, images), ("audio", audio_ext, audio)):
            if not (source / sub).is_dir():
                raise FileNotFoundError(f"{source / sub} does not exist (layout frames-audio expects frames/ and "
                                        f"audio/ under {source})")
            _index_folder(source / sub, suffix, into)
    elif layout == "flat":
        _index_folder(source, image_ext, images)
        _index_folder(source, audio_ext, audio)
    elif layout == "nested":
        for folder in sorted(p for p in source.iterdir() if p.is_dir()):
            _index_folder(folder, image_ext, images)
            _index_folder(folder, audio_ext, audio)
    else:
        raise ValueError(f"layout must be one of {MEDIA_LAYOUTS}, not {layout!r}")
    return images, audio


def plan_pairs(image_ids: Iterable[str], audio_ids: Iterable[str], images: Mapping[str, Path],
               audio: Mapping[str, Path], *, image_ext: str = ".jpg", audio_ext: str = ".wav"
               ) -> tuple[dict[str, Path], list[str]]:
    """A copy plan ``{relative destination: source}`` placing ``frames/<id><image_ext>`` and ``audio/<id>.wav``,
    and the sorted relative destinations whose source was not found."""
    plan: dict[str, Path] = {}
    missing = []
    for ids, found, folder, suffix in ((image_ids, images, "frames", image_ext),
                                       (audio_ids, audio, "audio", audio_ext)):
        for item in sorted(set(ids)):
            relative = f"{folder}/{item}{suffix}"
            if item in found:
                plan[relative] = Path(found[item])
            else:
                missing.append(relative)
    return plan, sorted(missing)


PLACE_MODES = ("copy", "symlink", "hardlink")


def place_file(source: str | Path, dest: str | Path, *, mode: str = "copy", overwrite: bool = False) -> bool:
    """Put ``source`` at ``dest`` by copy, symlink or hard link; ``False`` when ``dest`` already is that file.

    Idempotent: an identical copy, a symlink to ``source`` or a hard link to it is left alone. A different file
    at ``dest`` raises :class:`FileExistsError` unless ``overwrite``.
    """
    source, dest = Path(source), Path(dest)
    if mode not in PLACE_MODES:
        raise ValueError(f"mode must be one of {PLACE_MODES}, not {mode!r}")
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist")
    if dest.exists() or dest.is_symlink():
        same = ((mode == "symlink" and dest.is_symlink() and dest.resolve() == source.resolve())
                or (mode == "hardlink" and dest.exists() and os.path.samefile(source, dest))
                or (mode == "copy" and not dest.is_symlink() and filecmp.cmp(source, dest, shallow=True)))
        if same:
            return False
        if not overwrite:
            raise FileExistsError(f"{dest} exists and is not {source} ({mode}); pass --overwrite to replace it")
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        shutil.copy2(source, dest)
    elif mode == "symlink":
        os.symlink(source.resolve(), dest)
    else:
        os.link(source, dest)
    return True


def place_files(plan: Mapping[str, Path], dest_root: str | Path, *, mode: str = "copy",
                overwrite: bool = False) -> tuple[int, int]:
    """Apply a plan ``{relative destination: source}`` under ``dest_root``; returns ``(placed, unchanged)``."""
    placed = unchanged = 0
    for relative, source in sorted(plan.items()):
        if place_file(source, Path(dest_root) / relative, mode=mode, overwrite=overwrite):
            placed += 1
        else:
            unchanged += 1
    return placed, unchanged


def _safe_member(name: str, archive: Path) -> None:
    parts = Path(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise ValueError(f"{archive}: refusing to extract {name!r} (absolute path or '..')")


def extract_archive(archive: str | Path, dest_dir: str | Path) -> Path:
    """Unpack a ``.zip`` or tar archive into ``dest_dir/<archive name>/`` and return that folder.

    The archive type is read from its content. Members with absolute paths or ``..`` are refused (and tar links
    are filtered with tarfile's ``data`` filter). Idempotent: a marker records the archive's size and modification
    time, and an unchanged archive is not unpacked again.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist")
    target = Path(dest_dir) / archive.name.split(".")[0]
    marker = target / ".sslsan_extracted.json"
    stat = archive.stat()
    stamp = {"archive": archive.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        return target
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                _safe_member(name, archive)
            bundle.extractall(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                _safe_member(member.name, archive)
            if hasattr(tarfile, "data_filter"):
                bundle.extractall(target, filter="data")
            else:  # Python without extraction filters: refuse links outright
                if any(member.issym() or member.islnk() for member in bundle.getmembers()):
                    raise ValueError(f"{archive}: contains links; unpack it by hand")
                bundle.extractall(target)
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")
    marker.write_text(json.dumps(stamp))
    return target


def find_folder_with(base: str | Path, names: Sequence[str], *, max_depth: int = 3) -> Path:
    """The unique folder at most ``max_depth`` levels under ``base`` (``base`` included) that contains every
    entry of ``names`` — e.g. the IS3 root inside an unpacked archive. None or several is an error. Hidden folders
    and macOS archive metadata (``__MACOSX``) are not searched."""
    base = Path(base)
    hits = []
    frontier = [base]
    for _ in range(max_depth + 1):
        hits.extend(folder for folder in frontier if all((folder / n).exists() for n in names))
        frontier = [child for folder in frontier for child in sorted(folder.iterdir())
                    if child.is_dir() and not child.name.startswith((".", "__MACOSX"))]
    if len(hits) != 1:
        found = "nothing" if not hits else ", ".join(map(str, hits))
        raise FileNotFoundError(f"expected one folder under {base} containing {list(names)}, found {found}")
    return hits[0]


@dataclass(frozen=True)
class OrganiseResult:
    """What :func:`organise_pairs` / :func:`organise_folders` did: files placed now, files already in place, and
    the relative destinations whose source was not found."""

    placed: int
    unchanged: int
    missing: tuple[str, ...]


def media_source(dest_root: str | Path, *, source: str | Path | None = None, archive: str | Path | None = None,
                 contains: Sequence[str] = ()) -> Path | None:
    """The folder to take downloaded media from: ``source``, or ``archive`` unpacked under
    ``<dest_root>/_downloads/`` (then the unique folder in it holding ``contains``, when given). ``None`` if neither."""
    if source is not None:
        return Path(source)
    if archive is None:
        return None
    unpacked = extract_archive(archive, Path(dest_root) / "_downloads")
    return find_folder_with(unpacked, contains) if contains else unpacked


def organise_pairs(media_dir: str | Path, layout: str, dest_root: str | Path, image_ids: Iterable[str],
                   audio_ids: Iterable[str], *, image_ext: str = ".jpg", extra: Mapping[str, Path] | None = None,
                   mode: str = "copy", overwrite: bool = False) -> OrganiseResult:
    """Place ``frames/<id><image_ext>`` and ``audio/<id>.wav`` (plus ``extra``: ``{relative destination: source}``)
    under ``dest_root`` from media found in ``media_dir`` (:func:`index_media` layout). Idempotent."""
    images, audio = index_media(media_dir, layout, image_ext=image_ext)
    plan, missing = plan_pairs(image_ids, audio_ids, images, audio, image_ext=image_ext)
    for relative, path in (extra or {}).items():
        if Path(path).is_file():
            plan[relative] = Path(path)
        else:
            missing.append(relative)
    placed, unchanged = place_files(plan, dest_root, mode=mode, overwrite=overwrite)
    return OrganiseResult(placed, unchanged, tuple(sorted(missing)))


def organise_folders(folders: Mapping[str, Path], dest_root: str | Path, *, files: Mapping[str, Path] | None = None,
                     mode: str = "copy", overwrite: bool = False) -> OrganiseResult:
    """Place every file of each source folder under ``dest_root/<name>/`` (``folders``: ``{name: source folder}``)
    and single ``files`` (``{relative destination: source}``). Idempotent; absent sources are reported missing."""
    plan: dict[str, Path] = {}
    missing = []
    for name, folder in folders.items():
        folder = Path(folder)
        if not folder.is_dir():
            missing.append(f"{name}/")
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_file() and not entry.name.startswith("."):
                plan[f"{name}/{entry.name}"] = Path(entry.path)
    for relative, path in (files or {}).items():
        if Path(path).is_file():
            plan[relative] = Path(path)
        else:
            missing.append(relative)
    placed, unchanged = place_files(plan, dest_root, mode=mode, overwrite=overwrite)
    return OrganiseResult(placed, unchanged, tuple(sorted(missing)))


def check_media(root: str | Path, queries: Iterable[Query]) -> list[str]:
    """Media of ``queries`` that cannot be opened: images through PIL (``verify``), audio through soundfile
    (``info``). Returns ``"<path>: <problem>"`` lines; the prepare scripts run it with ``--check-media``."""
    import soundfile
    from PIL import Image

    problems = []
    seen: set[str] = set()
    for query in queries:
        for relative, kind in ((query.image, "image"), (query.audio, "audio"), (query.mask, "image")):
            if relative is None or relative in seen:
                continue
            seen.add(relative)
            path = resolve(root, relative)
            try:
                if kind == "image":
                    with Image.open(path) as image:
                        image.verify()
                else:
                    soundfile.info(str(path))
            except Exception as err:  # noqa: BLE001 - any failure to open is reported, with its reason
                problems.append(f"{relative}: {type(err).__name__}: {err}")
    return problems


# ----------------------------------------------------------------------------------------------- manifests

MANIFEST_NAME = "sslsan_manifest.json"


def _write_text_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def write_manifest(dest_root: str | Path, manifest: Mapping[str, Any]) -> bool:
    """Write ``<dest_root>/sslsan_manifest.json`` (sorted keys, no timestamps); ``False`` when already identical."""
    from sslsan import __version__

    content = {"sslsan_version": __version__, **manifest}
    return _write_text_if_changed(Path(dest_root) / MANIFEST_NAME,
                                  json.dumps(content, indent=1, sort_keys=True, default=str) + "\n")


def read_manifest(dest_root: str | Path) -> dict[str, Any]:
    """The manifest a prepare script wrote under ``dest_root``."""
    return _load_json(Path(dest_root) / MANIFEST_NAME, "manifest")
