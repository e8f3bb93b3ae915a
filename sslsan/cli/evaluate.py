"""``sslsan evaluate``: a run's report with positive and negative audio beside the reference rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from sslsan.config import check_seed, display_path, pick_device
from sslsan.errors import MissingFileError, UsageError
from sslsan.io import check_writable
from sslsan.evaluate import THRESHOLD_COMBINES, EvalConfig, evaluate, write_report
from sslsan.protocol import COMPANION_SEEDS
from sslsan.reference_rows import REFERENCE_ROWS
from sslsan.runs import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="IS3-format dataset folder (e.g. IS3+-mini)")
    parser.add_argument("--run", type=Path, required=True,
                        help="a run folder from `sslsan train`, or its model.pt / last.pt checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="report .json (per-sample arrays go to .npz)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", default="companion",
                        help="'companion' (the 10 seeds of the companion paper), 'fixed' (the dataset's stored "
                             "negatives) or a comma-separated list of seeds")
    parser.add_argument("--references", default=",".join(REFERENCE_ROWS),
                        help=f"reference rows to add: any of {', '.join(REFERENCE_ROWS)}, or 'none'")
    parser.add_argument("--threshold-quantile", type=float, default=0.75)
    parser.add_argument("--threshold-combine", default="hardest", choices=THRESHOLD_COMBINES)
    parser.add_argument("--device", default="auto")


def parse_seeds(text: str) -> tuple[int, ...]:
    if text == "companion":
        return COMPANION_SEEDS
    if text == "fixed":
        return ()
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise UsageError(f"--seeds {text!r}: use 'companion', 'fixed' or integers like 1,2,3") from None
    for seed in seeds:
        check_seed(seed, "--seeds")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: a seed appears twice (its draws would be counted twice)")
    return seeds


def parse_references(text: str) -> tuple[str, ...]:
    references = () if text == "none" else tuple(r for r in text.split(",") if r)
    unknown = set(references) - set(REFERENCE_ROWS)
    if unknown:
        raise UsageError(f"--references: unknown rows {sorted(unknown)}; choose from {', '.join(REFERENCE_ROWS)}")
    return references


def run(args: argparse.Namespace) -> int:
    run_dir = args.run.parent if args.run.suffix == ".pt" else args.run
    which = "last" if args.run.name == "last.pt" else "model"
    if not (run_dir / "config.json").is_file():
        raise MissingFileError(f"{args.run}: not an sslsan run (no config.json next to it)")
    if not (args.data / "dataset.json").is_file():
        raise MissingFileError(f"{args.data}: not a dataset folder (no dataset.json)")
    eval_config = EvalConfig(split=args.split, seeds=parse_seeds(args.seeds),
                             threshold_quantile=args.threshold_quantile, threshold_combine=args.threshold_combine)
    references = parse_references(args.references)
    for split in (args.split, eval_config.fit_split):
        if not (args.data / "annotations" / f"{split}.json").is_file():
            raise UsageError(f"--split {split}: {args.data} has no annotations/{split}.json")
    pick_device(args.device)
    check_writable(args.out, "--out", folder=False)  # before minutes of evaluation, not after
    model, config = load_run(run_dir, which=which)
    report, arrays = evaluate(model, args.data, eval_config, device=args.device, references=references,
                              seed=config.seed, run_name="model", audio_start=config.audio_start)
    report["protocol"]["run"] = display_path(run_dir)
    report["protocol"]["checkpoint"] = which
    write_report(report, arrays, args.out)
    row = report["rows"]["model"]
    print(f"report: {display_path(args.out)} (+ {args.out.with_suffix('.npz').name})")
    for part, block in row["positive"].items():
        print(f"  {part:7} mean cIoU {block['median']['mean_ciou']:.3f}  cIoU@0.5 {block['median']['ciou@0.5']:.3f}"
              f"  pointing {row['diagnostics'][part]['pointing']:.3f}")
    for kind, block in row.get("negative", {}).items():
        print(f"  {kind:9} pIA {block['pia']:.3f}  AUC_N {block['auc_n']:.3f}")
    return 0
