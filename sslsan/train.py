"""Training the audio-visual model: EZ-VSL, optionally with silence and noise (SSL-SaN), CPU to multi-GPU.

One seed drives everything: the order of the pairs, flips, augmentation and negative audio of epoch ``e`` depend
only on ``(seed, e)``, so a run killed and resumed (``--resume``) ends with the same weights as an uninterrupted one.
Checkpoints are plain ``state_dict``s written atomically at the end of every epoch; validation uses the **val**
split only.

Multi-GPU: launch with ``torchrun --nproc_per_node N -m sslsan train ...``. Embeddings are all-gathered (with
gradients), so the contrastive negatives of every GPU are the whole global batch, as in a single-GPU run.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

import sslsan
from sslsan.config import autocast, describe_device, quiet
from sslsan.data.augment import AudioAugment
from sslsan.data.records import Query
from sslsan.losses import TAU, SaNConfig, ezvsl_loss, san_loss
from sslsan.models import TRUNK_STAGES, AVModel, ModelConfig, load_imagenet_trunk, load_state
from sslsan.negatives import NoiseConfig, make_negatives
from sslsan.negatives import noise as negatives_noise


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on (saved as ``config.json`` next to its checkpoints).

    ``image_init``/``audio_init``: ``"scratch"``, ``"imagenet"`` (image only; needs internet) or the path of a trunk
    ``state_dict`` from :mod:`sslsan.pretrain`. ``trunk_lr`` is the image trunk's learning rate: ``None`` = ``lr``,
    ``0`` = frozen (its features are then computed once and cached).
    ``audio_train_from`` names the first trainable stage of the audio trunk (``stem`` = all of it; ``layer4`` =
    only the last block; ``head`` = only the projection). The frozen stages' outputs are cached for
    ``audio_views`` augmented views of every pair (each epoch picks one view per pair), and SaN noise then comes
    from a bank of ``noise_bank`` pre-encoded clips. ``amp`` asks for bfloat16 where it is fast (see
    :func:`sslsan.config.bf16_is_fast`).
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
    amp: bool = True
    hflip: bool = True
    audio_augment: bool = True
    audio_train_from: str = "stem"
    audio_views: int = 6
    noise_bank: int = 256
    san: SaNConfig | None = None
    seed: int = 0
    max_pairs: int | None = None
    workers: int = 0

    @property
    def model(self) -> ModelConfig:
        return ModelConfig(dim=self.dim, image_size=self.image_size, last_stride=self.last_stride,
                           front_end=self.front_end)

    @property
    def frozen_trunk(self) -> bool:
        return self.trunk_lr == 0

    @property
    def audio_start(self) -> int:
        """How many leading stages of the audio trunk are frozen (their outputs cached)."""
        if self.audio_train_from not in TRUNK_STAGES:
            raise ValueError(f"audio_train_from {self.audio_train_from!r} is not one of {sorted(TRUNK_STAGES)}")
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
        raise ValueError(f"unknown training preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


# --------------------------------------------------------------------------------------------------- helpers


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, epoch, stream): what makes resumed runs exact."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0]))


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` to a temporary file, then rename: a killed run never leaves a truncated checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


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


def set_train_mode(model: AVModel, config: TrainConfig) -> None:
    model.train()
    if config.frozen_trunk:
        model.image.trunk.eval()  # keep the pretrained BatchNorm statistics
    model.audio.trunk[: config.audio_start].eval()


class GatherWithGradient(torch.autograd.Function):
    """``all_gather`` whose backward sums the gradients of every rank and returns this rank's slice.

    Every rank computes the loss on the full global batch; DDP then averages the parameter gradients, which
    together gives exactly the gradient of a single process that saw the global batch.
    """

    @staticmethod
    def forward(ctx, tensor):
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        ctx.rank, ctx.size = dist.get_rank(), tensor.shape[0]
        return torch.cat(gathered)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.size : (ctx.rank + 1) * ctx.size]


def gather(tensor: torch.Tensor) -> torch.Tensor:
    return GatherWithGradient.apply(tensor) if dist.is_available() and dist.is_initialized() else tensor


# ------------------------------------------------------------------------------------------------ the step


class NegativeSource:
    """Where a batch's silence and noise come from: generated waveforms, or — when the audio trunk's first stages
    are frozen and cached — their cached outputs (silence once, noise from a bank of pre-encoded clips).

    ``draw(kinds, count, generator)`` returns ``count`` clips per kind, stacked, as the audio model's input.
    """

    def __init__(self, num_samples: int, noise: NoiseConfig, device: torch.device,
                 silence_prefix: torch.Tensor | None = None, noise_prefix: torch.Tensor | None = None,
                 bank: Sequence[torch.Tensor] = ()):
        self.num_samples, self.noise, self.device, self.bank = num_samples, noise, device, bank
        self.silence_prefix, self.noise_prefix = silence_prefix, noise_prefix

    def draw(self, kinds, count: int, generator: torch.Generator) -> torch.Tensor:
        if self.silence_prefix is None:
            return make_negatives(kinds, count, self.num_samples, self.noise, generator, self.device, self.bank)[0]
        parts = []
        for kind in kinds:
            if kind == "silence":
                parts.append(self.silence_prefix.expand(count, *self.silence_prefix.shape[1:]))
            else:
                pick = torch.randint(len(self.noise_prefix), (count,), generator=generator)
                parts.append(self.noise_prefix[pick])
        return torch.cat(parts).to(self.device, torch.float32)


def contrastive_step(model, config: TrainConfig, image_features: torch.Tensor | None, images: torch.Tensor | None,
                     audio: torch.Tensor, negatives: NegativeSource, generator: torch.Generator,
                     audio_start: int = 0) -> tuple[torch.Tensor, dict]:
    """Loss of one batch. Either cached trunk ``image_features`` (frozen trunk) or raw ``images`` are given;
    ``audio`` holds waveforms, or cached outputs of the audio trunk's first ``audio_start`` stages.

    Negative audio (SaN) comes from ``negatives``, goes through the same audio encoder in the same forward pass as
    the real audio (so it shares BatchNorm statistics) and is given to the SaN plug-in.
    """
    device = audio.device
    batch = audio.shape[0]
    san = config.san
    replaced = None
    extra = audio[:0]
    if san is not None:
        if san.mode == "replacement":
            count = max(1, round(san.ratio * batch))
            order = torch.randperm(batch, generator=generator)[:count].to(device)
            replaced = torch.zeros(batch, dtype=torch.bool, device=device)
            replaced[order] = True
            clips = negatives.draw(san.kinds, -(-count // len(san.kinds)), generator)
            audio = audio.clone()
            audio[replaced] = clips[torch.randperm(len(clips), generator=generator)[:count].to(device)]
        else:
            extra = negatives.draw(san.kinds, san.clips_per_kind(batch), generator)
    # one forward through `model` (DDP needs its forward to run) with real and negative audio together
    image_maps, embeddings = model(images, torch.cat([audio, extra]), image_features=image_features,
                                   audio_start=audio_start, amp=config.amp)
    audio_pos, audio_neg = embeddings[:batch], embeddings[batch:]
    image_maps, audio_pos = gather(image_maps), gather(audio_pos)
    stats = {}
    if san is None:
        loss = ezvsl_loss(image_maps, audio_pos, config.tau)
    elif san.mode == "replacement":
        replaced = gather(replaced)
        loss = san_loss(ezvsl_loss, image_maps, audio_pos, audio_pos[replaced], san, config.tau, replaced=replaced)
    else:
        loss = san_loss(ezvsl_loss, image_maps, audio_pos, gather(audio_neg), san, config.tau)
    with torch.no_grad():
        peaks = torch.einsum("bchw,bc->bhw", image_maps, audio_pos).flatten(1).amax(1)
        keep = ~replaced if replaced is not None else slice(None)
        stats["pos_peak"] = float(peaks[keep].mean())
        if san is not None:
            neg = audio_pos[replaced] if replaced is not None else gather(audio_neg)
            stats["neg_peak"] = float(torch.einsum("bchw,kc->bkhw", image_maps, neg).flatten(2).amax(-1).mean())
    return loss, stats


# --------------------------------------------------------------------------------------------------- data


class PairAudio(torch.utils.data.Dataset):
    """The training pairs' audio, augmented reproducibly per (seed, epoch, index).

    With augmentation, each epoch draws a fresh view (speed, crop, EQ, level, noise floor) of the pair's own source
    ``recording`` when the dataset stores it (IS3+-mini does), else of its clip: a new moment of the same sound,
    which is self-supervision; another recording of the same class would be label supervision.
    """

    def __init__(self, root: Path, queries: Sequence[Query], num_samples: int, seed: int,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None):
        self.root, self.queries, self.num_samples = Path(root), list(queries), num_samples
        self.seed, self.augment, self.epoch = seed, augment, 0

    def __len__(self):
        return len(self.queries)

    def __getitem__(self, index):
        from sslsan.audio import fit_length, load_audio
        from sslsan.data.records import resolve

        query = self.queries[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        source = query.extra.get("recording") if self.augment is not None else None
        wave = load_audio(resolve(self.root, source or query.audio))
        if self.augment is not None:
            wave = self.augment(wave, rng)
        offset = None if self.augment is None else int(rng.integers(0, max(1, len(wave) - self.num_samples + 1)))
        return torch.from_numpy(np.ascontiguousarray(fit_length(wave, self.num_samples, offset)))




def load_image_batch(root: Path, queries: Sequence[Query], size: int) -> torch.Tensor:
    """Images ``B×3×size×size`` in [0, 1]."""
    from sslsan.data.dataset import load_image
    from sslsan.data.records import resolve

    arrays = [load_image(resolve(root, q.image), size) for q in queries]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)


def digest(module: torch.nn.Module, *extra) -> str:
    """A short hash of a module's weights and of ``extra`` (JSON-able): the key of a feature cache."""
    import hashlib

    hasher = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().float().numpy().tobytes())
    hasher.update(json.dumps(extra, default=str).encode())
    return hasher.hexdigest()[:20]


