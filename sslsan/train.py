"""Training the audio-visual model with a method of :mod:`sslsan.methods`, optionally with silence and noise
(SSL-SaN), from a CPU to several GPUs.

One seed drives everything: the order of the pairs, flips, augmentation and negative audio of epoch ``e`` depend
only on ``(seed, e)`` through the named streams of :class:`sslsan.config.Stream`, so a run killed and resumed ends
with the same weights as an uninterrupted one. Checkpoints are plain ``state_dict``s written atomically at the end
of every epoch; validation uses the **val** split only.

Multi-GPU: launch with ``torchrun --nproc_per_node N -m sslsan train ...``. Embeddings are all-gathered (with
gradients), so the contrastive negatives of every GPU are the whole global batch, as in a single-GPU run.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

import sslsan
from sslsan.audio import load_audio
from sslsan.config import Stream, describe_device, pick_device, precision_name, quiet, stream_generator
from sslsan.data.augment import AudioAugment
from sslsan.data.manifest import check_dataset
from sslsan.data.is3 import dataset_fingerprint, read_class_files, read_info, read_queries
from sslsan.data.mini.classmap import offscreen_classes
from sslsan.data.records import Query, resolve
from sslsan.errors import DataError, UsageError
from sslsan.data.image_views import make_views
from sslsan.features import (AudioEmbedder, PairAudio, audio_prefix_features, augmented_image_features,
                             image_maps_of, image_trunk_features, load_image_batch, positive_waves)
from sslsan.io import check_writable, folder_lock, save_torch, write_json
from sslsan.methods import Batch, get_method, san_batch, san_loss
from sslsan.models import AVModel, load_state, localization_maps, similarity_maps
from sslsan.negatives import NoiseConfig, make_negatives
from sslsan.negatives import noise as negatives_noise
from sslsan.protocol import query_table
from sslsan.runs import RunFiles, TrainConfig, build_model, write_metrics

# ------------------------------------------------------------------------------------------- distributed


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


# ------------------------------------------------------------------------------------- negative audio


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
                             stream_generator(config.seed, Stream.NOISE_BANK, index=i), device, bank)
             for i in range(0, config.noise_bank, 64)]
    noise_prefix = torch.cat([model.audio.prefix(c, config.audio_start) for c in clips])
    return NegativeSource(num_samples, noise, device, silence.cpu(), noise_prefix.cpu())


def ambience_bank(data: Path) -> list[torch.Tensor]:
    """Recorded scene sounds (rain, wind, sea…) of the **val** offscreen pool, for ``ambience`` noise in training
    (never the test pool, whose clips are the test's offscreen negatives)."""
    scene = set(offscreen_classes())
    files = [f for cls, names in sorted(read_class_files(data, "val").items()) if cls in scene for f in names]
    if not files:
        raise DataError(f"{data}: no scene recordings in the val offscreen pool for ambience noise")
    return [torch.from_numpy(load_audio(resolve(data, f))) for f in files]


# ------------------------------------------------------------------------------------------------ the step


@dataclass
class StepInputs:
    """What the epoch loop hands one step: the pairs' images (cached trunk ``features`` or raw ``images``) and
    audio (waveforms, or cached outputs of the audio trunk's first ``audio_start`` stages), and — for methods
    that compare views — a second image view (``features_aug``/``images_aug`` with its ``transforms`` B×4) and
    a second audio view ``audio_aug``."""

    audio: torch.Tensor
    features: torch.Tensor | None = None
    images: torch.Tensor | None = None
    features_aug: torch.Tensor | None = None
    images_aug: torch.Tensor | None = None
    transforms: torch.Tensor | None = None
    audio_aug: torch.Tensor | None = None


def _cat(*parts: torch.Tensor | None) -> torch.Tensor | None:
    present = [p for p in parts if p is not None]
    if len(present) == 1:  # no copy: kernels may round differently on another allocation
        return present[0]
    return torch.cat(present) if present else None


def contrastive_step(model, config: TrainConfig, inputs: StepInputs, negatives: NegativeSource,
                     generator: torch.Generator, *, target: AVModel | None = None, epoch: int = 0
                     ) -> tuple[torch.Tensor, dict]:
    """Loss of one batch with the run's method (and SaN when ``config.san``).

    Everything the online encoders see — both image views, the real audio, the negative audio (SaN) and the
    second audio view — goes through ``model`` in **one** forward pass (DDP needs one; the negatives then share
    BatchNorm statistics with the real audio). ``target`` are the momentum encoders of methods that have them.
    """
    method = get_method(config.method)
    objective = method.objective(config.method_settings, config.tau)
    batch, san, replaced = inputs.audio.shape[0], config.san, None
    audio, extra = inputs.audio, inputs.audio[:0]
    if san is not None:
        audio, extra, replaced = san_batch(san, audio, negatives.draw, generator)
    image_maps, embeddings = model(_cat(inputs.images, inputs.images_aug), _cat(audio, extra, inputs.audio_aug),
                                   image_features=_cat(inputs.features, inputs.features_aug),
                                   audio_start=config.audio_start, amp=config.amp)
    audio_pos, audio_neg = embeddings[:batch], embeddings[batch : batch + len(extra)]
    step = Batch(image_maps, audio_pos, epoch=epoch)
    if len(image_maps) > batch:  # (split only when there is a second view: a slice changes float rounding)
        step.image_maps, step.image_maps_aug = image_maps[:batch], image_maps[batch:]
        step.view_params = inputs.transforms.to(image_maps.device)
    if inputs.audio_aug is not None:
        step.audio_aug = embeddings[batch + len(extra) :]
    if target is not None:
        with torch.no_grad():
            step.target_maps, step.target_audio = target(inputs.images, inputs.audio, image_features=inputs.features,
                                                         audio_start=config.audio_start, amp=config.amp)
    step = step.apply(gather)
    neg = None
    if replaced is not None:
        replaced = gather(replaced)
        neg = step.audio[replaced]
    elif san is not None:
        neg = gather(audio_neg)
    loss = objective(step) if san is None else san_loss(objective, step, neg, san, replaced=replaced)
    with torch.no_grad():
        peaks = localization_maps(step.image_maps, step.audio).flatten(1).amax(1)
        keep = ~replaced if replaced is not None else slice(None)
        stats = {"pos_peak": float(peaks[keep].mean())}
        if san is not None:
            stats["neg_peak"] = float(similarity_maps(step.image_maps, neg).flatten(2).amax(-1).mean())
    return loss, stats


@torch.no_grad()
def update_momentum(target: AVModel, model: AVModel, rate: float) -> None:
    """``θ_target ← rate·θ_target + (1 − rate)·θ`` for every parameter; buffers (BatchNorm statistics) copied."""
    for t, p in zip(target.parameters(), model.parameters()):
        t.mul_(rate).add_(p.detach(), alpha=1 - rate)
    for t, b in zip(target.buffers(), model.buffers()):
        t.copy_(b)


def momentum_encoders(model: AVModel, config: TrainConfig) -> AVModel | None:
    """A frozen copy of ``model`` for methods with momentum targets (SLAVC), else ``None``.

    The targets see the trunk's features without dropout (a regulariser of the online encoders only)."""
    if get_method(config.method).momentum(config.method_settings) is None:
        return None
    target = copy.deepcopy(model)
    target.requires_grad_(False)
    target.image.dropout = torch.nn.Identity()
    return target


@torch.no_grad()
def validation_loss(model: AVModel, config: TrainConfig, root: Path, queries: Sequence[Query],
                    device: torch.device, batch_size: int = 64, cache_dir: Path | None = None) -> dict:
    """Mean loss of the run's method (batches of ``batch_size``) and mean positive-pair map peak on the val split,
    no augmentation. Frozen stages (image trunk, leading audio stages) reuse the evaluation caches, so validating
    a run with frozen trunks costs only its trainable layers."""
    objective = get_method(config.method).objective(config.method_settings, config.tau)
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
        losses.append(float(objective(Batch(maps, emb))))
        weights.append(len(maps))
    peaks = localization_maps(image_maps, audio).flatten(1).amax(1)
    return {"val_loss": float(np.dot(losses, weights) / np.sum(weights)), "val_pos_peak": float(peaks.mean())}


# ---------------------------------------------------------------------------------------------- the loop


def set_train_mode(model: AVModel, config: TrainConfig) -> None:
    model.train()
    if config.frozen_trunk:
        model.image.trunk.eval()  # keep the pretrained BatchNorm statistics
    model.audio.trunk[: config.audio_start].eval()


def run_differences(stored: dict, current: dict) -> list[str]:
    """What differs between two ``config.json`` records of a run: each training field, the data's fingerprint and
    the number of processes (it picks the per-rank random streams) and the precision. Keys an older record lacks are
    not compared. ``current`` goes through JSON first, so a tuple and the list it was stored as compare equal."""
    current = json.loads(json.dumps(current))
    differences = [f"{key}: {stored['train'][key]!r} → {value!r}" for key, value in current["train"].items()
                   if key in stored["train"] and stored["train"][key] != value]
    for key, label in (("data_fingerprint", "data (dataset fingerprint)"), ("world_size", "processes"),
                       ("precision", "precision")):
        if key in stored and stored[key] != current[key]:
            differences.append(f"{label}: {stored[key]} → {current[key]}")
    return differences


def check_run_folder(files: RunFiles, record: dict, resume: bool) -> None:
    """Refuse to mix runs: a started run (``last.pt``) of another configuration, data or process count (the message
    lists what differs), a started run without ``resume``, or a finished run. A folder where nothing was trained
    yet (a ``config.json`` left by a run that failed before its first epoch) is taken over."""
    if not files.config.is_file() or not files.last.is_file():
        return
    try:
        stored = json.loads(files.config.read_text())
        stored["train"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"{files.config}: not a run configuration ({type(err).__name__}: {err})") from err
    differences = run_differences(stored, record)
    if differences:
        raise UsageError(f"{files.out}: holds a run with a different configuration ({'; '.join(differences)}); "
                         "use another --out")
    if files.done.is_file():
        raise UsageError(f"{files.out}: holds a finished run (done.json); use another --out")
    if not resume:
        raise UsageError(f"{files.out}: holds a started run; pass --resume to continue it or use another --out")


def resume_state(files: RunFiles, model: AVModel, optimizer: torch.optim.Optimizer, device: torch.device,
                 target: AVModel | None = None) -> tuple[int, list[dict]]:
    """Load ``last.pt`` into ``model``, ``optimizer`` and the momentum encoders ``target`` (when there is one):
    the epoch to start from and the validation history of the epochs before it."""
    if not files.last.is_file():
        return 0, []
    state = load_state(files.last, map_location=device)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if target is not None:
        target.load_state_dict(state["target"])
    start_epoch = int(state["epoch"]) + 1
    history = json.loads(files.validation.read_text()) if files.validation.is_file() else []
    return start_epoch, [h for h in history if h["epoch"] < start_epoch]


def make_optimizer(model: AVModel, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the trainable parameters; the image trunk gets ``trunk_lr`` when it trains."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    trunk = set(model.image.trunk.parameters())
    groups = [{"params": [p for p in trainable if p not in trunk], "lr": config.lr}]
    if not config.frozen_trunk:
        groups.append({"params": [p for p in trainable if p in trunk],
                       "lr": config.lr if config.trunk_lr is None else config.trunk_lr})
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def train(config: TrainConfig, data: Path, out: Path, *, resume: bool = False, device: str = "auto",
          cache_dir: Path | None = None, progress: bool = True, max_epochs: int | None = None) -> AVModel:
    """Train a model on the ``train`` split of the IS3-format dataset ``data``, validating on ``val``.

    Writes the files of :class:`sslsan.runs.RunFiles`. ``resume`` continues from ``last.pt`` (the config must
    match). ``max_epochs`` stops early without finishing the run (used to simulate a killed run in tests).
    """
    data, out = Path(data), Path(out)
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    check_writable(out, "run folder")
    # only rank 0 writes the run's files, so only it holds the lock
    with folder_lock(out, "sslsan train") if rank == 0 else contextlib.nullcontext():
        return _train(config, data, out, resume=resume, device=device, cache_dir=cache_dir, progress=progress,
                      max_epochs=max_epochs)


def _train(config: TrainConfig, data: Path, out: Path, *, resume: bool, device: str, cache_dir: Path | None,
           progress: bool, max_epochs: int | None) -> AVModel:
    files = RunFiles(out)
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    dev = pick_device(device)
    if config.batch_size % world:
        raise UsageError(f"batch size {config.batch_size} is not divisible by the {world} processes")
    info = read_info(data)
    check_dataset(data, hashes=False)  # sizes only: catches files cut short without reading the whole dataset
    record = {"train": config.to_dict(), "precision": precision_name(dev, config.amp), "data": str(data),
              "dataset": info.name, "classes": info.classes, "data_fingerprint": dataset_fingerprint(data),
              "world_size": world, "sslsan": sslsan.__version__}
    check_run_folder(files, record, resume)
    train_queries = read_queries(data, "train")[: config.max_pairs]
    val_queries = read_queries(data, "val") if (data / "annotations" / "val.json").is_file() else []
    if len(train_queries) < config.batch_size:
        raise DataError(f"{data}: {len(train_queries)} training pairs, fewer than one batch of {config.batch_size}")
    torch.manual_seed(config.seed)
    model = build_model(config).to(dev)
    if rank == 0:
        write_json(files.config, record)
    features = None
    if config.frozen_trunk:
        features = image_trunk_features(model, data, train_queries, config.image_size, dev, cache_dir,
                                        hflip=config.hflip, amp=config.amp, progress=progress and rank == 0)
    optimizer = make_optimizer(model, config)
    target = momentum_encoders(model, config)
    start_epoch, history = resume_state(files, model, optimizer, dev, target) if resume else (0, [])
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    num_samples = model.audio.front_end.config.num_samples
    method = get_method(config.method)
    audio_data = PairAudio(data, train_queries, num_samples, config.seed,
                           AudioAugment() if config.audio_augment else None, views=1 + method.audio_views)
    image_views = None
    if method.image_views and config.frozen_trunk:
        image_views = augmented_image_features(model, data, train_queries, config.image_size, dev, cache_dir,
                                               views=config.image_views, amp=config.amp,
                                               progress=progress and rank == 0)
    audio_views = None
    if config.audio_start:
        audio_views = audio_prefix_features(model, data, train_queries, dev, start=config.audio_start,
                                            views=config.audio_views, augment=config.audio_augment,
                                            amp=config.amp, workers=config.workers, cache_dir=cache_dir,
                                            progress=progress and rank == 0)
    negatives = negative_source(model, config, dev, data)
    last_epoch = config.epochs if max_epochs is None else min(config.epochs, max_epochs)
    if rank == 0 and start_epoch == 0 and files.metrics.is_file():
        files.metrics.unlink()
    loop = EpochLoop(net, model, config, data, train_queries, dev, features, audio_data, audio_views, negatives,
                     rank, world, progress, image_views=image_views, target=target)
    for epoch in range(start_epoch, last_epoch):
        rows, seconds = loop.run(epoch, optimizer)
        if rank == 0:
            record = {"epoch": epoch, "train_loss": float(np.mean([r["loss"] for r in rows])),
                      "seconds": round(seconds, 2), "s_per_step": round(seconds / max(1, len(rows)), 4)}
            if val_queries:
                record.update(validation_loss(model, config, data, val_queries, dev, cache_dir=cache_dir))
            history.append(record)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
            if target is not None:
                state["target"] = target.state_dict()
            save_torch(state, files.last)
            write_json(files.validation, history)
            write_metrics(files.metrics, rows, keep_before_epoch=epoch)
            if progress:
                print(f"epoch {epoch + 1}/{config.epochs}: " + ", ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
                    if k != "epoch"), flush=True)
        if distributed:
            dist.barrier()
    if rank == 0 and last_epoch == config.epochs:
        save_torch(model.state_dict(), files.model)
        total, steps = sum(h["seconds"] for h in history), loop.steps_per_epoch * config.epochs
        write_json(files.done, {"epochs": config.epochs, "steps": steps, "train_seconds": round(total, 1),
                                "s_per_step": round(total / max(1, steps), 4),
                                "device": describe_device(dev, config.amp),
                                "precision": precision_name(dev, config.amp), "world_size": world})
    return model


class EpochLoop:
    """One epoch of steps: the batches of this rank, their images (cached features or files) and audio (cached
    views or augmented waveforms), the second views of methods that compare views, the SaN negatives, the
    optimiser steps and the momentum update. Every draw comes from a named stream of ``(seed, epoch)``, so an
    epoch is the same whether the run was resumed or not."""

    def __init__(self, net, model: AVModel, config: TrainConfig, data: Path, queries: Sequence[Query],
                 device: torch.device, features, audio_data: PairAudio, audio_views, negatives: NegativeSource,
                 rank: int, world: int, progress: bool, *, image_views=None, target: AVModel | None = None):
        self.net, self.model, self.config, self.data, self.queries = net, model, config, data, queries
        self.device, self.features, self.audio_data, self.audio_views = device, features, audio_data, audio_views
        self.negatives, self.rank, self.world, self.progress = negatives, rank, world, progress
        self.image_views, self.target = image_views, target
        self.method = get_method(config.method)
        self.momentum = self.method.momentum(config.method_settings)
        self.steps_per_epoch = len(queries) // config.batch_size

    def _batches(self, epoch: int) -> list[list[int]]:
        """This rank's share of each global batch of the epoch."""
        config, local_batch = self.config, self.config.batch_size // self.world
        order = torch.randperm(len(self.queries), generator=stream_generator(config.seed, Stream.ORDER, epoch))
        batches = [order[s * config.batch_size : (s + 1) * config.batch_size] for s in range(self.steps_per_epoch)]
        return [b[self.rank * local_batch : (self.rank + 1) * local_batch].tolist() for b in batches]

    def _images(self, indices: list[int], flips: torch.Tensor):
        """``(cached features, None)`` with a frozen trunk, else ``(None, images)``, mirrored where ``flips``."""
        index = torch.as_tensor(indices)
        view = flips[index] if self.config.hflip else torch.zeros_like(index)
        if self.features is not None:
            return self.features[index, view].to(self.device), None
        images = load_image_batch(self.data, [self.queries[i] for i in indices], self.config.image_size)
        return None, torch.where(view.view(-1, 1, 1, 1).bool(), images.flip(-1), images).to(self.device)

    def _inputs(self, indices: list[int], waves: torch.Tensor, flips: torch.Tensor, image_view_of, views_gen
                ) -> StepInputs:
        features, images = self._images(indices, flips)
        inputs = StepInputs(waves[:, 0].to(self.device), features, images)
        if self.method.audio_views:
            inputs.audio_aug = waves[:, 1].to(self.device)
        if self.method.image_views:
            index = torch.as_tensor(indices)
            if self.image_views is not None:  # cached views of the frozen trunk: one per pair and epoch
                cached, transforms = self.image_views
                pick = image_view_of[index]
                inputs.features_aug = cached[index, pick].to(self.device)
                inputs.transforms = transforms[index, pick]
            else:  # a training trunk sees fresh views of the (unflipped) images
                raw = load_image_batch(self.data, [self.queries[i] for i in indices], self.config.image_size)
                images_aug, inputs.transforms = make_views(raw, views_gen)
                inputs.images_aug = images_aug.to(self.device)
        return inputs

    def _audio_loader(self, epoch: int, local: list[list[int]]):
        """Batches ``b×V×…`` of audio (V = 2 for methods with a second audio view, else 1)."""
        config, count = self.config, len(self.queries)
        if self.audio_views is None:
            return torch.utils.data.DataLoader(self.audio_data, batch_sampler=local, num_workers=config.workers)
        # cached augmented views: one per pair and epoch, and for a second view another one of them
        first = torch.randint(config.audio_views, (count,), generator=stream_generator(config.seed, Stream.VIEWS, epoch))
        picks = [first]
        if self.method.audio_views:
            shift = torch.randint(1, max(2, config.audio_views), (count,),
                                  generator=stream_generator(config.seed, Stream.SECOND_AUDIO_VIEW, epoch))
            picks.append((first + shift) % config.audio_views)
        return (torch.stack([self.audio_views[torch.as_tensor(i), p[torch.as_tensor(i)]] for p in picks], 1).float()
                for i in local)

    def run(self, epoch: int, optimizer: torch.optim.Optimizer) -> tuple[list[dict], float]:
        config = self.config
        set_train_mode(self.model, config)
        self.audio_data.epoch = epoch
        if config.model.image_dropout:  # dropout draws from the global generator: seed it so a resume is exact
            torch.manual_seed(stream_generator(config.seed, Stream.DROPOUT, epoch, rank=self.rank).initial_seed())
        local = self._batches(epoch)
        flips = torch.randint(2, (len(self.queries),), generator=stream_generator(config.seed, Stream.FLIPS, epoch))
        negatives_gen = stream_generator(config.seed, Stream.NEGATIVES, epoch, rank=self.rank)
        views_gen = stream_generator(config.seed, Stream.IMAGE_VIEWS, epoch, rank=self.rank)
        image_view_of = None
        if self.image_views is not None:
            image_view_of = torch.randint(self.image_views[0].shape[1], (len(self.queries),), generator=views_gen)
        rows, started = [], time.perf_counter()
        bar = tqdm(zip(local, self._audio_loader(epoch, local)), total=self.steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{config.epochs}", disable=quiet(self.progress) or self.rank > 0,
                   leave=False)
        for step, (indices, waves) in enumerate(bar):
            inputs = self._inputs(indices, waves, flips, image_view_of, views_gen)
            loss, stats = contrastive_step(self.net, config, inputs, self.negatives, negatives_gen,
                                           target=self.target, epoch=epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if self.target is not None:
                update_momentum(self.target, self.model, self.momentum)
            rows.append({"epoch": epoch, "step": epoch * self.steps_per_epoch + step, "loss": loss.item(), **stats})
            bar.set_postfix(loss=f"{loss.item():.3f}")
        return rows, time.perf_counter() - started
