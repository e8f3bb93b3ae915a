"""What every reader of a real dataset shares: id lists, CSV rows, JSON files, media on disk, and the read report.

Every reader returns a :class:`QueryList`: a plain ``list`` of :class:`~sslsan.data.records.Query` that also carries
a :class:`ReadReport` (``.report``) saying how many ids the list names, how many exist on disk, and which boxes were
clipped or dropped and why. The lineage (EZ-VSL, SLAVC, FNAC, SSL-Align) silently intersects its test lists with the
files on disk and silently draws degenerate boxes as nothing; here every such decision is counted, logged, and can
be made fatal (``strict=True`` for missing media, ``invalid_boxes="error"`` for bad boxes, see
:mod:`sslsan.data.boxes`).
"""

from __future__ import annotations

import csv
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from sslsan.data.records import AnnotationError, Query
from sslsan.errors import DataError, MissingFileError

logger = logging.getLogger(__name__)  # the one logger of every reader's report (see quiet_reports)


class MissingMediaError(DataError, FileNotFoundError):
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


def finish_read(queries: list[Query], report: ReadReport, strict: bool) -> QueryList:
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


def check_id(value: str, where: str) -> str:
    """An id from a list or annotation file: non-empty, no path separators (ids become file names)."""
    if not value or "/" in value or "\\" in value or value in {".", ".."} or value != value.strip():
        raise AnnotationError(f"{where}: {value!r} is not a valid id (empty, padded, or contains a path separator)")
    return value


def csv_rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV or one-column text list as ``(line number, cells)``.

    CRLF line ends and a missing final newline (both present in the published lists) are accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{what} {path} does not exist")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise AnnotationError(f"{path}: not a readable CSV/text list ({err})") from err
    rows = [(number, [cell.strip() for cell in row]) for number, row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise AnnotationError(f"{path}: the {what} is empty")
    return rows


def dedupe(ids: Sequence[str], report: ReadReport | None) -> list[str]:
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
    return [check_id(cells[0], f"{path} line {number}") for number, cells in csv_rows(path, "id list")]


def load_json(path: Path, what: str) -> Any:
    """A JSON file; absent is :class:`MissingFileError`, unparsable an :class:`AnnotationError` (both name it)."""
    if not path.is_file():
        raise MissingFileError(f"{what} {path} does not exist")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: malformed JSON ({err})") from err


# ----------------------------------------------------------------------------------------------- media on disk


def files_in(directory: Path, suffix: str, what: str) -> set[str]:
    """Names without ``suffix`` of the files ``*<suffix>`` in ``directory`` (``suffix=""``: whole file names).

    One listing per folder, as the lineage does; the folder must exist.
    """
    if not directory.is_dir():
        raise MissingFileError(f"{what} folder {directory} does not exist")
    cut = len(suffix)
    return {entry.name[: len(entry.name) - cut] for entry in os.scandir(directory)
            if entry.name.endswith(suffix) and entry.is_file()}


def missing_media(root: Path, clips: Iterable[tuple[str, str, str]], what: str, frame_ext: str = ".jpg"
                  ) -> dict[str, tuple[str, ...]]:
    """``key -> missing relative paths`` for ``(key, frame id, audio id)`` triples, against ``frames/<frame
    id><frame_ext>`` and ``audio/<audio id>.wav`` under ``root`` (``what`` names the dataset in errors)."""
    prefix = f"{what} " if what else ""
    frames = files_in(root / "frames", frame_ext, f"{prefix}frames")
    audio = files_in(root / "audio", ".wav", f"{prefix}audio")
    missing = {}
    for key, frame_id, audio_id in clips:
        lacking = []
        if frame_id not in frames:
            lacking.append(f"frames/{frame_id}{frame_ext}")
        if audio_id not in audio:
            lacking.append(f"audio/{audio_id}.wav")
        if lacking:
            missing[key] = tuple(lacking)
    return missing
