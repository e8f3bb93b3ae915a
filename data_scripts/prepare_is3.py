#!/usr/bin/env python
"""Prepare the IS3 release (Interactive Synthetic Sound Source; SSL-Align, ICCV 2023) for sslsan — for a user
with internet.

IS3 is hosted on Google Drive (link in the SSLalignment README); download and unpack it by hand. This script
organises the unpacked folder (``--source``) or the downloaded archive (``--archive``) into::

    DEST/images/<name>.jpg  DEST/audio_wav/<name>.wav  DEST/gt_segmentation/<name>.*  DEST/IS3_annotation.json

(the release's ``audio_waw/`` — the README's spelling — becomes ``audio_wav/``), optionally adds the SSL-Align repo's
``synthetic3240_bbox.json`` (pinned; ``--fetch-metadata``), reads it with
:func:`sslsan.data.real.read_is3_release`, writes ``DEST/class_files_dict.json`` (class → audio files, the pool of
offscreen negatives: IS3+-mini's format) and ``DEST/sslsan_manifest.json``. Re-running is safe.

Example::

    python data_scripts/prepare_is3.py --dest data/IS3 --archive ~/Downloads/IS3.zip --fetch-metadata
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data import real

METADATA = real.DATASET_METADATA["is3"]
EXPECTED_ANNOTATIONS, EXPECTED_IMAGES = 6480, 3240
CLASS_FILES = "class_files_dict.json"


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "IS3 (SSL-Align, ICCV 2023 / TPAMI 2025): what to download, and from where",
        "  1. The dataset: one archive on Google Drive, linked from https://github.com/kaistmm/SSLalignment :",
        f"       {real.SOURCES['is3']}",
        f"     (the README's earlier link: {real.SOURCES['is3_previous']})",
        "     It holds images/, audio_waw/ (sic; audio_wav/ elsewhere), IS3_annotation.json and gt_segmentation/;",
        f"     {EXPECTED_ANNOTATIONS:,d} annotations <objA>_<objB>_<id>_<target> over {EXPECTED_IMAGES:,d} images, "
        "two per image.",
        "     sslsan does not download from Google Drive: download it in a browser, then pass --archive or --source.",
        "  2. Optional: the SSL-Align repo's box list, pinned by commit and sha256 (--fetch-metadata downloads it):",
        *(f"       {name:26s} {real.PINNED[name].url}" for name in METADATA),
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Organise and check the IS3 release for sslsan (see the docstring).")
    parser.add_argument("--dest", type=Path, required=True, help="dataset folder to create or complete")
    parser.add_argument("--source", type=Path, help="the unpacked release (a folder holding images/)")
    parser.add_argument("--archive", type=Path, help="the downloaded archive (unpacked into DEST/_downloads)")
    parser.add_argument("--annotation", choices=("IS3_annotation.json", "synthetic3240_bbox.json"),
                        default="IS3_annotation.json", help="which box file the check reads (default: the release's)")
    parser.add_argument("--metadata-dir", type=Path, help="folder with a local copy of synthetic3240_bbox.json")
    parser.add_argument("--fetch-metadata", action="store_true", help="download synthetic3240_bbox.json (internet)")
    parser.add_argument("--timeout", type=float, default=30.0, help="download timeout in seconds (default 30)")
    parser.add_argument("--mode", choices=real.PLACE_MODES, default="copy", help="how files are placed (default copy)")
    parser.add_argument("--overwrite", action="store_true", help="replace files in DEST that differ from the source")
    parser.add_argument("--invalid-boxes", choices=real.INVALID_BOX_POLICIES, default="drop",
                        help="what the check does with empty or out-of-image boxes (default drop)")
    parser.add_argument("--check-media", action="store_true", help="also open every image, mask and audio file")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 if any annotation lacks media")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done and stop")
    return parser


def plan(args: argparse.Namespace) -> list[str]:
    """The steps this run will take."""
    steps = [f"metadata: synthetic3240_bbox.json in {args.dest} "
             f"({'download if missing' if args.fetch_metadata else 'no download'}"
             f"{f', copy from {args.metadata_dir}' if args.metadata_dir else ''}; sha256 checked)"]
    if args.archive:
        steps.append(f"unpack {args.archive} into {args.dest / '_downloads'}")
    if args.source or args.archive:
        steps.append(f"place ({args.mode}) images/, audio_wav/ (from audio_wav/ or audio_waw/), gt_segmentation/ "
                     f"and IS3_annotation.json from {args.source or 'the unpacked archive'}")
    else:
        steps.append("no --source/--archive: only check what is already in DEST")
    steps.append(f"read {args.annotation} with read_is3_release; write {args.dest / CLASS_FILES} and "
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
        print(f"  {status.name:26s} {status.state:9s} {status.detail}")
    try:
        source = real.media_source(dest, source=args.source, archive=args.archive, contains=("images",))
        if source is not None:
            audio = real.is3_audio_dir(source)
            result = real.organise_folders(
                {"images": source / "images", "audio_wav": source / audio,
                 "gt_segmentation": source / "gt_segmentation"},
                dest, files={"IS3_annotation.json": source / "IS3_annotation.json"}, mode=args.mode,
                overwrite=args.overwrite)
            absent = f"; not in the source: {', '.join(result.missing)}" if result.missing else ""
            print(f"\nFiles from {source}: {result.placed} placed, {result.unchanged} already in place{absent}")
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    with real.quiet_reports():
        return check(args, dest)


def check(args: argparse.Namespace, dest: Path) -> int:
    """Read the chosen box file, compare it with the other one when both exist, write the class dict and manifest."""
    if not (dest / args.annotation).is_file():
        print(f"error: {dest / args.annotation} does not exist (IS3_annotation.json comes with the release; "
              "synthetic3240_bbox.json with --fetch-metadata)", file=sys.stderr)
        return 1
    try:
        queries = real.read_is3_release(dest, args.annotation, invalid_boxes=args.invalid_boxes)
    except (FileNotFoundError, real.AnnotationError) as err:
        hint = ("; if the release's JSON has another schema, try --annotation synthetic3240_bbox.json"
                if args.annotation == "IS3_annotation.json" else "")
        print(f"error: {err}{hint}", file=sys.stderr)
        return 1
    report = queries.report
    images = {q.image_id for q in queries}
    classes = real.class_files_dict(queries)
    print(f"\nCheck:\n  {report.summary()}")
    print(f"  {len(queries)} queries over {len(images)} images (release: {EXPECTED_ANNOTATIONS} over "
          f"{EXPECTED_IMAGES}), {len(classes)} target classes, {sum(q.mask is not None for q in queries)} masks")
    agreement = compare_box_files(dest, args.annotation)
    if agreement:
        print(f"  {agreement}")
    problems = real.check_media(dest, queries) if args.check_media else []
    for line in problems:
        print(f"  unreadable: {line}")
    real.write_class_files_json(classes, dest / CLASS_FILES)
    manifest = {
        "dataset": "is3",
        "layout": "images/<name>.jpg, audio_wav/<name>.wav, gt_segmentation/<name>.*; boxes 224-px -> int(v)",
        "annotation": args.annotation,
        "metadata": real.metadata_manifest(dest, METADATA),
        "counts": {"queries": len(queries), "images": len(images), "classes": len(classes),
                   "masks": sum(q.mask is not None for q in queries)},
        "box_files_agreement": agreement,
        "invalid_boxes": args.invalid_boxes,
        "reads": {"is3": report.as_dict()},
        "unreadable_media": problems,
    }
    changed = real.write_manifest(dest, manifest)
    print(f"\nClass dict: {dest / CLASS_FILES}\nManifest {'written' if changed else 'unchanged'}: "
          f"{dest / real.MANIFEST_NAME}")
    if args.strict and (report.missing or problems):
        print("error: --strict and some annotations lack media or cannot be read", file=sys.stderr)
        return 1
    return 0


def compare_box_files(dest: Path, chosen: str) -> str:
    """When both box files are present, how many names they share and how many of those have different boxes."""
    names = ("IS3_annotation.json", "synthetic3240_bbox.json")
    if not all((dest / n).is_file() for n in names):
        return ""
    try:
        boxes = [{a.name: a.box for a in real.read_is3_annotations(dest / n)} for n in names]
    except real.AnnotationError as err:
        return f"box files not compared ({err})"
    common = boxes[0].keys() & boxes[1].keys()
    differ = sum(1 for name in common if boxes[0][name] != boxes[1][name])
    return (f"{names[0]} vs {names[1]}: {len(boxes[0])} and {len(boxes[1])} annotations, {len(common)} shared, "
            f"{differ} with different boxes (the check read {chosen})")


if __name__ == "__main__":
    sys.exit(main())
