"""What the four ``prepare_*.py`` scripts share: their common options, the metadata step, and the check tail.

A script builds its parser with :func:`make_parser`, :func:`add_source_options` and :func:`add_run_options` (the
help texts name the script's own files, so they are arguments), gets the pinned files with :func:`obtain`, reads
its lists into a :class:`Check`, and ends with :func:`finish` (manifest, ``--strict``). The scripts run as
``python data_scripts/prepare_<dataset>.py`` and import this sibling file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from sslsan.data.boxes import INVALID_BOX_POLICIES
from sslsan.data.extended import read_extended_list
from sslsan.data.lists import QueryList, ReadReport
from sslsan.data.media import MEDIA_LAYOUTS, PLACE_MODES, OrganiseResult, check_media, media_source, organise_pairs
from sslsan.data.metadata import (MANIFEST_NAME, PINNED, ChecksumError, DownloadError, metadata_manifest,
                                  obtain_metadata, write_manifest)
from sslsan.data.records import AnnotationError

MEDIA_ERRORS = (FileNotFoundError, FileExistsError, ValueError)  # what a user's download can make organising raise
READ_ERRORS = (FileNotFoundError, AnnotationError)  # what a malformed or incomplete dataset makes a reader raise


def make_parser(description: str, *, dest: str = "dataset folder to create or complete") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dest", type=Path, required=True, help=dest)
    return parser


def add_source_options(parser: argparse.ArgumentParser, *, source: str,
                       archive: str = "downloaded .zip/.tar archive (unpacked into DEST/_downloads)",
                       layout: tuple[str, str] | None = None) -> None:
    """``--source``, ``--archive`` and, when ``layout = (default, help)``, ``--source-layout``."""
    parser.add_argument("--source", type=Path, help=source)
    parser.add_argument("--archive", type=Path, help=archive)
    if layout is not None:
        parser.add_argument("--source-layout", choices=MEDIA_LAYOUTS, default=layout[0], help=layout[1])


def add_run_options(parser: argparse.ArgumentParser, *, placed: str, invalid_boxes: str | None, strict: str,
                    metadata_dir: str = "folder with local copies of the metadata files",
                    fetch: str = "download missing metadata files (internet)",
                    check: str = "image and audio file") -> None:
    """The metadata, placing and checking options; the arguments complete their help texts (``placed``: what
    ``--mode`` places, ``check``: what ``--check-media`` opens, ``strict``: what must not lack media)."""
    parser.add_argument("--metadata-dir", type=Path, help=metadata_dir)
    parser.add_argument("--fetch-metadata", action="store_true", help=fetch)
    parser.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds (default 30)")
    parser.add_argument("--mode", choices=PLACE_MODES, default="copy", help=f"how {placed} are placed (default copy)")
    parser.add_argument("--overwrite", action="store_true", help="replace files in DEST that differ from the source")
    if invalid_boxes is not None:
        parser.add_argument("--invalid-boxes", choices=INVALID_BOX_POLICIES, default="drop", help=invalid_boxes)
    parser.add_argument("--check-media", action="store_true", help=f"also open every {check}")
    parser.add_argument("--strict", action="store_true", help=f"exit with status 1 if any {strict} lacks media")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and stop")


def pinned_lines(names: Iterable[str], width: int) -> list[str]:
    """The how-to-get lines naming each pinned file and its URL."""
    return [f"       {name:{width}s} {PINNED[name].url}" for name in names]


def metadata_origin(args: argparse.Namespace, download: str = "download missing ones") -> str:
    """Where the plan says the metadata come from."""
    return (f"({download if args.fetch_metadata else 'no download'}"
            f"{f', copy from {args.metadata_dir}' if args.metadata_dir else ''}; sha256 checked)")


def source_steps(args: argparse.Namespace, place: str) -> list[str]:
    """The plan's media steps: unpack the archive, then ``place`` (or only check when there is no source)."""
    steps = [f"unpack {args.archive} into {args.dest / '_downloads'}"] if args.archive else []
    steps.append(place if args.source or args.archive else "no --source/--archive: only check what is already in DEST")
    return steps


def announce(how_to_get: str, steps: Sequence[str]) -> None:
    print(how_to_get)
    print("\nThis run will:")
    for step in steps:
        print(f"  - {step}")


def fail(message: Any) -> int:
    """Print ``error: <message>`` on stderr; the exit status of a failed run."""
    print(f"error: {message}", file=sys.stderr)
    return 1


