#!/usr/bin/env python
"""Prepare VGG-SS (VGG-Sound Sources; Chen et al., CVPR 2021) for sslsan — for a user with internet.

The annotation and list files are public GitHub files: with ``--fetch-metadata`` they are downloaded from
raw.githubusercontent.com (pinned commit, sha256 checked), or copied from ``--metadata-dir``. The media (a frame and
the 10 s audio of each clip) come from YouTube via VGGSound and are downloaded by hand; this script says from where,
then organises a downloaded folder (``--source``) or archive (``--archive``) into::

    DEST/frames/<id>.jpg  DEST/audio/<id>.wav  DEST/vggss.json  DEST/vggss_test.csv  (+ heard/unheard/extended lists)

checks it with the readers of :mod:`sslsan.data.real`, and writes ``DEST/sslsan_manifest.json``. Re-running is safe:
files already in place are left alone.

Example::

    python data_scripts/prepare_vggss.py --dest data/VGGSS --fetch-metadata --source ~/Downloads/vggss_test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data import real

METADATA = real.DATASET_METADATA["vggss"]
REQUIRED = ("vggss.json", "vggss_test.csv")


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "VGG-SS (Chen et al., CVPR 2021): what to download, and from where",
        "  1. Boxes and id lists: public GitHub files, pinned by commit and sha256 (--fetch-metadata downloads them):",
        *(f"       {name:28s} {real.PINNED[name].url}" for name in METADATA),
        "  2. Media: sslsan cannot download them (YouTube clips, not redistributable). VGG-SS is described on the LVS",
        f"     project page {real.SOURCES['vggss']}; the clips belong to VGGSound ({real.SOURCES['vggsound']}).",
        "     For clip <youtube id>_<start seconds, 6 digits> (e.g. zpWuikVorYg_000032) you need",
        "     frames/<id>.jpg = the middle frame of the 10 s clip, audio/<id>.wav = its 10 s of audio (16 kHz mono).",
        "     Some clips are gone from YouTube; this script counts what is missing.",
        "  3. Extended VGG-SS (SLAVC) needs the media of 379 more clips, in SLAVC's 'Extended-VGG-Sound Source'",
        f"     archive on Google Drive: {real.SOURCES['extended_vggss']}",
        "  This script does not download from YouTube or Google Drive: get the media there, then pass --source or",
        "  --archive.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Organise and check VGG-SS for sslsan (see the module docstring).")
    parser.add_argument("--dest", type=Path, required=True, help="dataset folder to create or complete")
    parser.add_argument("--source", type=Path, help="folder holding the downloaded frames and audio")
    parser.add_argument("--archive", type=Path, help="downloaded .zip/.tar archive (unpacked into DEST/_downloads)")
    parser.add_argument("--source-layout", choices=real.MEDIA_LAYOUTS, default="frames-audio",
                        help="how the source holds the media (default: frames/ and audio/ folders)")
    parser.add_argument("--metadata-dir", type=Path, help="folder with local copies of the metadata files")
    parser.add_argument("--fetch-metadata", action="store_true", help="download missing metadata files (internet)")
    parser.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds (default 30)")
    parser.add_argument("--mode", choices=real.PLACE_MODES, default="copy", help="how media are placed (default copy)")
    parser.add_argument("--overwrite", action="store_true", help="replace files in DEST that differ from the source")
    parser.add_argument("--invalid-boxes", choices=real.INVALID_BOX_POLICIES, default="drop",
                        help="what the check does with boxes empty in the 224 frame (default drop; see read_vggss)")
    parser.add_argument("--check-media", action="store_true", help="also open every image and audio file")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any listed clip lacks media")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and stop")
    return parser


def plan(args: argparse.Namespace) -> list[str]:
    """The steps this run will take."""
    steps = [f"metadata: make {', '.join(METADATA)} present in {args.dest} "
             f"({'download missing ones' if args.fetch_metadata else 'no download'}"
             f"{f', copy from {args.metadata_dir}' if args.metadata_dir else ''}; sha256 checked)"]
    if args.archive:
        steps.append(f"unpack {args.archive} into {args.dest / '_downloads'}")
    if args.source or args.archive:
        steps.append(f"place ({args.mode}) frames/<id>.jpg and audio/<id>.wav for the test and extended ids "
                     f"from {args.source or 'the unpacked archive'} (layout {args.source_layout})")
    else:
        steps.append("no --source/--archive: only check what is already in DEST")
    steps.append("check with sslsan.data.real.read_vggss (test, heard, unheard) and read_extended; "
                 f"write {args.dest / real.MANIFEST_NAME}")
    return steps


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(how_to_get())
    print("\nThis run will:")
    for step in plan(args):
        print(f"  - {step}")
    if args.dry_run:
        return 0
    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    try:
        statuses = real.obtain_metadata(METADATA, dest, metadata_dir=args.metadata_dir, fetch=args.fetch_metadata,
                                        timeout=args.timeout, overwrite=args.overwrite)
    except (real.ChecksumError, real.DownloadError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\nMetadata:")
    for status in statuses:
        print(f"  {status.name:28s} {status.state:9s} {status.detail}")
    absent = [s.name for s in statuses if s.state == "missing" and s.name in REQUIRED]
    if absent:
        print(f"error: {', '.join(absent)} missing; pass --fetch-metadata (internet) or --metadata-dir",
              file=sys.stderr)
        return 1
    present = {s.name for s in statuses if s.state != "missing"}

    ids = real.read_id_list(dest / "vggss_test.csv")
    image_ids, audio_ids = set(ids), set(ids)
    if "vggss_test_plus_silent.csv" in present:
        pairs = real.read_extended_list(dest / "vggss_test_plus_silent.csv")
        image_ids |= {video for video, _ in pairs}
        audio_ids |= {audio for _, audio in pairs}
    try:
        media = real.media_source(dest, source=args.source, archive=args.archive,
                                  contains=("frames", "audio") if args.source_layout == "frames-audio" else ())
        if media is not None:
            result = real.organise_pairs(media, args.source_layout, dest, image_ids, audio_ids, mode=args.mode,
                                         overwrite=args.overwrite)
            print(f"\nMedia from {media}: {result.placed} placed, {result.unchanged} already in place, "
                  f"{len(result.missing)} not found in the source")
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    with real.quiet_reports():
        return check(args, dest, present)


def check(args: argparse.Namespace, dest: Path, present: set[str]) -> int:
    """Read every list with the library readers, print their reports and write the manifest."""
    reports = {}
    problems: list[str] = []
    if not ((dest / "frames").is_dir() and (dest / "audio").is_dir()):
        print(f"\nCheck: no media yet ({dest / 'frames'} or {dest / 'audio'} is absent); metadata only")
        present = set()
    try:
        for subset, list_name in real.VGGSS_TEST_LISTS.items():
            if list_name not in present:
                continue
            queries = real.read_vggss(dest, subset, invalid_boxes=args.invalid_boxes)
            reports[subset] = queries.report
            if args.check_media:
                problems += real.check_media(dest, queries)
        if "vggss_test_plus_silent.csv" in present:
            negatives = real.read_extended(dest, "vggss_test_plus_silent.csv")
            reports["extended_negatives"] = negatives.report
            if args.check_media:
                problems += real.check_media(dest, negatives)
    except (FileNotFoundError, real.AnnotationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\nCheck:")
    for report in reports.values():
        print(f"  {report.summary()}")
    for line in problems:
        print(f"  unreadable: {line}")
    manifest = {
        "dataset": "vggss",
        "layout": "frames/<id>.jpg, audio/<id>.wav; boxes: vggss.json (normalised, -> int(224*clip(v,0,1)))",
        "metadata": real.metadata_manifest(dest, METADATA),
        "invalid_boxes": args.invalid_boxes,
        "reads": {name: report.as_dict() for name, report in reports.items()},
        "unreadable_media": problems,
    }
    changed = real.write_manifest(dest, manifest)
    print(f"\nManifest {'written' if changed else 'unchanged'}: {dest / real.MANIFEST_NAME}")
    if args.strict and (not reports or any(r.missing for r in reports.values()) or problems):
        print("error: --strict and some listed clips lack media or cannot be read", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