def cached_tensor(cache_dir: Path | None, name: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Load ``cache_dir/name.pt`` if present, else compute it and save it atomically (no cache_dir: just compute)."""
    path = cache_dir / f"{name}.pt" if cache_dir else None
    if path is not None and path.is_file():
        return torch.load(path, weights_only=True)
    value = compute()
    if path is not None:
        save_atomic(value, path)
    return value


@torch.no_grad()
def image_trunk_features(model: AVModel, root: Path, queries: Sequence[Query], image_size: int,
                         device: torch.device, cache_dir: Path | None = None, *, hflip: bool = False,
                         amp: bool = True, batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """Frozen-trunk features of every training image (and of its mirror image when ``hflip``), cached on disk.

    Returns ``N×V×512×h×w`` in bfloat16 on the CPU (V = 2 views with flips, else 1). The cache key is the trunk's
    weights, the image size and the list of images, so a different trunk or dataset never reuses stale features.
    """
    from tqdm.auto import tqdm

    def compute():
        model.image.eval()
        chunks = []
        for start in tqdm(range(0, len(queries), batch_size), desc="image features (frozen trunk)",
                          disable=quiet(progress), leave=False):
            images = load_image_batch(root, queries[start : start + batch_size], image_size).to(device)
            views = [images, images.flip(-1)] if hflip else [images]
            with autocast(device, amp):
                feats = torch.stack([model.image.features(v) for v in views], 1)
            chunks.append(feats.to(torch.bfloat16).cpu())
        return torch.cat(chunks)

    key = digest(model.image.trunk, image_size, hflip, str(Path(root).resolve()), [q.image for q in queries])
    return cached_tensor(cache_dir, f"image-features-{key}", compute)


#: augmented views of the training audio do not depend on a run's seed, so all runs share one cache
VIEW_SEED = 0


@torch.no_grad()
def audio_prefix_features(model: AVModel, root: Path, queries: Sequence[Query], config: TrainConfig,
                          device: torch.device, cache_dir: Path | None = None, batch_size: int = 64,
                          progress: bool = True) -> torch.Tensor:
    """Outputs of the frozen first stages of the audio trunk for ``config.audio_views`` augmented views of every
    training pair: ``N×V×C×f×t`` (bfloat16, CPU), cached on disk under a key of the prefix weights and the data.
    """
    from tqdm.auto import tqdm

    start = config.audio_start
    num_samples = model.audio.front_end.config.num_samples
    augment = AudioAugment() if config.audio_augment else None
    pairs = PairAudio(root, queries, num_samples, VIEW_SEED, augment)

    def compute():
        model.audio.eval()
        views = []
        for view in tqdm(range(config.audio_views), desc="audio views (frozen stages)", disable=quiet(progress),
                         leave=False):
            pairs.epoch = view
            loader = torch.utils.data.DataLoader(pairs, batch_size=batch_size, num_workers=config.workers)
            with autocast(device, config.amp):
                views.append(torch.cat([model.audio.prefix(w.to(device), start).to(torch.bfloat16).cpu()
                                        for w in loader]))
        return torch.stack(views, 1)

    key = digest(model.audio.trunk[:start], model.audio.front_end.config, start, config.audio_views,
                 config.audio_augment, str(Path(root).resolve()),
                 [q.extra.get("recording") or q.audio for q in queries])
    return cached_tensor(cache_dir, f"audio-views-{key}", compute)


@torch.no_grad()
def negative_source(model: AVModel, config: TrainConfig, device: torch.device, data: Path) -> NegativeSource:
    """Silence and noise for SaN: waveforms, or pre-encoded by the frozen audio stages (a bank of noise clips)."""
    num_samples = model.audio.front_end.config.num_samples
    noise = config.san.noise if config.san is not None else NoiseConfig()
    bank = ambience_bank(data) if noise.type == "ambience" else ()
    if config.audio_start == 0:
        return NegativeSource(num_samples, noise, device, bank=bank)
    model.audio.eval()
    silence = model.audio.prefix(torch.zeros(1, num_samples, device=device), config.audio_start)
    clips = [negatives_noise(min(64, config.noise_bank - i), num_samples, noise,
                             epoch_generator(config.seed, 0, 99 + i), device, bank)
             for i in range(0, config.noise_bank, 64)]
    noise_prefix = torch.cat([model.audio.prefix(c, config.audio_start) for c in clips])
    return NegativeSource(num_samples, noise, device, silence.cpu(), noise_prefix.cpu())


def ambience_bank(data: Path) -> list[torch.Tensor]:
    """Recorded scene sounds (rain, wind, sea…) of the **val** offscreen pool, for ``ambience`` noise in training
    (never the test pool, whose clips are the test's offscreen negatives)."""
    from sslsan.audio import load_audio
    from sslsan.data.is3 import read_class_files
    from sslsan.data.mini.classmap import offscreen_classes
    from sslsan.data.records import resolve

    scene = set(offscreen_classes())
    files = [f for cls, names in sorted(read_class_files(data, "val").items()) if cls in scene for f in names]
    if not files:
        raise ValueError(f"{data}: no scene recordings in the val offscreen pool for ambience noise")
    return [torch.from_numpy(load_audio(resolve(data, f))) for f in files]


@torch.no_grad()
@torch.no_grad()
def validation_loss(model: AVModel, config: TrainConfig, root: Path, queries: Sequence[Query],
                    device: torch.device, batch_size: int = 64, cache_dir: Path | None = None) -> dict:
    """Mean EZ-VSL loss (batches of ``batch_size``) and mean positive-pair map peak on the val split, no
    augmentation. Frozen stages (image trunk, leading audio stages) reuse the caches of :mod:`sslsan.evaluate`,
    so validating a run with frozen trunks costs only its trainable layers."""
    from sslsan.evaluate import AudioEmbedder, image_maps_of, positive_waves, query_table

    model.eval()
    table = query_table(queries, size=8)  # only the image index is used
    image_maps = image_maps_of(model, root, table, config.image_size, device, batch_size,
                               cache_dir if config.frozen_trunk else None)[torch.as_tensor(table.image_index)]
    embed = AudioEmbedder(model, device, config.audio_start, cache_dir, batch_size)
    num_samples = model.audio.front_end.config.num_samples
    audio = embed(f"validation|{Path(root).resolve()}|{[q.query_id for q in queries]}",
                  lambda: positive_waves(root, queries, num_samples))
    losses, weights = [], []
    for start in range(0, len(queries) - 1, batch_size):
        maps, emb = image_maps[start : start + batch_size], audio[start : start + batch_size]
        if len(maps) < 2:
            break
        losses.append(float(ezvsl_loss(maps, emb, config.tau)))
        weights.append(len(maps))
    peaks = torch.einsum("bchw,bc->bhw", image_maps, audio).flatten(1).amax(1)
    return {"val_loss": float(np.dot(losses, weights) / np.sum(weights)), "val_pos_peak": float(peaks.mean())}


# ---------------------------------------------------------------------------------------------- the loop


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


def train(config: TrainConfig, data: Path, out: Path, *, resume: bool = False, device: str = "auto",
          cache_dir: Path | None = None, progress: bool = True, max_epochs: int | None = None) -> AVModel:
    """Train a model on the ``train`` split of the IS3-format dataset ``data``, validating on ``val``.

    Writes ``config.json``, ``metrics.csv`` (one row per step), ``validation.json`` (one entry per epoch),
    ``last.pt`` after every epoch and ``model.pt`` + ``done.json`` at the end. ``resume`` continues from
    ``last.pt`` (the config must match). ``max_epochs`` stops early without finishing the run (used to
    simulate a killed run in tests).
    """
    from tqdm.auto import tqdm

    from sslsan.data.is3 import read_info, read_queries

    data, out = Path(data), Path(out)
    files = RunFiles(out)
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    dev = pick_device(device)
    if config.batch_size % world:
        raise ValueError(f"batch size {config.batch_size} is not divisible by the {world} processes")
    if files.config.is_file():
        stored = TrainConfig.from_dict(json.loads(files.config.read_text())["train"])
        if stored != config:
            raise ValueError(f"{out}: holds a run with a different configuration; use another --out")
        if not resume and files.last.is_file():
            raise ValueError(f"{out}: holds a started run; pass --resume to continue it or use another --out")
    info = read_info(data)
    train_queries = read_queries(data, "train")[: config.max_pairs]
    val_queries = read_queries(data, "val") if (data / "annotations" / "val.json").is_file() else []
    if len(train_queries) < config.batch_size:
        raise ValueError(f"{data}: {len(train_queries)} training pairs, fewer than one batch of {config.batch_size}")
    torch.manual_seed(config.seed)
    model = build_model(config).to(dev)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_json(files.config, {"train": config.to_dict(), "data": str(data), "dataset": info.name,
                                  "classes": info.classes, "sslsan": sslsan.__version__})
    features = None
    if config.frozen_trunk:
        features = image_trunk_features(model, data, train_queries, config.image_size, dev, cache_dir,
                                        hflip=config.hflip, amp=config.amp, progress=progress and rank == 0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    trunk = set(model.image.trunk.parameters())
    groups = [{"params": [p for p in trainable if p not in trunk], "lr": config.lr}]
    if not config.frozen_trunk:
        groups.append({"params": [p for p in trainable if p in trunk],
                       "lr": config.lr if config.trunk_lr is None else config.trunk_lr})
    optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    start_epoch, history = 0, []
    if resume and files.last.is_file():
        state = load_state(files.last, map_location=dev)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"]) + 1
        history = json.loads(files.validation.read_text()) if files.validation.is_file() else []
        history = [h for h in history if h["epoch"] < start_epoch]
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    augment = AudioAugment() if config.audio_augment else None
    num_samples = model.audio.front_end.config.num_samples
    audio_data = PairAudio(data, train_queries, num_samples, config.seed, augment)
    audio_views = None
    if config.audio_start:
        audio_views = audio_prefix_features(model, data, train_queries, config, dev, cache_dir,
                                            progress=progress and rank == 0)
    negatives = negative_source(model, config, dev, data)
    local_batch = config.batch_size // world
    steps_per_epoch = len(train_queries) // config.batch_size
    last_epoch = config.epochs if max_epochs is None else min(config.epochs, max_epochs)
    if rank == 0 and start_epoch == 0 and files.metrics.is_file():
        files.metrics.unlink()
    for epoch in range(start_epoch, last_epoch):
        set_train_mode(model, config)
        audio_data.epoch = epoch
        order = torch.randperm(len(train_queries), generator=epoch_generator(config.seed, epoch, 0))
        flips = torch.randint(2, (len(train_queries),), generator=epoch_generator(config.seed, epoch, 1))
        negatives_gen = epoch_generator(config.seed, epoch, 2 + rank)
        batches = [order[s * config.batch_size : (s + 1) * config.batch_size] for s in range(steps_per_epoch)]
        local = [b[rank * local_batch : (rank + 1) * local_batch].tolist() for b in batches]
        if audio_views is None:
            loader = torch.utils.data.DataLoader(audio_data, batch_sampler=local, num_workers=config.workers)
        else:  # one cached augmented view per pair and epoch
            view_of = torch.randint(config.audio_views, (len(train_queries),),
                                    generator=epoch_generator(config.seed, epoch, 3))
            loader = (audio_views[torch.as_tensor(i), view_of[torch.as_tensor(i)]].float() for i in local)
        rows, started = [], time.perf_counter()
        bar = tqdm(zip(local, loader), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=quiet(progress) or rank > 0, leave=False)
        for step, (indices, waves) in enumerate(bar):
            index = torch.as_tensor(indices)
            view = flips[index] if config.hflip else torch.zeros_like(index)
            if features is not None:
                image_features, images = features[index, view].to(dev), None
            else:
                images = load_image_batch(data, [train_queries[i] for i in indices], config.image_size)
                images = torch.where(view.view(-1, 1, 1, 1).bool(), images.flip(-1), images).to(dev)
                image_features = None
            loss, stats = contrastive_step(net, config, image_features, images, waves.to(dev), negatives,
                                           negatives_gen, config.audio_start)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            rows.append({"epoch": epoch, "step": epoch * steps_per_epoch + step, "loss": loss.item(), **stats})
            bar.set_postfix(loss=f"{loss.item():.3f}")
        seconds = time.perf_counter() - started
        if rank == 0:
            record = {"epoch": epoch, "train_loss": float(np.mean([r["loss"] for r in rows])),
                      "seconds": round(seconds, 2), "s_per_step": round(seconds / max(1, len(rows)), 4)}
            if val_queries:
                record.update(validation_loss(model, config, data, val_queries, dev, cache_dir=cache_dir))
            history.append(record)
            save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                        files.last)
            write_json(files.validation, history)
            write_metrics(files.metrics, rows, keep_before_epoch=epoch)
            if progress:
                print(f"epoch {epoch + 1}/{config.epochs}: " + ", ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
                    if k != "epoch"), flush=True)
        if distributed:
            dist.barrier()
    if rank == 0 and last_epoch == config.epochs:
        save_atomic(model.state_dict(), files.model)
        total = sum(h["seconds"] for h in history)
        write_json(files.done, {"epochs": config.epochs, "steps": steps_per_epoch * config.epochs,
                                "train_seconds": round(total, 1),
                                "s_per_step": round(total / max(1, steps_per_epoch * config.epochs), 4),
                                "device": describe_device(dev, config.amp), "world_size": world})
    return model


def write_metrics(path: Path, rows: list[dict], keep_before_epoch: int) -> None:
    """Append one epoch's step rows, first dropping rows of this or later epochs (left by a killed run)."""
    old = []
    if path.is_file():
        with path.open() as handle:
            old = [r for r in csv.DictReader(handle) if int(r["epoch"]) < keep_before_epoch]
    names = list(dict.fromkeys(k for r in old + rows for k in r))
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(old + rows)
    os.replace(tmp, path)


def load_run(out: Path, device: str = "cpu", which: str = "model") -> tuple[AVModel, TrainConfig]:
    """A finished (``which="model"``) or last-epoch (``"last"``) model of a run, and its config."""
    files = RunFiles(Path(out))
    if not files.config.is_file():
        raise FileNotFoundError(f"{out}: no config.json (not an sslsan run folder)")
    config = TrainConfig.from_dict(json.loads(files.config.read_text())["train"])
    model = AVModel(config.model)
    state = load_state(files.model if which == "model" else files.last, map_location=device)
    model.load_state_dict(state if which == "model" else state["model"])
    return model.to(device).eval(), config


# ------------------------------------------------------------------------------------------------------ CLI


def san_from_args(args: argparse.Namespace) -> SaNConfig | None:
    if args.san in ("none", ""):
        return None
    kinds = tuple(k.strip() for k in args.san.split(","))
    return SaNConfig(kinds=kinds, mode=args.san_mode, ratio=args.san_ratio,
                     noise=NoiseConfig(args.noise, args.noise_std), margin=args.margin, weight=args.san_weight)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="IS3-format dataset folder (e.g. IS3+-mini)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (created; never overwritten)")
    parser.add_argument("--preset", default="mini-cpu", choices=sorted(PRESETS))
    parser.add_argument("--method", default="ezvsl", choices=["ezvsl"], help="base loss (EZ-VSL's MIL InfoNCE)")
    parser.add_argument("--san", default="none",
                        help="negative audio added in training: none, silence, noise or silence,noise")
    parser.add_argument("--san-mode", default="extra-negatives", choices=["extra-negatives", "replacement",
                                                                           "penalty"])
    parser.add_argument("--san-ratio", type=float, default=0.25,
                        help="negative clips per batch as a fraction of the batch size (replacement: pairs replaced)")
    parser.add_argument("--noise", default="white", choices=["white", "pink", "ambience"])
    parser.add_argument("--noise-std", type=float, default=1.0, help="noise level (1.0 = N(0, 1), the eval's noise)")
    parser.add_argument("--margin", type=float, default=0.0, help="cosine margin of the replacement/penalty hinge")
    parser.add_argument("--san-weight", type=float, default=1.0, help="weight of the replacement/penalty hinge")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--image-init", help="scratch, imagenet (needs internet) or a pretrained trunk .pt")
    parser.add_argument("--audio-init", help="scratch or a pretrained audio trunk .pt")
    parser.add_argument("--trunk-lr", help="image trunk learning rate, or 'frozen'")
    parser.add_argument("--workers", type=int, help="data-loading processes")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its last epoch")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {"seed": args.seed, "san": san_from_args(args)}
    for name in ("epochs", "batch_size", "lr", "image_init", "audio_init", "workers"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.trunk_lr is not None:
        overrides["trunk_lr"] = 0.0 if args.trunk_lr == "frozen" else float(args.trunk_lr)
    return preset(args.preset, **overrides)


def run(args: argparse.Namespace) -> int:
    from sslsan.cli import CommandError

    if not (args.data / "dataset.json").is_file():
        raise CommandError(f"{args.data}: not a dataset folder (no dataset.json); build one with `sslsan data build`")
    for option in ("image_init", "audio_init"):
        value = getattr(args, option)
        if value not in (None, "scratch", "imagenet") and not Path(value).is_file():
            raise CommandError(f"--{option.replace('_', '-')} {value}: file not found")
    try:
        config = config_from_args(args)
    except ValueError as err:
        raise CommandError(str(err)) from None
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
        train(config, args.data, args.out, resume=args.resume, device=device,
              cache_dir=args.out / "feature-cache")
    except ValueError as err:
        raise CommandError(str(err)) from None
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0
