"""The extended test sets of SLAVC: negatives (a frame with the audio of a clip whose source it does not show).

Layout: the Flickr-SoundNet or VGG-SS test layout (:mod:`sslsan.data.flickr`, :mod:`sslsan.data.vggss`) plus
``flickr_test_plus_silent.csv`` / ``vggss_test_plus_silent.csv``. The extended benchmark is these negatives plus
the positives of the test set on the same root.
"""

from __future__ import annotations

from pathlib import Path

from sslsan.data.lists import QueryList, ReadReport, check_id, csv_rows, dedupe, finish_read, missing_media
from sslsan.data.records import AnnotationError, Query, resolve

EXTENDED_LISTS = {"flickr": "flickr_test_plus_silent.csv", "vggss": "vggss_test_plus_silent.csv"}
EXTENDED_HEADER = ("video", "audio", "label")
NEGATIVE_LABEL = "non-sounding"


def read_extended_list(path: str | Path) -> list[tuple[str, str]]:
    """Negative pairs ``(video id, audio id)`` of a SLAVC extended list (``*_test_plus_silent.csv``).

    Format: a ``video,audio,label`` header, then one row per negative; every published row has the label
    ``non-sounding`` (frame of clip ``video`` with the audio of clip ``audio``; in VGG-SS 379 rows have
    ``video == audio``: clips whose sound source is not visible). Any other label is an error.
    """
    path = Path(path)
    rows = csv_rows(path, "extended (plus_silent) list")
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
        pairs.append((check_id(video, where), check_id(audio, where)))
    if not pairs:
        raise AnnotationError(f"{path}: the extended list has a header but no rows")
    return pairs


def read_extended(root: str | Path, list_file: str | Path, *, frame_ext: str = ".jpg",
                  strict: bool = False) -> QueryList:
    """The negative queries of a SLAVC extended test set (``flickr_test_plus_silent.csv``: 250 rows,
    ``vggss_test_plus_silent.csv``: 5,158 rows).

    Each row pairs the frame of clip ``video`` with the audio of clip ``audio`` (no visible source): query
    ``neg:<video>:<audio>``, ``image_id=<video>``, ``frames/<video>.jpg`` + ``audio/<audio>.wav``, no boxes,
    ``extra={"negative": True, "audio_id": ..., "same_clip": video == audio}``. The extended benchmark is these
    negatives plus the positives of :func:`~sslsan.data.flickr.read_flickr` / :func:`~sslsan.data.vggss.read_vggss`
    on the same root.
    """
    root = Path(root)
    list_path = resolve(root, str(list_file))
    report = ReadReport(f"extended negatives ({Path(list_path).name})", (str(list_path),))
    pairs = read_extended_list(list_path)
    keys = [f"neg:{video}:{audio}" for video, audio in pairs]
    unique = dedupe(keys, report)
    report.listed = len(unique)
    by_key = dict(zip(keys, pairs))
    report.missing = missing_media(root, ((k, *by_key[k]) for k in unique), "", frame_ext)
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
    return finish_read(queries, report, strict)
