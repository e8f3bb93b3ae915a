#!/usr/bin/env python
"""Prepare the IS3 release (Interactive Synthetic Sound Source; SSL-Align, ICCV 2023) for sslsan — for a user
with internet.

IS3 is hosted on Google Drive (link in the SSLalignment README); download and unpack it by hand. This script
organises the unpacked folder (``--source``) or the downloaded archive (``--archive``) into::

    DEST/images/<name>.jpg  DEST/audio_wav/<name>.wav  DEST/gt_segmentation/<name>.*  DEST/IS3_annotation.json

(the release's ``audio_waw/`` — the README's spelling — becomes ``audio_wav/``), optionally adds the SSL-Align repo's
``synthetic3240_bbox.json`` (pinned; ``--fetch-metadata``), reads it with
:func:`sslsan.data.is3_release.read_is3_release`, writes ``DEST/class_files_dict.json`` (class → audio files, the
pool of offscreen negatives: IS3+-mini's format) and ``DEST/sslsan_manifest.json``. Re-running is safe.

Example::

    python data_scripts/prepare_is3.py --dest data/IS3 --archive ~/Downloads/IS3.zip --fetch-metadata
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data.class_files import class_files_dict, write_class_files_json
from sslsan.data.is3_release import is3_audio_dir, read_is3_annotations, read_is3_release
from sslsan.data.lists import quiet_reports
from sslsan.data.media import media_source, organise_folders
from sslsan.data.metadata import DATASET_METADATA, MANIFEST_NAME, SOURCES
from sslsan.data.records import AnnotationError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared part is a sibling file (tests load us by path)
import _prepare_common as common  # noqa: E402

METADATA = DATASET_METADATA["is3"]
EXPECTED_ANNOTATIONS, EXPECTED_IMAGES = 6480, 3240
CLASS_FILES = "class_files_dict.json"
WIDTH = 26  # of the file-name column


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "IS3 (SSL-Align, ICCV 2023 / TPAMI 2025): what to download, and from where",
        "  1. The dataset: one archive on Google Drive, linked from https://github.com/kaistmm/SSLalignment :",
        f"       {SOURCES['is3']}",
        f"     (the README's earlier link: {SOURCES['is3_previous']})",
        "     It holds images/, audio_waw/ (sic; audio_wav/ elsewhere), IS3_annotation.json and gt_segmentation/;",
        f"     {EXPECTED_ANNOTATIONS:,d} annotations <objA>_<objB>_<id>_<target> over {EXPECTED_IMAGES:,d} images, "
        "two per image.",
        "     sslsan does not download from Google Drive: download it in a browser, then pass --archive or --source.",
        "  2. Optional: the SSL-Align repo's box list, pinned by commit and sha256 (--fetch-metadata downloads it):",
        *common.pinned_lines(METADATA, WIDTH),
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("Organise and check the IS3 release for sslsan (see the docstring).")
    common.add_source_options(parser, source="the unpacked release (a folder holding images/)",
                              archive="the downloaded archive (unpacked into DEST/_downloads)")
    parser.add_argument("--annotation", choices=("IS3_annotation.json", "synthetic3240_bbox.json"),
                        default="IS3_annotation.json", help="which box file the check reads (default: the release's)")
    common.add_run_options(parser, placed="files", strict="annotation",
                           invalid_boxes="what the check does with empty or out-of-image boxes (default drop)",
                           metadata_dir="folder with a local copy of synthetic3240_bbox.json",
                           fetch="download synthetic3240_bbox.json (internet)", check="image, mask and audio file")
    return parser


def plan(args: argparse.Namespace) -> list[str]:
    """The steps this run will take."""
    return [f"metadata: synthetic3240_bbox.json in {args.dest} {common.metadata_origin(args, 'download if missing')}",
            *common.source_steps(args, f"place ({args.mode}) images/, audio_wav/ (from audio_wav/ or audio_waw/), "
                                       f"gt_segmentation/ and IS3_annotation.json from "
                                       f"{args.source or 'the unpacked archive'}"),
            f"read {args.annotation} with read_is3_release; write {args.dest / CLASS_FILES} and "
            f"{args.dest / MANIFEST_NAME}"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.announce(how_to_get(), plan(args))
    if args.dry_run:
        return 0
    if common.obtain(args, METADATA, width=WIDTH) is None:
        return 1
    dest: Path = args.dest
    try:
        source = media_source(dest, source=args.source, archive=args.archive, contains=("images",))
        if source is not None:
            audio = is3_audio_dir(source)
            result = organise_folders(
                {"images": source / "images", "audio_wav": source / audio,
                 "gt_segmentation": source / "gt_segmentation"},
                dest, files={"IS3_annotation.json": source / "IS3_annotation.json"}, mode=args.mode,
                overwrite=args.overwrite)
            absent = f"; not in the source: {', '.join(result.missing)}" if result.missing else ""
            print(f"\nFiles from {source}: {result.placed} placed, {result.unchanged} already in place{absent}")
    except common.MEDIA_ERRORS as err:
        return common.fail(err)
    with quiet_reports():
        return check(args, dest)


def check(args: argparse.Namespace, dest: Path) -> int:
    """Read the chosen box file, compare it with the other one when both exist, write the class dict and manifest."""
    if not (dest / args.annotation).is_file():
        return common.fail(f"{dest / args.annotation} does not exist (IS3_annotation.json comes with the release; "
                           "synthetic3240_bbox.json with --fetch-metadata)")
    try:
        queries = read_is3_release(dest, args.annotation, invalid_boxes=args.invalid_boxes)
    except common.READ_ERRORS as err:
        hint = ("; if the release's JSON has another schema, try --annotation synthetic3240_bbox.json"
                if args.annotation == "IS3_annotation.json" else "")
        return common.fail(f"{err}{hint}")
    report = queries.report
    images = {q.image_id for q in queries}
    classes = class_files_dict(queries)
    masks = sum(q.mask is not None for q in queries)
    print(f"\nCheck:\n  {report.summary()}")
    print(f"  {len(queries)} queries over {len(images)} images (release: {EXPECTED_ANNOTATIONS} over "
          f"{EXPECTED_IMAGES}), {len(classes)} target classes, {masks} masks")
    agreement = compare_box_files(dest, args.annotation)
    if agreement:
        print(f"  {agreement}")
    reads = common.Check(dest, args.check_media)
    reads.add("is3", queries)
    reads.show_unreadable()
    write_class_files_json(classes, dest / CLASS_FILES)
    manifest = reads.manifest(
        "is3", "images/<name>.jpg, audio_wav/<name>.wav, gt_segmentation/<name>.*; boxes 224-px -> int(v)", METADATA,
        annotation=args.annotation, box_files_agreement=agreement, invalid_boxes=args.invalid_boxes,
        counts={"queries": len(queries), "images": len(images), "classes": len(classes), "masks": masks})
    return common.finish(args, reads, manifest, lacking="annotations", written=[f"Class dict: {dest / CLASS_FILES}"])


def compare_box_files(dest: Path, chosen: str) -> str:
    """When both box files are present, how many names they share and how many of those have different boxes."""
    names = ("IS3_annotation.json", "synthetic3240_bbox.json")
    if not all((dest / n).is_file() for n in names):
        return ""
    try:
        boxes = [{a.name: a.box for a in read_is3_annotations(dest / n)} for n in names]
    except AnnotationError as err:
        return f"box files not compared ({err})"
    common_names = boxes[0].keys() & boxes[1].keys()
    differ = sum(1 for name in common_names if boxes[0][name] != boxes[1][name])
    return (f"{names[0]} vs {names[1]}: {len(boxes[0])} and {len(boxes[1])} annotations, {len(common_names)} "
            f"shared, {differ} with different boxes (the check read {chosen})")


if __name__ == "__main__":
    sys.exit(main())
