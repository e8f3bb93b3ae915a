"""Benchmark: how long IS3+-mini takes to build once the assets are cached, and how loaded the machine was.

    python benchmarks/bench_data_build.py [--preset default] [--workers 2] [--out DIR] [--keep]

Prints one JSON object: asset verification time, build time, items per second, CPU count, the 1-minute load
average before and after (other work on a shared machine slows the build), sizes on disk, and the layout
baselines of the test split (centre prior and 7×7 ceiling under the median policy).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sslsan.data import is3
from sslsan.data.mini.assets import ensure_assets
from sslsan.data.mini.build import build_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="build here (default: a temporary folder, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary build")
    args = parser.parse_args()


    started = time.perf_counter()
    ensure_assets()
    assets_seconds = time.perf_counter() - started
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="is3plus-bench-")) / "data"
    load_before = os.getloadavg()
    cpu_before = time.process_time()
    started = time.perf_counter()
    build_dataset(args.preset, out, args.seed, workers=args.workers, progress=False, log=lambda m: None)
    build_seconds = time.perf_counter() - started
    load_after = os.getloadavg()
    info = is3.read_info(out)
    images = info.splits.get("train_images", 0) + info.splits.get("val_images", 0) + \
        info.splits.get("test_images", 0) + info.splits.get("pretrain_images", 0)
    size = subprocess.run(["du", "-sm", str(out)], capture_output=True, text=True).stdout.split()[0]
    report = {
        "preset": args.preset, "workers": args.workers, "cpus": os.cpu_count(),
        "assets_verify_s": round(assets_seconds, 2), "build_s": round(build_seconds, 1),
        "images": images, "images_per_s": round(images / build_seconds, 1), "splits": info.splits,
        "parts": info.extra.get("parts"), "disk_mb": int(size),
        "loadavg_1m_before": round(load_before[0], 2), "loadavg_1m_after": round(load_after[0], 2),
        "main_process_cpu_s": round(time.process_time() - cpu_before, 1),
    }
    print(json.dumps(report, indent=1))
    if not args.out and not args.keep:
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
