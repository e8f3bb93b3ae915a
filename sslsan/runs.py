"""A training run: its configuration, its folder, and how a finished run is loaded back.

A run folder holds ``config.json`` (the :class:`TrainConfig` and the data it was trained on), ``metrics.csv`` (one
row per step), ``validation.json`` (one entry per epoch), ``last.pt`` (everything needed to resume, after every
epoch) and, when finished, ``model.pt`` (the final ``state_dict``) and ``done.json``. Every file is written
atomically; checkpoints are read with ``weights_only=True``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from sslsan.config import check_seed, requested_precision
from sslsan.errors import DataError, MissingFileError, UsageError
from sslsan.io import atomic_path
from sslsan.methods import TAU, SaNConfig, get_method
from sslsan.models import TRUNK_STAGES, AVModel, ModelConfig, load_imagenet_trunk, load_state
from sslsan.negatives import NoiseConfig


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on (saved as ``config.json`` next to its checkpoints).

    ``method`` names the base loss (:data:`sslsan.methods.METHODS`) and ``method_config`` its hyper-parameters
    (an instance of that method's config dataclass; ``None`` = its defaults); ``san`` adds silence and noise.
    ``image_init``/``audio_init``: ``"scratch"``, ``"imagenet"`` (image only; needs internet) or the path of a trunk
    ``state_dict`` from :mod:`sslsan.pretrain`. ``trunk_lr`` is the image trunk's learning rate: ``None`` = ``lr``,
    ``0`` = frozen (its features are then computed once and cached).
    ``audio_train_from`` names the first trainable stage of the audio trunk (``stem`` = all of it; ``layer4`` =
    only the last block; ``head`` = only the projection). The frozen stages' outputs are cached for
    ``audio_views`` augmented views of every pair (each epoch picks one view per pair), and SaN noise then comes
    from a bank of ``noise_bank`` pre-encoded clips. Methods that compare image views (SSL-TIE, SSL-Align) with a
    frozen trunk use ``image_views`` cached augmented views of every image. ``amp`` is the precision:
    ``True``/``"auto"`` = bfloat16 where it is fast (see :func:`sslsan.config.bf16_is_fast`), ``False``/``"float32"``,
    ``"bfloat16"``.
    """

    preset: str = "custom"
    image_size: int = 224
    last_stride: int = 2
    front_end: str = "legacy"
    dim: int = 512
    image_init: str = "scratch"
    audio_init: str = "scratch"
    trunk_lr: float | None = None
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 0.0
    tau: float = TAU
    amp: bool | str = True
    hflip: bool = True
    audio_augment: bool = True
    audio_train_from: str = "stem"
    audio_views: int = 6
    image_views: int = 4
    noise_bank: int = 256
    san: SaNConfig | None = None
    seed: int = 0
    max_pairs: int | None = None
    workers: int = 0
    method: str = "ezvsl"
    method_config: Any = None

    def __post_init__(self):
        method = get_method(self.method)
        if self.method_config is not None and not isinstance(self.method_config, method.config):
            raise UsageError(f"training config: method_config of {self.method} must be a "
                             f"{method.config.__name__}, got {type(self.method_config).__name__}")
        self.model  # validates the method's model options against the architecture
        bad = [f"{name}={value}" for name, value in (("lr", self.lr), ("tau", self.tau), ("dim", self.dim),
                                                     ("image_size", self.image_size),
                                                     ("audio_views", self.audio_views),
                                                     ("image_views", self.image_views),
                                                     ("noise_bank", self.noise_bank)) if not value > 0]
        bad += [f"{name}={value}" for name, value in (("workers", self.workers),
                                                      ("weight_decay", self.weight_decay)) if value < 0]
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            bad.append(f"epochs={self.epochs} (a run with no epochs would save an untrained model as finished)")
        bad += [f"{name}={value} (not finite)" for name, value in (("lr", self.lr), ("tau", self.tau),
                                                                   ("weight_decay", self.weight_decay))
                if value != value or abs(value) == float("inf")]
        check_seed(self.seed, "training config: seed")
        if self.batch_size < 2:
            bad.append(f"batch_size={self.batch_size} (a contrastive batch needs at least 2 pairs)")
        if self.trunk_lr is not None and self.trunk_lr < 0:
            bad.append(f"trunk_lr={self.trunk_lr}")
        if self.max_pairs is not None and self.max_pairs < 1:
            bad.append(f"max_pairs={self.max_pairs}")
        if bad:
            raise UsageError(f"training config: {', '.join(bad)} out of range")
        requested_precision(self.amp)  # a typo must fail here, not pick a precision silently
        if self.audio_train_from not in TRUNK_STAGES:
            raise UsageError(f"audio_train_from {self.audio_train_from!r} is not one of {sorted(TRUNK_STAGES)}")

    @property
    def method_settings(self):
        """The method's config: ``method_config``, or the method's defaults."""
        return get_method(self.method).config() if self.method_config is None else self.method_config

    @property
    def model(self) -> ModelConfig:
        return ModelConfig(dim=self.dim, image_size=self.image_size, last_stride=self.last_stride,
                           front_end=self.front_end,
                           **get_method(self.method).model_options(self.method_settings))

    @property
    def frozen_trunk(self) -> bool:
        return self.trunk_lr == 0

    @property
    def audio_start(self) -> int:
        """How many leading stages of the audio trunk are frozen (their outputs cached)."""
        return TRUNK_STAGES[self.audio_train_from]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        if data.get("san") is not None:
            san = dict(data["san"])
            san["kinds"] = tuple(san["kinds"])
            san["noise"] = NoiseConfig(**san["noise"])
            data["san"] = SaNConfig(**san)
        if data.get("method_config") is not None:
            data["method_config"] = get_method(data.get("method", "ezvsl")).config(**data["method_config"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


#: ``mini-cpu``: what the book uses (112 px → 7×7 with a stride-1 layer4, 64-band mel audio, frozen pretrained
#: image trunk, batch 32, Adam 3e-4, bf16); ``paper``: the lineage's recipe for GPUs (224 px, legacy 257×200
#: audio, ImageNet-initialised trunk trained at the same rate, batch 128, Adam 1e-4, 20 epochs on VGGSound-144k).
PRESETS: dict[str, TrainConfig] = {
    "mini-cpu": TrainConfig(preset="mini-cpu", image_size=112, last_stride=1, front_end="mini", trunk_lr=0.0,
                            epochs=8, batch_size=32, lr=3e-4),
    "paper": TrainConfig(preset="paper", image_size=224, last_stride=2, front_end="legacy", image_init="imagenet",
                         trunk_lr=None, epochs=20, batch_size=128, lr=1e-4),
}


def preset(name: str, **overrides) -> TrainConfig:
    if name not in PRESETS:
        raise UsageError(f"unknown training preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def build_model(config: TrainConfig) -> AVModel:
    """The model with its trunks initialised as ``config`` says (checkpoints are read with ``weights_only``)."""
    model = AVModel(config.model)
    if config.image_init == "imagenet":
        load_imagenet_trunk(model.image)
    elif config.image_init != "scratch":
        model.image.trunk.load_state_dict(load_state(config.image_init))
    if config.audio_init != "scratch":
        model.audio.trunk.load_state_dict(load_state(config.audio_init))
    if config.frozen_trunk:
        model.image.trunk.requires_grad_(False)
    model.audio.trunk[: config.audio_start].requires_grad_(False)
    return model


@dataclass
class RunFiles:
    """Where a run keeps its state. ``last.pt`` = everything needed to resume; ``model.pt`` = final weights."""

    out: Path

    config = property(lambda self: self.out / "config.json")
    last = property(lambda self: self.out / "last.pt")
    model = property(lambda self: self.out / "model.pt")
    metrics = property(lambda self: self.out / "metrics.csv")
    validation = property(lambda self: self.out / "validation.json")
    done = property(lambda self: self.out / "done.json")


def read_run_config(out: Path) -> TrainConfig:
    """The :class:`TrainConfig` stored in a run folder."""
    files = RunFiles(Path(out))
    if not files.config.is_file():
        raise MissingFileError(f"{out}: no config.json (not an sslsan run folder)")
    try:
        return TrainConfig.from_dict(json.loads(files.config.read_text())["train"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{files.config}: not a run configuration ({type(err).__name__}: {err})") from err


def load_run(out: Path, device: str = "cpu", which: str = "model") -> tuple[AVModel, TrainConfig]:
    """A finished (``which="model"``) or last-epoch (``"last"``) model of a run, and its config."""
    files = RunFiles(Path(out))
    config = read_run_config(out)
    model = AVModel(config.model)
    state = load_state(files.model if which == "model" else files.last, map_location=device)
    model.load_state_dict(state if which == "model" else state["model"])
    return model.to(device).eval(), config


def write_metrics(path: Path, rows: list[dict], keep_before_epoch: int) -> None:
    """Append one epoch's step rows, first dropping rows of this or later epochs (left by a killed run)."""
    old = []
    if path.is_file():
        with path.open() as handle:
            old = [r for r in csv.DictReader(handle) if int(r["epoch"]) < keep_before_epoch]
    names = list(dict.fromkeys(k for r in old + rows for k in r))
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(old + rows)
