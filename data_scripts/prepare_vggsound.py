#!/usr/bin/env python
"""Prepare the VGGSound training subsets (VGGSound-10k / -144k of the EZ-VSL lineage) for sslsan — for a user with
internet.

The id lists are public GitHub files: with ``--fetch-metadata`` they are downloaded from raw.githubusercontent.com
(pinned commit, sha256 checked), or copied from ``--metadata-dir``. The clips are YouTube videos listed by VGGSound;
download and convert them yourself (see the printed instructions), then this script organises a folder of frames
and wavs (``--source``) or an archive (``--archive``) into::

    DEST/frames/<id>.jpg  DEST/audio/<id>.wav  DEST/vggss_10k.txt  DEST/vggss_144k.txt

counts what is missing with :func:`sslsan.data.vggsound.read_vggsound_train`, and writes
``DEST/sslsan_manifest.json``. Re-running is safe.

Example::

    python data_scripts/prepare_vggsound.py --dest data/VGGSound-all --subset 144k --fetch-metadata --source ~/vggsound
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sslsan.data.lists import quiet_reports, read_id_list
from sslsan.data.metadata import DATASET_METADATA, MANIFEST_NAME, PINNED, SOURCES
from sslsan.data.vggsound import VGGSOUND_TRAIN_LISTS, read_vggsound_train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared part is a sibling file (tests load us by path)
import _prepare_common as common  # noqa: E402

METADATA = DATASET_METADATA["vggsound"]
WIDTH = 16  # of the file-name column


def how_to_get() -> str:
    """What to download, and from where (printed on every run)."""
    lines = [
        "VGGSound training subsets (EZ-VSL lineage): what to download, and from where",
        "  1. Id lists: public GitHub files, pinned by commit and sha256 (--fetch-metadata downloads them):",
        *(f"       {name:{WIDTH}s} {PINNED[name].rows:>7,d} ids  {PINNED[name].url}" for name in METADATA),
        f"  2. Clips: YouTube videos listed in vggsound.csv on the VGGSound page {SOURCES['vggsound']}",
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
    parser = common.make_parser("Organise and check VGGSound training subsets for sslsan.",
                                dest="dataset folder (VGGSound-all) to create or complete")
    parser.add_argument("--subset", choices=sorted(VGGSOUND_TRAIN_LISTS), action="append",
                        help="training list(s) to organise and check (repeatable; default: 10k and 144k)")
    common.add_source_options(
        parser, source="folder holding the converted frames and audio",
        archive="a .zip/.tar archive of them (unpacked into DEST/_downloads)",
        layout=("frames-audio", "how the source holds the media (default: frames/ and audio/ folders)"))
    parser.add_argument("--frame-ext", choices=(".jpg", ".png"), default=".jpg", help="frame suffix (default .jpg)")
    common.add_run_options(parser, placed="media", invalid_boxes=None, strict="listed id",
                           metadata_dir="folder with local copies of the id lists",
                           fetch="download missing id lists (internet)")
    return parser


def plan(args: argparse.Namespace, lists: list[str]) -> list[str]:
    """The steps this run will take."""
    return [f"metadata: make {', '.join(lists)} present in {args.dest} {common.metadata_origin(args)}",
            *common.source_steps(args, f"place ({args.mode}) frames/<id>{args.frame_ext} and audio/<id>.wav for the "
                                       f"listed ids from {args.source or 'the unpacked archive'} "
                                       f"(layout {args.source_layout})"),
            f"count present/missing ids with read_vggsound_train; write {args.dest / MANIFEST_NAME}"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    subsets = sorted(set(args.subset or VGGSOUND_TRAIN_LISTS))
    lists = [VGGSOUND_TRAIN_LISTS[s] for s in subsets]
    common.announce(how_to_get(), plan(args, lists))
    if args.dry_run:
        return 0
    if common.obtain(args, lists, width=WIDTH, required=lists) is None:
        return 1
    ids: set[str] = set()
    for name in lists:
        ids |= set(read_id_list(args.dest / name))
    failed = common.place_frames_audio(args, ids, ids, image_ext=args.frame_ext)
    if failed:
        return failed
    with quiet_reports():
        return check(args, args.dest, lists)


def check(args: argparse.Namespace, dest: Path, lists: list[str]) -> int:
    """Count present/missing ids per list, print the reports, write the manifest."""
    reads = common.Check(dest, args.check_media)
    if common.frames_audio_ready(dest):
        for name in lists:
            reads.add(name, read_vggsound_train(dest, name, frame_ext=args.frame_ext))
    reads.show()
    manifest = reads.manifest("vggsound-train", f"frames/<id>{args.frame_ext}, audio/<id>.wav", lists)
    return common.finish(args, reads, manifest, lacking="listed ids")


if __name__ == "__main__":
    sys.exit(main())
