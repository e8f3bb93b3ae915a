#!/usr/bin/env python
"""Prepare the VGGSound training subsets (VGGSound-10k / -144k of the EZ-VSL lineage) for sslsan — for a user with
internet.

The id lists are public GitHub files: with ``--fetch-metadata`` they are downloaded from raw.githubusercontent.com
(pinned commit, sha256 checked), or copied from ``--metadata-dir``. The clips are YouTube videos listed by VGGSound;
download and convert them yourself (see the printed instructions), then this script organises a folder of frames
and wavs (``--source``) or an archive (``--archive``) into::

    DEST/frames/<id>.jpg  DEST/audio/<id>.wav  DEST/vggss_10k.txt  DEST/vggss_144k.txt

counts what is missing with :func:`sslsan.data.real.read_vggsound_train`, and writes ``DEST/sslsan_manifest.json``.
Re-running is safe.

Example::

    python data_scripts/prepare_vggsound.py --dest data/VGGSound-all --subset 144k --fetch-metadata --source ~/vggsound
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data import real

METADATA = real.DATASET_METADATA["vggsound"]


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "VGGSound training subsets (EZ-VSL lineage): what to download, and from where",
        "  1. Id lists: public GitHub files, pinned by commit and sha256 (--fetch-metadata downloads them):",
        *(f"       {name:16s} {real.PINNED[name].rows:>7,d} ids  {real.PINNED[name].url}" for name in METADATA),
        f"  2. Clips: YouTube videos listed in vggsound.csv on the VGGSound page {real.SOURCES['vggsound']}",
        "     (<youtube id>, <start second>); sslsan does not download from YouTube. For id",
        "     <youtube id>_<start, 6 digits> the lineage uses frames/<id>.jpg = one frame from the middle of the",
        "     10 s clip (FNAC: .png) and audio/<id>.wav = its 10 s of audio, 16 kHz mono; e.g. with ffmpeg, for a",
        "     video already cut to its 10 s clip:",
        "       ffmpeg -ss 5 -i <id>.mp4 -frames:v 1 frames/<id>.jpg",
        "       ffmpeg -i <id>.mp4 -vn -ac 1 -ar 16000 audio/<id>.wav",
        "     Expect about a fifth of the videos to be unavailable; the manifest records which ids are missing.",
        "  Note: both lists contain VGG-SS test clips (238 of the 10k, 3,709 of the 144k); read_vggsound_train(...,",
        "  exclude=<VGG-SS test ids>) removes them, the lineage does not.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Organise and check VGGSound training subsets for sslsan.")
    parser.add_argument("--dest", type=Path, required=True, help="dataset folder (VGGSound-all) to create or complete")
    parser.add_argument("--subset", choices=sorted(real.VGGSOUND_TRAIN_LISTS), action="append",
                        help="training list(s) to organise and check (repeatable; default: 10k and 144k)")
    parser.add_argument("--source", type=Path, help="folder holding the converted frames and audio")
    parser.add_argument("--archive", type=Path, help="a .zip/.tar archive of them (unpacked into DEST/_downloads)")
    parser.add_argument("--source-layout", choices=real.MEDIA_LAYOUTS, default="frames-audio",
                        help="how the source holds the media (default: frames/ and audio/ folders)")
    parser.add_argument("--frame-ext", choices=(".jpg", ".png"), default=".jpg", help="frame suffix (default .jpg)")
    parser.add_argument("--metadata-dir", type=Path, help="folder with local copies of the id lists")
    parser.add_argument("--fetch-metadata", action="store_true", help="download missing id lists (internet)")
    parser.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds (default 30)")
    parser.add_argument("--mode", choices=real.PLACE_MODES, default="copy", help="how media are placed (default copy)")
    parser.add_argument("--overwrite", action="store_true", help="replace files in DEST that differ from the source")
    parser.add_argument("--check-media", action="store_true", help="also open every image and audio file")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any listed id lacks media")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and stop")
    return parser


def plan(args: argparse.Namespace, lists: list[str]) -> list[str]:
    """The steps this run will take."""
    steps = [f"metadata: make {', '.join(lists)} present in {args.dest} "
             f"({'download missing ones' if args.fetch_metadata else 'no download'}"
             f"{f', copy from {args.metadata_dir}' if args.metadata_dir else ''}; sha256 checked)"]
    if args.archive:
        steps.append(f"unpack {args.archive} into {args.dest / '_downloads'}")
    if args.source or args.archive:
        steps.append(f"place ({args.mode}) frames/<id>{args.frame_ext} and audio/<id>.wav for the listed ids from "
                     f"{args.source or 'the unpacked archive'} (layout {args.source_layout})")
    else:
        steps.append("no --source/--archive: only check what is already in DEST")
    steps.append(f"count present/missing ids with read_vggsound_train; write {args.dest / real.MANIFEST_NAME}")
    return steps


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    subsets = sorted(set(args.subset or real.VGGSOUND_TRAIN_LISTS))
    lists = [real.VGGSOUND_TRAIN_LISTS[s] for s in subsets]
    print(how_to_get())
    print("\nThis run will:")
    for step in plan(args, lists):
        print(f"  - {step}")
    if args.dry_run:
        return 0
    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    try:
        statuses = real.obtain_metadata(lists, dest, metadata_dir=args.metadata_dir, fetch=args.fetch_metadata,
                                        timeout=args.timeout, overwrite=args.overwrite)
    except (real.ChecksumError, real.DownloadError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\nMetadata:")
    for status in statuses:
        print(f"  {status.name:16s} {status.state:9s} {status.detail}")
    absent = [s.name for s in statuses if s.state == "missing"]
    if absent:
        print(f"error: {', '.join(absent)} missing; pass --fetch-metadata (internet) or --metadata-dir",
              file=sys.stderr)
        return 1

    ids: set[str] = set()
    for name in lists:
        ids |= set(real.read_id_list(dest / name))
    try:
        media = real.media_source(dest, source=args.source, archive=args.archive,
                                  contains=("frames", "audio") if args.source_layout == "frames-audio" else ())
        if media is not None:
            result = real.organise_pairs(media, args.source_layout, dest, ids, ids, image_ext=args.frame_ext,
                                         mode=args.mode, overwrite=args.overwrite)
            print(f"\nMedia from {media}: {result.placed} placed, {result.unchanged} already in place, "
                  f"{len(result.missing)} not found in the source")
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    with real.quiet_reports():
        return check(args, dest, lists)


def check(args: argparse.Namespace, dest: Path, lists: list[str]) -> int:
    """Count present/missing ids per list, print the reports, write the manifest."""
    reports = {}
    problems: list[str] = []
    if not ((dest / "frames").is_dir() and (dest / "audio").is_dir()):
        print(f"\nCheck: no media yet ({dest / 'frames'} or {dest / 'audio'} is absent); metadata only")
    else:
        for name in lists:
            queries = real.read_vggsound_train(dest, name, frame_ext=args.frame_ext)
            reports[name] = queries.report
            if args.check_media:
                problems += real.check_media(dest, queries)
        print("\nCheck:")
        for report in reports.values():
            print(f"  {report.summary()}")
    for line in problems:
        print(f"  unreadable: {line}")
    manifest = {
        "dataset": "vggsound-train",
        "layout": f"frames/<id>{args.frame_ext}, audio/<id>.wav",
        "metadata": real.metadata_manifest(dest, lists),
        "reads": {name: report.as_dict() for name, report in reports.items()},
        "unreadable_media": problems,
    }
    changed = real.write_manifest(dest, manifest)
    print(f"\nManifest {'written' if changed else 'unchanged'}: {dest / real.MANIFEST_NAME}")
    if args.strict and (not reports or any(r.missing for r in reports.values()) or problems):
        print("error: --strict and some listed ids lack media or cannot be read", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
