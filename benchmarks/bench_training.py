"""Benchmark: the book's training budgets on the default IS3+-mini, wall-clock, on this machine.

Times, with the book's own configurations (:func:`sslsan.experiments.plan`):

1. the pretraining stage (image trunk, then audio trunk), from scratch, into a temporary folder;
2. one audio-visual run of EZ-VSL and one of SSL-SaN, each from a cold cache (the frozen trunks' outputs are
   computed first, as in a fresh ``make book``) and again with the cache warm (every later run of the book);
3. the evaluation of one run with the full protocol (10 negative-audio seeds) and with fixed negatives.

The issue's targets on 2 cores: pretraining ≤ 10 min, one audio-visual run ≤ 3 min. The load average is printed
before and after (other work on the machine slows everything down).

Usage::

    python benchmarks/bench_training.py                    # everything (9 min on 2 bf16-capable cores)
    python benchmarks/bench_training.py --reuse-pretrained  # skip (1): time runs on the book's pretrained trunks
    python benchmarks/bench_training.py --out results.json  # also write the numbers as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse-pretrained", action="store_true",
                        help="use the book's pretrained trunks (train them first if missing) instead of timing them")
    parser.add_argument("--out", type=Path, help="write the timings as JSON here")
    args = parser.parse_args()

    from sslsan import experiments  # imported after parsing: --help stays instant
    from sslsan.config import describe_device, pick_device
    from sslsan.evaluate import EvalConfig, evaluate
    from sslsan.pretrain import run_pretraining
    from sslsan.runs import load_run
    from sslsan.train import train

    plan = experiments.plan(False)
    data = experiments.ensure_data(plan)
    load = os.getloadavg()[0]
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sslsan-bench-") as tmp:
        tmp = Path(tmp)
        if args.reuse_pretrained:
            pretrained = experiments.ensure_pretrained(plan, data)
        else:
            for kind, config in (("image", plan.image_pretrain), ("audio", plan.audio_pretrain)):
                started = time.perf_counter()
                found = run_pretraining(data, tmp / "pretrained", (kind,), plan.image_pretrain, plan.audio_pretrain)
                timings[f"pretrain {kind} ({config.steps} steps)"] = time.perf_counter() - started
            pretrained = {k: tmp / "pretrained" / f"{k}_trunk.pt" for k in ("image", "audio")}
            timings["pretraining total"] = sum(v for k, v in timings.items() if k.startswith("pretrain "))
        cache = tmp / "cache"
        # the first run fills the cache of frozen-trunk outputs (shared by every later run of the same trunks)
        order = [(label, san, state) for label, san in experiments.METHODS.items() for state in ("cold", "warm")
                 if state == "warm" or label == "EZ-VSL"]
        for label, san, state in order:
            config = experiments.config_for(plan, pretrained, san, 0)
            started = time.perf_counter()
            train(config, data, tmp / f"{label}-{state}", cache_dir=cache)
            timings[f"{label} run, {state} cache ({config.epochs} epochs)"] = time.perf_counter() - started
        run = tmp / "EZ-VSL-warm"
        model, train_config = load_run(run)
        for name, config in (("evaluation, 10 seeds", plan.evaluation),
                             ("evaluation, fixed negatives", EvalConfig(seeds=()))):
            started = time.perf_counter()
            evaluate(model, data, config, references=(), seed=0, audio_start=train_config.audio_start,
                     cache_dir=cache)
            timings[name] = time.perf_counter() - started
    device = describe_device(pick_device())
    print(f"device {device} | load average before {load:.2f}, after {os.getloadavg()[0]:.2f}")
    for name, seconds in timings.items():
        print(f"{name:45s} {seconds:7.1f} s  ({seconds / 60:.1f} min)")
    if args.out:
        args.out.write_text(json.dumps({"device": device, "timings_s": timings}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
