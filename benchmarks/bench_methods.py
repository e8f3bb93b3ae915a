"""Benchmark: the cost of one audio-visual run of every method in the zoo, relative to EZ-VSL, on this machine.

Each method trains with the book's configuration (:func:`sslsan.experiments.config_for`, the method swapped),
on the book's pretrained trunks, from a warm cache of the frozen trunks' outputs (the first, untimed run fills
it: the image views of SSL-TIE and SSL-Align are cached by their own first run, also untimed). The issue's
budget: one run of any method ≤ 2× an EZ-VSL run. The CPU, the thread count and the load are printed.

Usage::

    python benchmarks/bench_methods.py               # 2 epochs per method (≈ 6 min on 2 cores)
    python benchmarks/bench_methods.py --epochs 6    # the book's length
    python benchmarks/bench_methods.py --san         # every method with silence and noise
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the book trains 6)")
    parser.add_argument("--san", action="store_true", help="train every method with silence and noise")
    parser.add_argument("--out", type=Path, help="write the timings as JSON here")
    args = parser.parse_args()

    import torch

    from sslsan import experiments
    from sslsan.config import describe_device, pick_device
    from sslsan.methods import METHODS
    from sslsan.train import train

    plan = experiments.plan(False)
    data = experiments.ensure_data(plan)
    pretrained = experiments.ensure_pretrained(plan, data)
    san = experiments.METHODS["SSL-SaN"] if args.san else None
    load = os.getloadavg()[0]
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sslsan-bench-") as tmp:
        tmp, cache = Path(tmp), Path(tmp) / "cache"
        for name in ["ezvsl", *[m for m in METHODS if m != "ezvsl"]]:
            config = replace(experiments.config_for(plan, pretrained, san, 0), method=name, epochs=args.epochs)
            if name == "ezvsl" or METHODS[name].image_views:  # fill the caches this method reads, untimed
                train(replace(config, epochs=1), data, tmp / f"{name}-warmup", cache_dir=cache, progress=False)
            started = time.perf_counter()
            train(config, data, tmp / name, cache_dir=cache, progress=False)
            seconds[name] = time.perf_counter() - started
    print(f"device {describe_device(pick_device())} | CPU {platform.processor() or platform.machine()} | "
          f"{torch.get_num_threads()} threads | load average before {load:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{args.epochs} epochs per run, {'with' if args.san else 'without'} silence and noise, warm cache")
    for name, value in seconds.items():
        print(f"{METHODS[name].title:10s} {value:7.1f} s   {value / seconds['ezvsl']:.2f}× EZ-VSL")
    if args.out:
        args.out.write_text(json.dumps({"epochs": args.epochs, "san": args.san, "seconds": seconds}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
