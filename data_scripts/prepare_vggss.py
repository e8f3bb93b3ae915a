#!/usr/bin/env python
"""Prepare VGG-SS (VGG-Sound Sources; Chen et al., CVPR 2021) for sslsan — for a user with internet.

The annotation and list files are public GitHub files: with ``--fetch-metadata`` they are downloaded from
raw.githubusercontent.com (pinned commit, sha256 checked), or copied from ``--metadata-dir``. The media (a frame and
the 10 s audio of each clip) come from YouTube via VGGSound and are downloaded by hand; this script says from where,
then organises a downloaded folder (``--source``) or archive (``--archive``) into::

    DEST/frames/<id>.jpg  DEST/audio/<id>.wav  DEST/vggss.json  DEST/vggss_test.csv  (+ heard/unheard/extended lists)

checks it with the readers of :mod:`sslsan.data.vggss` and :mod:`sslsan.data.extended`, and writes
``DEST/sslsan_manifest.json``. Re-running is safe: files already in place are left alone.

Example::

    python data_scripts/prepare_vggss.py --dest data/VGGSS --fetch-metadata --source ~/Downloads/vggss_test
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data.extended import read_extended
from sslsan.data.lists import quiet_reports, read_id_list
from sslsan.data.metadata import DATASET_METADATA, MANIFEST_NAME, SOURCES
from sslsan.data.vggss import VGGSS_TEST_LISTS, read_vggss

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared part is a sibling file (tests load us by path)
import _prepare_common as common  # noqa: E402

METADATA = DATASET_METADATA["vggss"]
REQUIRED = ("vggss.json", "vggss_test.csv")
EXTENDED = "vggss_test_plus_silent.csv"
WIDTH = 28  # of the file-name column


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "VGG-SS (Chen et al., CVPR 2021): what to download, and from where",
        "  1. Boxes and id lists: public GitHub files, pinned by commit and sha256 (--fetch-metadata downloads them):",
        *common.pinned_lines(METADATA, WIDTH),
        "  2. Media: sslsan cannot download them (YouTube clips, not redistributable). VGG-SS is described on the LVS",
        f"     project page {SOURCES['vggss']}; the clips belong to VGGSound ({SOURCES['vggsound']}).",
        "     For clip <youtube id>_<start seconds, 6 digits> (e.g. zpWuikVorYg_000032) you need",
        "     frames/<id>.jpg = the middle frame of the 10 s clip, audio/<id>.wav = its 10 s of audio (16 kHz mono).",
        "     Some clips are gone from YouTube; this script counts what is missing.",
        "  3. Extended VGG-SS (SLAVC) needs the media of 379 more clips, in SLAVC's 'Extended-VGG-Sound Source'",
        f"     archive on Google Drive: {SOURCES['extended_vggss']}",
        "  This script does not download from YouTube or Google Drive: get the media there, then pass --source or",
        "  --archive.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("Organise and check VGG-SS for sslsan (see the module docstring).")
    common.add_source_options(parser, source="folder holding the downloaded frames and audio", layout=(
        "frames-audio", "how the source holds the media (default: frames/ and audio/ folders)"))
    common.add_run_options(parser, placed="media", strict="listed clip", invalid_boxes=(
        "what the check does with boxes empty in the 224 frame (default drop; see read_vggss)"))
    return parser


def plan(args: argparse.Namespace) -> list[str]:
    """The steps this run will take."""
    return [f"metadata: make {', '.join(METADATA)} present in {args.dest} {common.metadata_origin(args)}",
            *common.source_steps(args, f"place ({args.mode}) frames/<id>.jpg and audio/<id>.wav for the test and "
                                       f"extended ids from {args.source or 'the unpacked archive'} "
                                       f"(layout {args.source_layout})"),
            "check with sslsan.data.vggss.read_vggss (test, heard, unheard) and read_extended; "
            f"write {args.dest / MANIFEST_NAME}"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common.announce(how_to_get(), plan(args))
    if args.dry_run:
        return 0
    present = common.obtain(args, METADATA, width=WIDTH, required=REQUIRED)
    if present is None:
        return 1
    image_ids, audio_ids = common.extended_ids(args.dest, EXTENDED, present, read_id_list(args.dest / "vggss_test.csv"))
    failed = common.place_frames_audio(args, image_ids, audio_ids)
    if failed:
        return failed
    with quiet_reports():
        return check(args, args.dest, present)


def check(args: argparse.Namespace, dest: Path, present: set[str]) -> int:
    """Read every list with the library readers, print their reports and write the manifest."""
    reads = common.Check(dest, args.check_media)
    if not common.frames_audio_ready(dest):
        present = set()
    try:
        for subset, list_name in VGGSS_TEST_LISTS.items():
            if list_name in present:
                reads.add(subset, read_vggss(dest, subset, invalid_boxes=args.invalid_boxes))
        if EXTENDED in present:
            reads.add("extended_negatives", read_extended(dest, EXTENDED))
    except common.READ_ERRORS as err:
        return common.fail(err)
    reads.show()
    manifest = reads.manifest(
        "vggss", "frames/<id>.jpg, audio/<id>.wav; boxes: vggss.json (normalised, -> int(224*clip(v,0,1)))",
        METADATA, invalid_boxes=args.invalid_boxes)
    return common.finish(args, reads, manifest, lacking="listed clips")


if __name__ == "__main__":
    sys.exit(main())
