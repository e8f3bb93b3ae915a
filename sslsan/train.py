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
from sslsan.data.records import Query
from sslsan.losses import TAU, SaNConfig, ezvsl_loss, san_loss
from sslsan.models import AVModel, ModelConfig, load_imagenet_trunk, load_state
from sslsan.negatives import NoiseConfig, make_negatives


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on (saved as ``config.json`` next to its checkpoints).

    ``image_init``/``audio_init``: ``"scratch"``, ``"imagenet"`` (image only; needs internet) or the path of a trunk
    ``state_dict`` from :mod:`sslsan.pretrain`. ``trunk_lr`` is the image trunk's learning rate: ``None`` = ``lr``,
    ``0`` = frozen (its features are then computed once and cached, which makes a CPU step ~3× cheaper).
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
    return model


def set_train_mode(model: AVModel, config: TrainConfig) -> None:
    model.train()
    if config.frozen_trunk:
        model.image.trunk.eval()  # keep the pretrained BatchNorm statistics


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


def contrastive_step(model, config: TrainConfig, image_features: torch.Tensor | None, images: torch.Tensor | None,
                     waves: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """Loss of one batch. Either cached trunk ``image_features`` (frozen trunk) or raw ``images`` are given.

    Negative audio (SaN) is generated here from the batch's shape, passed through the same audio encoder in the
    same forward pass (so it shares BatchNorm statistics with real audio) and given to the SaN plug-in.
    """
    device = waves.device
    batch, num_samples = waves.shape
    san = config.san
    replaced = None
    negatives = torch.empty(0, num_samples, device=device)
    if san is not None:
        if san.mode == "replacement":
            count = max(1, round(san.ratio * batch))
            order = torch.randperm(batch, generator=generator)[:count].to(device)
            replaced = torch.zeros(batch, dtype=torch.bool, device=device)
            replaced[order] = True
            per_kind = -(-count // len(san.kinds))
            clips, _ = make_negatives(san.kinds, per_kind, num_samples, san.noise, generator, device)
            waves = waves.clone()
            waves[replaced] = clips[torch.randperm(len(clips), generator=generator)[:count].to(device)]
        else:
            negatives, _ = make_negatives(san.kinds, san.clips_per_kind(batch), num_samples, san.noise,
                                          generator, device)
    # one forward through `model` (DDP needs its forward to run) with real and negative audio together
    image_maps, audio = model(images, torch.cat([waves, negatives]), image_features=image_features, amp=config.amp)
    audio_pos, audio_neg = audio[:batch], audio[batch:]
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
    """The training pairs' audio, augmented reproducibly per (seed, epoch, index)."""

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


def default_augment():
    """IS3+-mini's on-the-fly audio augmentation (speed, gain, EQ, noise floor), if available."""
    try:
        from sslsan.data.augment import AudioAugment
    except ImportError:
        return None
    return AudioAugment()


def load_image_batch(root: Path, queries: Sequence[Query], size: int) -> torch.Tensor:
    """Images ``B×3×size×size`` in [0, 1]."""
    from sslsan.data.dataset import load_image
    from sslsan.data.records import resolve

    arrays = [load_image(resolve(root, q.image), size) for q in queries]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def image_trunk_features(model: AVModel, root: Path, queries: Sequence[Query], config: TrainConfig,
                         device: torch.device, cache_dir: Path | None = None, batch_size: int = 64,
                         progress: bool = True) -> torch.Tensor:
    """Frozen-trunk features of every training image (and of its mirror image when ``hflip``), cached on disk.

    Returns ``N×V×512×h×w`` in bfloat16 on the CPU (V = 2 views with flips, else 1). The cache key is the trunk's
    weights, the image size and the list of images, so a different trunk or dataset never reuses stale features.
    """
    import hashlib

    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    for name, tensor in sorted(model.image.trunk.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().numpy().tobytes())
    digest.update(json.dumps([config.image_size, config.hflip, str(Path(root).resolve()),
                              [q.image for q in queries]]).encode())
    path = cache_dir / f"image-features-{digest.hexdigest()[:20]}.pt" if cache_dir else None
    if path is not None and path.is_file():
        return torch.load(path, weights_only=True)
    model.image.eval()
    chunks = []
    for start in tqdm(range(0, len(queries), batch_size), desc="image features (frozen trunk)",
                      disable=not progress, leave=False):
        images = load_image_batch(root, queries[start : start + batch_size], config.image_size).to(device)
        views = [images, images.flip(-1)] if config.hflip else [images]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
            feats = torch.stack([model.image.features(v) for v in views], 1)
        chunks.append(feats.to(torch.bfloat16).cpu())
    features = torch.cat(chunks)
    if path is not None:
        save_atomic(features, path)
    return features


@torch.no_grad()
def validation_loss(model: AVModel, config: TrainConfig, root: Path, queries: Sequence[Query],
                    device: torch.device, batch_size: int = 64) -> dict:
    """Mean EZ-VSL loss and mean positive-pair map peak on the val split (no augmentation, no flips)."""
    from sslsan.audio import fit_length, load_audio
    from sslsan.data.records import resolve

    model.eval()
    num_samples = int(round(model.audio.front_end.config.duration * 16000))
    losses, peaks, weights = [], [], []
    for start in range(0, len(queries), batch_size):
        chunk = queries[start : start + batch_size]
        if len(chunk) < 2:
            break
        images = load_image_batch(root, chunk, config.image_size).to(device)
        waves = torch.from_numpy(np.stack([fit_length(load_audio(resolve(root, q.audio)), num_samples)
                                           for q in chunk])).to(device)
        image_maps, audio = model(images, waves)
        losses.append(float(ezvsl_loss(image_maps, audio, config.tau)))
        peaks.append(float(torch.einsum("bchw,bc->bhw", image_maps, audio).flatten(1).amax(1).mean()))
        weights.append(len(chunk))
    w = np.asarray(weights, dtype=float)
    return {"val_loss": float(np.dot(losses, w) / w.sum()), "val_pos_peak": float(np.dot(peaks, w) / w.sum())}


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
        features = image_trunk_features(model, data, train_queries, config, dev, cache_dir, progress=progress and
                                        rank == 0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    trunk = set(model.image.trunk.parameters())
    groups = [{"params": [p for p in trainable if p not in trunk], "lr": config.lr}]
    if not config.frozen_trunk:
        groups.append({"params": [p for p in trainable if p in trunk],
                       "lr": config.lr if config.trunk_lr is None else config.trunk_lr})
    optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
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
    augment = default_augment() if config.audio_augment else None
    num_samples = int(round(model.audio.front_end.config.duration * 16000))
    audio_data = PairAudio(data, train_queries, num_samples, config.seed, augment)
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
        loader = torch.utils.data.DataLoader(audio_data, batch_sampler=local, num_workers=config.workers)
        rows, started = [], time.perf_counter()
        bar = tqdm(zip(local, loader), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=not progress or rank > 0, leave=False)
        for step, (indices, waves) in enumerate(bar):
            index = torch.as_tensor(indices)
            view = flips[index] if config.hflip else torch.zeros_like(index)
            if features is not None:
                image_features, images = features[index, view].to(dev), None
            else:
                images = load_image_batch(data, [train_queries[i] for i in indices], config.image_size)
                images = torch.where(view.view(-1, 1, 1, 1).bool(), images.flip(-1), images).to(dev)
                image_features = None
            loss, stats = contrastive_step(net, config, image_features, images, waves.to(dev), negatives_gen)
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
                record.update(validation_loss(model, config, data, val_queries, dev))
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
                                "device": str(dev), "world_size": world})
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