def obtain(args: argparse.Namespace, names: Sequence[str], *, width: int, required: Iterable[str] = ()
           ) -> set[str] | None:
    """Make the pinned files ``names`` present in ``args.dest`` and print how; the names present, or ``None``
    (after printing the error) when a file is damaged, a download fails or a ``required`` file is missing."""
    args.dest.mkdir(parents=True, exist_ok=True)
    try:
        statuses = obtain_metadata(names, args.dest, metadata_dir=args.metadata_dir, fetch=args.fetch_metadata,
                                   timeout=args.timeout, overwrite=args.overwrite)
    except (ChecksumError, DownloadError, FileExistsError) as err:
        fail(err)
        return None
    print("\nMetadata:")
    for status in statuses:
        print(f"  {status.name:{width}s} {status.state:9s} {status.detail}")
    required = set(required)
    absent = [s.name for s in statuses if s.state == "missing" and s.name in required]
    if absent:
        fail(f"{', '.join(absent)} missing; pass --fetch-metadata (internet) or --metadata-dir")
        return None
    return {s.name for s in statuses if s.state != "missing"}


def extended_ids(dest: Path, list_name: str, present: set[str], ids: Iterable[str]) -> tuple[set[str], set[str]]:
    """``(frame ids, audio ids)`` to place: ``ids`` plus those of the extended list ``list_name`` when present."""
    image_ids, audio_ids = set(ids), set(ids)
    if list_name in present:
        pairs = read_extended_list(dest / list_name)
        image_ids |= {video for video, _ in pairs}
        audio_ids |= {audio for _, audio in pairs}
    return image_ids, audio_ids


def print_placed(what: str, source: Path, result: OrganiseResult) -> None:
    print(f"\n{what} from {source}: {result.placed} placed, {result.unchanged} already in place, "
          f"{len(result.missing)} not found in the source")


def place_frames_audio(args: argparse.Namespace, image_ids: set[str], audio_ids: set[str],
                       image_ext: str = ".jpg") -> int | None:
    """Place ``frames/<id><image_ext>`` and ``audio/<id>.wav`` from ``--source``/``--archive`` (if given);
    ``1`` (after printing the error) when that fails."""
    try:
        media = media_source(args.dest, source=args.source, archive=args.archive,
                             contains=("frames", "audio") if args.source_layout == "frames-audio" else ())
        if media is not None:
            result = organise_pairs(media, args.source_layout, args.dest, image_ids, audio_ids, image_ext=image_ext,
                                    mode=args.mode, overwrite=args.overwrite)
            print_placed("Media", media, result)
    except MEDIA_ERRORS as err:
        return fail(err)
    return None


def frames_audio_ready(dest: Path) -> bool:
    """Whether ``frames/`` and ``audio/`` exist in ``dest``; says so when they do not."""
    if (dest / "frames").is_dir() and (dest / "audio").is_dir():
        return True
    print(f"\nCheck: no media yet ({dest / 'frames'} or {dest / 'audio'} is absent); metadata only")
    return False


class Check:
    """The reads of one check: each list's report and, with ``--check-media``, the media that cannot be opened."""

    def __init__(self, dest: Path, open_media: bool):
        self.dest, self.open_media = dest, open_media
        self.reports: dict[str, ReadReport] = {}
        self.problems: list[str] = []

    def add(self, name: str, queries: QueryList) -> QueryList:
        self.reports[name] = queries.report
        if self.open_media:
            self.problems += check_media(self.dest, queries)
        return queries

    def show(self) -> None:
        """The reports (under a ``Check:`` heading when there are any) and the unreadable files."""
        if self.reports:
            print("\nCheck:")
            for report in self.reports.values():
                print(f"  {report.summary()}")
        self.show_unreadable()

    def show_unreadable(self) -> None:
        for line in self.problems:
            print(f"  unreadable: {line}")

    def manifest(self, dataset: str, layout: str, names: Iterable[str], **more: Any) -> dict[str, Any]:
        """The manifest's content: what was read, from which pinned files, and ``more``."""
        return {"dataset": dataset, "layout": layout, "metadata": metadata_manifest(self.dest, names),
                "reads": {name: report.as_dict() for name, report in self.reports.items()},
                "unreadable_media": self.problems, **more}


def finish(args: argparse.Namespace, check: Check, manifest: dict[str, Any], *, lacking: str,
           written: Sequence[str] = ()) -> int:
    """Write the manifest, say so (after the ``written`` lines), and apply ``--strict``: status 1 when nothing was
    read, some ``lacking`` (e.g. "listed ids") lack media, or some media cannot be opened."""
    changed = write_manifest(args.dest, manifest)
    lines = [*written, f"Manifest {'written' if changed else 'unchanged'}: {args.dest / MANIFEST_NAME}"]
    print("\n" + "\n".join(lines))
    reports = check.reports.values()
    if args.strict and (not reports or any(r.missing for r in reports) or check.problems):
        return fail(f"--strict and some {lacking} lack media or cannot be read")
    return 0
