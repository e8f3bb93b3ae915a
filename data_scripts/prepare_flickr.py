#!/usr/bin/env python
"""Prepare the Flickr-SoundNet test set (Senocak et al., CVPR 2018) for sslsan — for a user with internet.

The test lists are public GitHub files: with ``--fetch-metadata`` they are downloaded from raw.githubusercontent.com
(pinned commit, sha256 checked), or copied from ``--metadata-dir``. Both published lists are kept, because the
literature uses both: ``flickr_test.csv`` (250 ids, SLAVC / SSL-Align) and ``flickr_test_249.csv`` (249 ids,
EZ-VSL / FNAC / LVS; ``3908875350`` is missing). The images, audio and XML annotations are downloaded by hand (see
the printed instructions); this script organises the download (``Annotations/`` + ``Data/0..9/``, or an already
organised ``frames/`` + ``audio/`` folder) into::

    DEST/frames/<id>.jpg  DEST/audio/<id>.wav  DEST/Annotations/<id>.xml  DEST/flickr_test.csv  DEST/flickr_test_249.csv

checks it with :func:`sslsan.data.real.read_flickr` and writes ``DEST/sslsan_manifest.json``. Re-running is safe.

Example::

    python data_scripts/prepare_flickr.py --dest data/Flickr-SoundNet --fetch-metadata --source ~/Downloads/flickr
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data import real

METADATA = real.DATASET_METADATA["flickr"]
REQUIRED = ("flickr_test.csv",)
LISTS = {"250": "flickr_test.csv", "249": "flickr_test_249.csv"}


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "Flickr-SoundNet test set (Senocak et al., CVPR 2018): what to download, and from where",
        "  1. Test lists: public GitHub files, pinned by commit and sha256 (--fetch-metadata downloads them):",
        *(f"       {name:28s} {real.PINNED[name].url}" for name in METADATA),
        f"     The lists differ: 250 ids (SLAVC, SSL-Align) vs 249 (EZ-VSL, FNAC, LVS; {real.FLICKR_EZVSL_MISSING_ID}"
        " is missing). Report which one a number uses.",
        "  2. Images, audio and XML boxes (5k annotated pairs; the test ids are a subset): the dataset page",
        f"     {real.SOURCES['flickr']}",
        "     (when we checked, its README's download link was a placeholder: ask the authors). The download holds",
        "     Annotations/<id>.xml and Data/<0..9>/<id>.jpg + <id>.wav (--source-layout nested, the default).",
        "     Boxes are pixels of a 256x256 frame, from up to 3 annotators.",
        "  3. Extended Flickr-SoundNet (SLAVC) negatives: SLAVC's archive on Google Drive:",
        f"     {real.SOURCES['extended_flickr']}",
        "  This script does not download from Google Drive: get the data there, then pass --source/--archive.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Organise and check Flickr-SoundNet for sslsan (see the docstring).")
    parser.add_argument("--dest", type=Path, required=True, help="dataset folder to create or complete")
    parser.add_argument("--source", type=Path, help="downloaded folder (Annotations/ + Data/, or frames/ + audio/)")
    parser.add_argument("--archive", type=Path, help="downloaded .zip/.tar archive (unpacked into DEST/_downloads)")
    parser.add_argument("--source-layout", choices=real.MEDIA_LAYOUTS, default="nested",
                        help="nested: SOURCE/Data/<d>/<id>.jpg|wav (default); frames-audio; flat")
    parser.add_argument("--metadata-dir", type=Path, help="folder with local copies of the metadata files")
    parser.add_argument("--fetch-metadata", action="store_true", help="download missing metadata files (internet)")
    parser.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds (default 30)")
    parser.add_argument("--mode", choices=real.PLACE_MODES, default="copy", help="how files are placed (default copy)")
    parser.add_argument("--overwrite", action="store_true", help="replace files in DEST that differ from the source")
    parser.add_argument("--invalid-boxes", choices=real.INVALID_BOX_POLICIES, default="drop",
                        help="what the check does with boxes empty in the 224 frame (default drop)")
    parser.add_argument("--check-media", action="store_true", help="also open every image and audio file")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any listed id lacks media")
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
        media = "Data/" if args.source_layout == "nested" else "the source"
        steps.append(f"place ({args.mode}) frames/<id>.jpg, audio/<id>.wav (from {media}) and Annotations/<id>.xml "
                     f"for the 250 test ids and the extended ids")
    else:
        steps.append("no --source/--archive: only check what is already in DEST")
    steps.append(f"check both lists (250 and 249) with read_flickr, and read_extended; write "
                 f"{args.dest / real.MANIFEST_NAME}")
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

    ids = [clip for clip, _ in real.read_flickr_list(dest / "flickr_test.csv")]
    image_ids, audio_ids = set(ids), set(ids)
    if "flickr_test_plus_silent.csv" in present:
        pairs = real.read_extended_list(dest / "flickr_test_plus_silent.csv")
        image_ids |= {video for video, _ in pairs}
        audio_ids |= {audio for _, audio in pairs}
    try:
        nested = args.source_layout == "nested"
        source = real.media_source(dest, source=args.source, archive=args.archive,
                                   contains=("Annotations", "Data") if nested else ("frames", "audio"))
        if source is not None:
            annotations = {f"Annotations/{clip}.xml": source / "Annotations" / f"{clip}.xml" for clip in ids}
            result = real.organise_pairs(source / "Data" if nested else source, args.source_layout, dest,
                                         image_ids, audio_ids, extra=annotations, mode=args.mode,
                                         overwrite=args.overwrite)
            print(f"\nFiles from {source}: {result.placed} placed, {result.unchanged} already in place, "
                  f"{len(result.missing)} not found in the source")
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    with real.quiet_reports():
        return check(args, dest, present)


def check(args: argparse.Namespace, dest: Path, present: set[str]) -> int:
    """Read both lists and the extended negatives, print the reports and the 249/250 difference, write the manifest."""
    reports = {}
    problems: list[str] = []
    media_ready = all((dest / sub).is_dir() for sub in ("frames", "audio", "Annotations"))
    if not media_ready:
        print(f"\nCheck: no media yet (frames/, audio/ or Annotations/ absent in {dest}); metadata only")
    try:
        for variant, list_name in LISTS.items():
            if media_ready and list_name in present:
                queries = real.read_flickr(dest, list_name, invalid_boxes=args.invalid_boxes)
                reports[variant] = queries.report
                if args.check_media:
                    problems += real.check_media(dest, queries)
        if media_ready and "flickr_test_plus_silent.csv" in present:
            negatives = real.read_extended(dest, "flickr_test_plus_silent.csv")
            reports["extended_negatives"] = negatives.report
            if args.check_media:
                problems += real.check_media(dest, negatives)
    except (FileNotFoundError, real.AnnotationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if reports:
        print("\nCheck:")
        for report in reports.values():
            print(f"  {report.summary()}")
    for line in problems:
        print(f"  unreadable: {line}")
    if "250" in reports and "249" in reports:
        only = real.FLICKR_EZVSL_MISSING_ID
        on_disk = only not in reports["250"].missing
        print(f"  249 vs 250: the lists differ by {only} ({'on disk' if on_disk else 'not on disk'}); "
              f"{reports['250'].returned} vs {reports['249'].returned} queries")
    manifest = {
        "dataset": "flickr",
        "layout": "frames/<id>.jpg, audio/<id>.wav, Annotations/<id>.xml (256-px boxes -> int(224*v/256), consensus)",
        "metadata": real.metadata_manifest(dest, METADATA),
        "lists": {variant: real.FLICKR_LIST_NOTES[variant] for variant in LISTS},
        "invalid_boxes": args.invalid_boxes,
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
