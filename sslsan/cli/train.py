"""``sslsan train``: train a method on an IS3-format dataset (single process, or ``torchrun`` for several)."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

import torch
import torch.distributed as dist

from sslsan.config import PRECISIONS, amp_option, pick_device
from sslsan.errors import MissingFileError, UsageError
from sslsan.io import check_writable
from sslsan.methods import METHODS, SAN_MODES, SaNConfig, get_method
from sslsan.negatives import NOISE_TYPES, NoiseConfig
from sslsan.runs import PRESETS, TrainConfig, preset
from sslsan.train import train


def san_from_args(args: argparse.Namespace) -> SaNConfig | None:
    if args.san in ("none", ""):
        return None
    kinds = tuple(k.strip() for k in args.san.split(","))
    return SaNConfig(kinds=kinds, mode=args.san_mode, ratio=args.san_ratio,
                     noise=NoiseConfig(args.noise, args.noise_std), margin=args.margin, weight=args.san_weight,
                     sharpness=args.san_sharpness)


def method_config_from_args(args: argparse.Namespace):
    """The method's config dataclass with the ``--method-option KEY=VALUE`` overrides (``None`` when none)."""
    if not args.method_option:
        return None
    method = get_method(args.method)
    types = {f.name: f.type for f in fields(method.config)}
    values = {}
    for item in args.method_option:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            raise UsageError(f"--method-option {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(types) or '(none: ' + method.name + ' has no options)'}")
        values[key] = parse_value(text.strip(), types[key], f"--method-option {key}")
    return method.config(**values)


def parse_value(text: str, annotation, option: str):
    """``text`` as the type a dataclass field declares (bool, int, float, str; annotations may be strings)."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    try:
        if name == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if name == "int":
            return int(text)
        if name == "float":
            return float(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a {name}") from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="IS3-format dataset folder (e.g. IS3+-mini)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (created; never overwritten)")
    parser.add_argument("--preset", default="mini-cpu", choices=sorted(PRESETS))
    parser.add_argument("--method", default="ezvsl", choices=list(METHODS), help="base loss (sslsan.methods)")
    parser.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a hyper-parameter of the method's config (repeatable), e.g. warmup_epochs=2")
    parser.add_argument("--san", default="none",
                        help="negative audio added in training: none, silence, noise or silence,noise")
    parser.add_argument("--san-mode", default="extra-negatives", choices=SAN_MODES)
    parser.add_argument("--san-ratio", type=float, default=0.25,
                        help="negative clips per batch as a fraction of the batch size (replacement: pairs replaced)")
    parser.add_argument("--noise", default="white", choices=NOISE_TYPES)
    parser.add_argument("--noise-std", type=float, default=1.0, help="noise level (1.0 = N(0, 1), the eval's noise)")
    parser.add_argument("--margin", type=float, default=0.0, help="cosine margin of the replacement/penalty hinge; threshold of the soft-area term")
    parser.add_argument("--san-weight", type=float, default=1.0,
                        help="weight of the replacement/penalty hinge or of the soft-area term")
    parser.add_argument("--san-sharpness", type=float, default=0.03,
                        help="width of the sigmoid of the soft-area term (cosine units)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--image-init", help="scratch, imagenet (needs internet) or a pretrained trunk .pt")
    parser.add_argument("--audio-init", help="scratch or a pretrained audio trunk .pt")
    parser.add_argument("--trunk-lr", help="image trunk learning rate, or 'frozen'")
    parser.add_argument("--workers", type=int, help="data-loading processes")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--precision", choices=("auto", *PRECISIONS),
                        help="auto (the preset's default) = bfloat16 where the hardware has it natively, else float32")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its last epoch")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {"seed": args.seed, "san": san_from_args(args), "method": args.method,
                 "method_config": method_config_from_args(args)}
    for name in ("epochs", "batch_size", "lr", "image_init", "audio_init", "workers"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.precision is not None:
        overrides["amp"] = amp_option(args.precision)
    if args.trunk_lr is not None:
        overrides["trunk_lr"] = 0.0 if args.trunk_lr == "frozen" else parse_value(args.trunk_lr, "float",
                                                                                   "--trunk-lr (a rate or 'frozen')")
    return preset(args.preset, **overrides)


def run(args: argparse.Namespace) -> int:
    if not (args.data / "dataset.json").is_file():
        raise MissingFileError(f"{args.data}: not a dataset folder (no dataset.json); build one with "
                               "`sslsan data build`")
    for option in ("image_init", "audio_init"):
        value = getattr(args, option)
        if value not in (None, "scratch", "imagenet") and not Path(value).is_file():
            raise MissingFileError(f"--{option.replace('_', '-')} {value}: file not found")
    config = config_from_args(args)
    pick_device(args.device)  # a device that does not exist is refused before any work
    check_writable(args.out, "--out")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = args.device
    if world > 1:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and args.device != "cpu"
        if use_cuda:
            torch.cuda.set_device(local_rank)
            device = f"cuda:{local_rank}"
        dist.init_process_group("nccl" if use_cuda else "gloo")
    try:
        train(config, args.data, args.out, resume=args.resume, device=device, cache_dir=args.out / "feature-cache")
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0
