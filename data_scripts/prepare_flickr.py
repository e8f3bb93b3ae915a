#!/usr/bin/env python
"""Prepare the Flickr-SoundNet test set (Senocak et al., CVPR 2018) for sslsan — for a user with internet.

The test lists are public GitHub files: with ``--fetch-metadata`` they are downloaded from raw.githubusercontent.com
(pinned commit, sha256 checked), or copied from ``--metadata-dir``. Both published lists are kept, because the
literature uses both: ``flickr_test.csv`` (250 ids, SLAVC / SSL-Align) and ``flickr_test_249.csv`` (249 ids,
EZ-VSL / FNAC / LVS; ``3908875350`` is missing). The images, audio and XML annotations are downloaded by hand (see
the printed instructions); this script organises the download (``Annotations/`` + ``Data/0..9/``, or an already
organised ``frames/`` + ``audio/`` folder) into::

    DEST/frames/<id>.jpg  DEST/audio/<id>.wav  DEST/Annotations/<id>.xml  DEST/flickr_test.csv  DEST/flickr_test_249.csv

checks it with :func:`sslsan.data.flickr.read_flickr` and writes ``DEST/sslsan_manifest.json``. Re-running is safe.

Example::

    python data_scripts/prepare_flickr.py --dest data/Flickr-SoundNet --fetch-metadata --source ~/Downloads/flickr
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data.extended import read_extended
from sslsan.data.flickr import FLICKR_EZVSL_MISSING_ID, FLICKR_LIST_NOTES, read_flickr, read_flickr_list
from sslsan.data.lists import quiet_reports
from sslsan.data.media import media_source, organise_pairs
from sslsan.data.metadata import DATASET_METADATA, MANIFEST_NAME, SOURCES

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared part is a sibling file (tests load us by path)
import _prepare_common as common  # noqa: E402

METADATA = DATASET_METADATA["flickr"]
REQUIRED = ("flickr_test.csv",)
LISTS = {"250": "flickr_test.csv", "249": "flickr_test_249.csv"}
EXTENDED = "flickr_test_plus_silent.csv"
WIDTH = 28  # of the file-name column


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "Flickr-SoundNet test set (Senocak et al., CVPR 2018): what to download, and from where",
        "  1. Test lists: public GitHub files, pinned by commit and sha256 (--fetch-metadata downloads them):",
        *common.pinned_lines(METADATA, WIDTH),
        f"     The lists differ: 250 ids (SLAVC, SSL-Align) vs 249 (EZ-VSL, FNAC, LVS; {FLICKR_EZVSL_MISSING_ID}"
        " is missing). Report which one a number uses.",
        "  2. Images, audio and XML boxes (5k annotated pairs; the test ids are a subset): the dataset page",
        f"     {SOURCES['flickr']}",
        "     (when we checked, its README's download link was a placeholder: ask the authors). The download holds",
        "     Annotations/<id>.xml and Data/<0..9>/<id>.jpg + <id>.wav (--source-layout nested, the default).",
        "     Boxes are pixels of a 256x256 frame, from up to 3 annotators.",
        "  3. Extended Flickr-SoundNet (SLAVC) negatives: SLAVC's archive on Google Drive:",
        f"     {SOURCES['extended_flickr']}",
        "  This script does not download from Google Drive: get the data there, then pass --source/--archive.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("Organise and check Flickr-SoundNet for sslsan (see the docstring).")
    common.add_source_options(parser, source="downloaded folder (Annotations/ + Data/, or frames/ + audio/)",
                              layout=("nested", "nested: SOURCE/Data/<d>/<id>.jpg|wav (default); frames-audio; flat"))
    common.add_run_options(parser, placed="files", strict="listed id",
                           invalid_boxes="what the check does with boxes empty in the 224 frame (default drop)")
    return parser


def plan(args: argparse.Namespace) -> list[str]:
    """The steps this run will take."""
    media = "Data/" if args.source_layout == "nested" else "the source"
    return [f"metadata: make {', '.join(METADATA)} present in {args.dest} {common.metadata_origin(args)}",
            *common.source_steps(args, f"place ({args.mode}) frames/<id>.jpg, audio/<id>.wav (from {media}) and "
                                       "Annotations/<id>.xml for the 250 test ids and the extended ids"),
            f"check both lists (250 and 249) with read_flickr, and read_extended; write {args.dest / MANIFEST_NAME}"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.announce(how_to_get(), plan(args))
    if args.dry_run:
        return 0
    present = common.obtain(args, METADATA, width=WIDTH, required=REQUIRED)
    if present is None:
        return 1
    dest: Path = args.dest
    ids = [clip for clip, _ in read_flickr_list(dest / "flickr_test.csv")]
    image_ids, audio_ids = common.extended_ids(dest, EXTENDED, present, ids)
    try:
        nested = args.source_layout == "nested"
        source = media_source(dest, source=args.source, archive=args.archive,
                              contains=("Annotations", "Data") if nested else ("frames", "audio"))
        if source is not None:
            annotations = {f"Annotations/{clip}.xml": source / "Annotations" / f"{clip}.xml" for clip in ids}
            result = organise_pairs(source / "Data" if nested else source, args.source_layout, dest,
                                    image_ids, audio_ids, extra=annotations, mode=args.mode, overwrite=args.overwrite)
            common.print_placed("Files", source, result)
    except common.MEDIA_ERRORS as err:
        return common.fail(err)
    with quiet_reports():
        return check(args, dest, present)


def check(args: argparse.Namespace, dest: Path, present: set[str]) -> int:
    """Read both lists and the extended negatives, print the reports and the 249/250 difference, write the manifest."""
    reads = common.Check(dest, args.check_media)
    media_ready = all((dest / sub).is_dir() for sub in ("frames", "audio", "Annotations"))
    if not media_ready:
        print(f"\nCheck: no media yet (frames/, audio/ or Annotations/ absent in {dest}); metadata only")
    try:
        for variant, list_name in LISTS.items():
            if media_ready and list_name in present:
                reads.add(variant, read_flickr(dest, list_name, invalid_boxes=args.invalid_boxes))
        if media_ready and EXTENDED in present:
            reads.add("extended_negatives", read_extended(dest, EXTENDED))
    except common.READ_ERRORS as err:
        return common.fail(err)
    reads.show()
    reports = reads.reports
    if "250" in reports and "249" in reports:
        only = FLICKR_EZVSL_MISSING_ID
        on_disk = only not in reports["250"].missing
        print(f"  249 vs 250: the lists differ by {only} ({'on disk' if on_disk else 'not on disk'}); "
              f"{reports['250'].returned} vs {reports['249'].returned} queries")
    manifest = reads.manifest(
        "flickr", "frames/<id>.jpg, audio/<id>.wav, Annotations/<id>.xml (256-px boxes -> int(224*v/256), consensus)",
        METADATA, lists={variant: FLICKR_LIST_NOTES[variant] for variant in LISTS}, invalid_boxes=args.invalid_boxes)
    return common.finish(args, reads, manifest, lacking="listed ids")


if __name__ == "__main__":
    sys.exit(main())
