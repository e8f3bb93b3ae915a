"""Flickr-SoundNet test set (Senocak et al., CVPR 2018): the two published test lists and the XML boxes.

Layout under the dataset root: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``Annotations/<id>.xml``,
``flickr_test.csv``. Boxes are integer pixels of a 256×256 frame, from up to three annotators (see
:mod:`sslsan.data.boxes`).

Known difference between the published lists (pinned in :data:`sslsan.data.metadata.PINNED`): the test list has
250 ids in SLAVC / SSL-Align and 249 in EZ-VSL / FNAC / LVS (``3908875350`` missing); both are pinned here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable

from sslsan.data.boxes import FLICKR_ANNOTATION_SIZE, FRAME_SIZE, check_policy, entry_boxes, flickr_box_to_pixels
from sslsan.data.lists import QueryList, ReadReport, csv_rows, dedupe, finish_read, missing_media
from sslsan.data.records import AnnotationError, Query, resolve
from sslsan.errors import MissingFileError, UsageError

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
    raise UsageError(f"Flickr-SoundNet test list variant must be 249 or 250, not {variant!r}")


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


def read_flickr_list(path: str | Path) -> list[tuple[str, int]]:
    """Rows ``(id, value)`` of a Flickr-SoundNet test list (``flickr_test.csv``: ``<numeric id>,<int>`` per line).

    The second column is an integer whose meaning the repositories do not document; it is kept in ``extra``.
    """
    path = Path(path)
    rows = []
    for number, cells in csv_rows(path, "Flickr-SoundNet test list"):
        if len(cells) != 2 or not cells[0].isdigit():
            raise AnnotationError(f"{path} line {number}: expected '<numeric id>,<int>', got {','.join(cells)!r}")
        try:
            value = int(cells[1])
        except ValueError as err:
            raise AnnotationError(f"{path} line {number}: second column {cells[1]!r} is not an integer") from err
        rows.append((cells[0], value))
    return rows


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
        raise MissingFileError(f"Flickr-SoundNet annotation file {path} does not exist")
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
    256 → 224 with :func:`~sslsan.data.boxes.flickr_box_to_pixels`, ``gt="consensus"`` (``min(count / 2, 1)``: 1
    where two annotators agree, 0.5 where one does). ``extra`` keeps the 256-px boxes, the annotation path and the
    list's second column. ``invalid_boxes`` and ``strict`` as in :func:`~sslsan.data.vggss.read_vggss`. A listed id
    with media but no XML is an error.
    """
    check_policy(invalid_boxes)
    root = Path(root)
    list_path = resolve(root, str(list_file))
    annotation_root = resolve(root, str(annotation_dir))
    report = ReadReport("Flickr-SoundNet", (str(list_path), str(annotation_root)))
    rows = read_flickr_list(list_path)
    values = {}
    for clip, value in rows:
        values.setdefault(clip, value)
    ids = dedupe([clip for clip, _ in rows], report)
    report.listed = len(ids)
    variant = identify_flickr_list(ids)
    report.notes.append(FLICKR_LIST_NOTES.get(variant, f"Flickr-SoundNet {variant} list"))
    if not annotation_root.is_dir():
        raise MissingFileError(f"Flickr-SoundNet annotation folder {annotation_root} does not exist")
    report.missing = missing_media(root, ((i, i, i) for i in ids), "Flickr-SoundNet")
    queries = []
    for clip in ids:
        if clip in report.missing:
            continue
        xml_path = annotation_root / f"{clip}.xml"
        if not xml_path.is_file():
            raise MissingFileError(f"Flickr-SoundNet annotation file {xml_path} for listed id {clip} does not exist")
        raw = read_flickr_xml(xml_path)
        extra: dict[str, Any] = {"boxes_256": raw, "annotation": _relative(xml_path, root),
                                 "list_value": values[clip]}
        boxes = entry_boxes(clip, str(xml_path), raw, flickr_box_to_pixels, FLICKR_ANNOTATION_SIZE, invalid_boxes,
                            report, extra)
        if boxes is None:
            continue
        queries.append(Query(query_id=clip, image_id=clip, image=f"frames/{clip}.jpg", audio=f"audio/{clip}.wav",
                             boxes=boxes, image_size=(FRAME_SIZE, FRAME_SIZE), gt="consensus", split="test",
                             extra=extra))
    return finish_read(queries, report, strict)


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute (records keep paths relative to the root)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())
