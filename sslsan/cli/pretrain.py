"""``sslsan pretrain``: the offline pretraining stage of the image and audio trunks."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from sslsan.config import PRECISIONS, amp_option, pick_device
from sslsan.errors import MissingFileError, UsageError
from sslsan.io import check_writable
from sslsan.pretrain import AUDIO_PRETRAIN, IMAGE_PRETRAIN, run_pretraining


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="an IS3+-mini dataset folder (with pretrain/)")
    parser.add_argument("--out", type=Path, required=True, help="folder for image_trunk.pt / audio_trunk.pt")
    parser.add_argument("--what", default="image,audio", help="image, audio or image,audio")
    parser.add_argument("--image-steps", type=int, default=IMAGE_PRETRAIN.steps)
    parser.add_argument("--audio-steps", type=int, default=AUDIO_PRETRAIN.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS),
                        help="auto = bfloat16 where the hardware has it natively, else float32")
    parser.add_argument("--force", action="store_true", help="retrain even if trunks with this config exist")


def run(args: argparse.Namespace) -> int:
    if not (args.data / "pretrain" / "annotations.json").is_file():
        raise MissingFileError(f"{args.data}: no pretrain/annotations.json (build IS3+-mini with `sslsan data build`)")
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    if not what or set(what) - {"image", "audio"}:
        raise UsageError(f"--what {args.what!r}: use image, audio or image,audio")
    amp = amp_option(args.precision)
    image = replace(IMAGE_PRETRAIN, steps=args.image_steps, seed=args.seed, amp=amp)
    audio = replace(AUDIO_PRETRAIN, steps=args.audio_steps, seed=args.seed, amp=amp)
    pick_device(args.device)
    check_writable(args.out, "--out")
    done = run_pretraining(args.data, args.out, what, image, audio, device=args.device, force=args.force)
    for kind, path in done.items():
        report = json.loads(path.with_suffix(".json").read_text())
        print(f"{kind}: {path} (val accuracy {report['history'][-1]['val_accuracy']:.3f})")
    return 0
