"""The offline stand-in for pretraining: supervised image and audio classifiers whose trunks initialise the model.

Every model of this lineage starts from an ImageNet-pretrained image ResNet-18, which cannot be downloaded here.
Trained from scratch at CPU scale, the audio-visual model collapses onto one map cell and ignores the audio (the
book shows it). So before the audio-visual stage we pretrain, on IS3+-mini's labelled pretraining set (single-object
images and class-labelled clips from the *training* recordings only):

- an **image classifier** (ResNet-18 trunk → global average pool → linear), the stand-in for ImageNet; "supervised
  pre-trained encoder" is also one of SSL-Align's settings;
- optionally an **audio classifier** (the audio encoder's trunk → global max pool → linear).

This is in-domain supervision (the same sprites and sound classes), far more favourable than ImageNet transfer;
the book says so wherever the numbers appear. Only the trunks are kept (plain ``state_dict``s).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from sslsan.audio import LogSpectrogram, fit_length, get_preset, load_audio
from sslsan.config import autocast, check_seed, describe_device, pick_device, precision_name, quiet, requested_precision
from sslsan.data.augment import AudioAugment
from sslsan.data.dataset import load_image
from sslsan.data.is3 import dataset_fingerprint, read_queries
from sslsan.data.mini.build import read_pretrain
from sslsan.data.records import check_box, resolve
from sslsan.errors import UsageError
from sslsan.features import positive_waves
from sslsan.io import check_writable, folder_lock, save_torch, write_json
from sslsan.models import IMAGENET_MEAN, IMAGENET_STD, TRUNK_CHANNELS, resnet18_trunk


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation of one classifier. ``steps`` (not wall time) fixes the budget, so runs are reproducible;
    the learning rate follows a cosine schedule after ``warmup`` steps. Images: ``object_crop`` > 0 trains on square
    crops of side ``object_crop`` × the object's box around each labelled object (ImageNet's photos are mostly
    object-centred too; it also makes small objects legible at low resolution); 0 uses the whole image.
    ``background_fraction`` adds that share of crops that avoid the object, labelled with an extra "background"
    class: without them the trunk answers to background photo texture as strongly as to objects. ``grayscale``:
    probability of a grey crop (held-out sprites of a class differ in colour more than in shape).
    Audio: ``spec_masks`` frequency and as many time masks per clip (SpecAugment), on top of the waveform
    augmentation; both fight the memorisation of a few recordings per class. Both kinds: ``mixup`` > 0 mixes every
    input with another one of the batch at a Beta(mixup, mixup) weight and mixes the targets alike (Zhang et al.,
    2018; for sounds, Tokozume et al.'s between-class learning)."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 30
    label_smoothing: float = 0.1
    amp: bool | str = True  # see sslsan.config.requested_precision
    seed: int = 0
    image_size: int = 112
    last_stride: int = 1
    front_end: str = "mini"
    clip_seconds: float = 3.0
    object_crop: float = 1.6
    background_fraction: float = 0.2
    grayscale: float = 0.2
    spec_masks: int = 2
    mixup: float = 0.0

    def __post_init__(self):
        positive = {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "image_size": self.image_size,
                    "clip_seconds": self.clip_seconds}
        bad = [f"{name}={value}" for name, value in positive.items() if not value > 0]
        fractions = {"background_fraction": self.background_fraction, "grayscale": self.grayscale}
        bad += [f"{name}={value}" for name, value in fractions.items() if not 0 <= value < 1]
        bad += [f"{name}={value}" for name, value in (("warmup", self.warmup), ("spec_masks", self.spec_masks),
                                                      ("mixup", self.mixup), ("weight_decay", self.weight_decay),
                                                      ("object_crop", self.object_crop)) if value < 0]
        if not 0 <= self.label_smoothing < 1:
            bad.append(f"label_smoothing={self.label_smoothing}")
        requested_precision(self.amp)
        if bad:
            raise UsageError(f"pretraining config: {', '.join(bad)} out of range (a stage with no steps or an "
                             "empty batch would save an untrained trunk)")
        check_seed(self.seed, "pretraining config: seed")


class ImageClassifier(nn.Module):
    def __init__(self, num_classes: int, last_stride: int = 1):
        super().__init__()
        self.trunk = resnet18_trunk(3, last_stride)
        self.head = nn.Linear(TRUNK_CHANNELS, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``B×3×S×S`` in [0, 1] → logits ``B×classes``."""
        features = self.trunk((images - self.mean) / self.std)
        return self.head(features.float().mean(dim=(2, 3)))


class AudioClassifier(nn.Module):
    def __init__(self, num_classes: int, front_end: str = "mini", spec_masks: int = 0):
        super().__init__()
        self.front_end = LogSpectrogram(get_preset(front_end))
        self.trunk = resnet18_trunk(1)
        self.head = nn.Linear(TRUNK_CHANNELS, num_classes)
        self.spec_masks = spec_masks

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """Waveforms ``B×N`` → logits ``B×classes`` (max pooling, as in the audio encoder)."""
        spec = self.front_end(waves)
        if self.training and self.spec_masks:
            spec = spec_augment(spec, self.spec_masks)
        return self.head(self.trunk(spec).float().amax(dim=(2, 3)))


def spec_augment(spec: torch.Tensor, masks: int, max_width: float = 0.125) -> torch.Tensor:
    """SpecAugment (Park et al., 2019): ``masks`` random frequency bands and time spans per clip, each up to
    ``max_width`` of the axis, set to the clip's mean. ``B×1×F×T`` → same shape (a new tensor)."""
    spec = spec.clone()
    batch, _, bins, frames = spec.shape
    fill = spec.mean(dim=(2, 3), keepdim=True)
    for axis, size in ((2, bins), (3, frames)):
        positions = torch.arange(size, device=spec.device)
        for _ in range(masks):
            width = (torch.rand(batch, device=spec.device) * max_width * size).long()
            start = (torch.rand(batch, device=spec.device) * (size - width)).long()
            hit = (positions >= start[:, None]) & (positions < (start + width)[:, None])  # B×size
            shape = (batch, 1, size, 1) if axis == 2 else (batch, 1, 1, size)
            spec = torch.where(hit.view(shape), fill, spec)
    return spec


def mix_batch(inputs: torch.Tensor, targets: torch.Tensor, alpha: float, rng: np.random.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``λ·x_i + (1-λ)·x_π(i)`` with ``λ ~ Beta(alpha, alpha)`` per sample and a random pairing ``π``;
    targets (``B×classes`` probabilities) mixed with the same ``λ``. Returns new tensors of the same shapes."""
    weight = torch.from_numpy(rng.beta(alpha, alpha, size=len(inputs)).astype(np.float32))
    partner = torch.from_numpy(rng.permutation(len(inputs)))
    shape = (-1,) + (1,) * (inputs.dim() - 1)
    mixed = weight.view(shape) * inputs + (1 - weight.view(shape)) * inputs[partner]
    return mixed, weight[:, None] * targets + (1 - weight[:, None]) * targets[partner]


def augment_images(images: torch.Tensor, size: int, generator: torch.Generator, grayscale: float = 0.0
                   ) -> torch.Tensor:
    """Batched random-resized-crop, flip, colour jitter and random greyscale:
    ``uint8 B×3×S×S → float B×3×size×size`` in [0, 1].

    One ``grid_sample`` for the whole batch (per-sample torchvision transforms cost ~15 ms an image on 2 cores).
    """
    batch = images.shape[0]
    rand = lambda *shape: torch.rand(*shape, generator=generator)  # noqa: E731
    scale = (0.35 + 0.65 * rand(batch)).sqrt()  # side fraction of the crop (area 35–100 %)
    aspect = torch.exp((rand(batch) - 0.5) * 0.6)
    sx, sy = (scale * aspect.sqrt()).clamp(max=1), (scale / aspect.sqrt()).clamp(max=1)
    tx, ty = (rand(batch) * 2 - 1) * (1 - sx), (rand(batch) * 2 - 1) * (1 - sy)
    flip = torch.where(rand(batch) < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = F.affine_grid(theta, (batch, 3, size, size), align_corners=False).to(images.device)
    out = F.grid_sample(images.float() / 255.0, grid, mode="bilinear", padding_mode="reflection",
                        align_corners=False)
    brightness = (0.7 + 0.6 * rand(batch)).view(-1, 1, 1, 1).to(out.device)
    contrast = (0.7 + 0.6 * rand(batch)).view(-1, 1, 1, 1).to(out.device)
    saturation = (0.6 + 0.8 * rand(batch)).view(-1, 1, 1, 1).to(out.device)
    grey = out.mean(1, keepdim=True)
    saturation = torch.where((rand(batch) < grayscale).view(-1, 1, 1, 1).to(out.device), 0.0, saturation)
    out = grey + (out - grey) * saturation
    out = out.mean(dim=(1, 2, 3), keepdim=True) + (out - out.mean(dim=(1, 2, 3), keepdim=True)) * contrast
    return (out * brightness).clamp(0, 1)


def _schedule(step: int, config: PretrainConfig) -> float:
    if step < config.warmup:
        return (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _fit(model: nn.Module, make_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
         evaluate: Callable[[nn.Module], float], config: PretrainConfig, device: torch.device, desc: str,
         progress: bool = True, eval_every: int = 100) -> list[dict]:
    """The shared classifier loop: AdamW, warm-up + cosine, bf16 autocast, label smoothing, optional mixup of the
    batches ``make_batch`` returns (inputs, class indices), periodic validation."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _schedule(s, config))
    history, losses = [], []
    mix_rng = np.random.default_rng([config.seed, 1])
    bar = tqdm(range(config.steps), desc=desc, disable=quiet(progress), leave=False)
    start = time.perf_counter()
    for step in bar:
        model.train()
        inputs, labels = make_batch(step)
        if config.mixup > 0:
            inputs, labels = mix_batch(inputs, F.one_hot(labels, model.head.out_features).float(), config.mixup,
                                       mix_rng)
        with autocast(device, config.amp):
            logits = model(inputs.to(device))
        loss = F.cross_entropy(logits.float(), labels.to(device), label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % eval_every == 0 or step + 1 == config.steps:
            history.append({"step": step + 1, "train_loss": float(np.mean(losses[-eval_every:])),
                            "val_accuracy": evaluate(model), "seconds": round(time.perf_counter() - start, 1)})
    return history


@torch.no_grad()
def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, device: torch.device,
             batch_size: int = 128, amp: bool = True) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        with autocast(device, amp):
            logits = model(inputs[start : start + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size]).sum())
    return correct / max(1, len(labels))


def pretrain_image(images: torch.Tensor, labels: torch.Tensor, val_images: torch.Tensor, val_labels: torch.Tensor,
                   num_classes: int, config: PretrainConfig, device: torch.device,
                   progress: bool = True) -> tuple[ImageClassifier, list[dict]]:
    """Train the image classifier on ``uint8 N×3×S×S`` images; returns (classifier, history).

    Validation images are resized to ``config.image_size`` without augmentation.
    """
    torch.manual_seed(config.seed)
    model = ImageClassifier(num_classes, config.last_stride).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    val_inputs = F.interpolate(val_images.float() / 255.0, size=config.image_size, mode="bilinear",
                               antialias=True, align_corners=False)

    def make_batch(step):
        index = torch.randint(len(labels), (config.batch_size,), generator=generator)
        return augment_images(images[index], config.image_size, generator, config.grayscale), labels[index]

    history = _fit(model, make_batch, lambda m: accuracy(m, val_inputs, val_labels, device, amp=config.amp),
                   config, device, "image pretraining", progress)
    return model, history


def pretrain_audio(clips: Sequence[np.ndarray], labels: torch.Tensor, val_waves: torch.Tensor,
                   val_labels: torch.Tensor, num_classes: int, config: PretrainConfig, device: torch.device,
                   augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                   progress: bool = True) -> tuple[AudioClassifier, list[dict]]:
    """Train the audio classifier on random (augmented) crops of the labelled recordings ``clips``.

    Returns (classifier, history); ``val_waves`` are fixed ``B×N`` clips.
    """
    torch.manual_seed(config.seed)
    model = AudioClassifier(num_classes, config.front_end, config.spec_masks).to(device)
    num_samples = int(round(config.clip_seconds * 16000))
    rng = np.random.default_rng(config.seed)

    def make_batch(step):
        index = rng.integers(len(clips), size=config.batch_size)
        waves = []
        for i in index:
            wave = clips[i] if augment is None else augment(clips[i], rng)
            offset = int(rng.integers(0, max(1, len(wave) - num_samples + 1)))
            waves.append(fit_length(wave, num_samples, offset))
        return torch.from_numpy(np.stack(waves)), labels[torch.as_tensor(index)]

    history = _fit(model, make_batch, lambda m: accuracy(m, val_waves, val_labels, device, amp=config.amp),
                   config, device, "audio pretraining", progress)
    return model, history


def save_trunk(model: nn.Module, history: list[dict], config: PretrainConfig, path: Path, extra: dict | None = None):
    """Write ``<kind>_trunk.pt`` (the trunk's plain state_dict), ``<kind>_head.pt`` (the classifier head, for
    class-activation diagnostics) and ``<kind>_trunk.json`` (config, curve, facts); the weights atomically."""
    head = path.with_name(path.name.replace("_trunk", "_head"))
    for target, module in ((path, model.trunk), (head, model.head)):
        save_torch({k: v.detach().cpu() for k, v in module.state_dict().items()}, target)
    write_json(path.with_suffix(".json"), {"config": asdict(config), "history": history, **(extra or {})})


# ------------------------------------------------------------------------------------------ IS3+-mini glue

#: Budgets of the book's pretraining stage on 2 CPU cores (steps, not seconds, so the result is reproducible).
#: Images: 64 px object-centred crops with the stride-2 trunk (0.27 s a step on 2 cores with bf16/AMX, about
#: 0.6 s in float32); the audio-visual stage then runs the same weights on 112 px scenes with a stride-1 last stage
#: (LVS does the same with ImageNet). Mixup and 800 rather than 400 steps: with the same audio trunk, one EZ-VSL run
#: found both objects of a seen image in 0.79 of images instead of 0.67, and pointed right on unseen ones in 0.48
#: instead of 0.46 (audio mixup did not help: accuracy on unseen recordings 0.34 instead of 0.36).
IMAGE_PRETRAIN = PretrainConfig(steps=800, batch_size=64, lr=2e-3, image_size=64, last_stride=2, mixup=0.2)
AUDIO_PRETRAIN = PretrainConfig(steps=500, batch_size=48, lr=1e-3)


def object_crop(image: np.ndarray, box: Sequence[float], context: float, size: int) -> np.ndarray:
    """A square crop of side ``context`` × the box's longer side, centred on the box (shifted to stay inside the
    image, shrunk if the image is smaller), resized to ``size``: ``H×W×3 uint8 → size×size×3``."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    side = min(max(16.0, context * max(x2 - x1, y2 - y1)), float(min(height, width)))
    left = float(np.clip((x1 + x2 - side) / 2, 0, width - side))
    top = float(np.clip((y1 + y2 - side) / 2, 0, height - side))
    crop = Image.fromarray(image).resize((size, size), Image.BICUBIC, box=(left, top, left + side, top + side))
    return np.asarray(crop)


def background_crop(image: np.ndarray, box: Sequence[float], size: int, rng: np.random.Generator,
                    attempts: int = 20) -> np.ndarray | None:
    """A random square crop (a third to two thirds of the image side) that does not touch the object's box,
    resized to ``size``; ``None`` when the object leaves no such room."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    for _ in range(attempts):
        side = float(rng.uniform(0.33, 0.67) * min(height, width))
        left, top = float(rng.uniform(0, width - side)), float(rng.uniform(0, height - side))
        if left + side <= x1 or left >= x2 or top + side <= y1 or top >= y2:
            crop = Image.fromarray(image).resize((size, size), Image.BICUBIC,
                                                 box=(left, top, left + side, top + side))
            return np.asarray(crop)
    return None


def _pretrain_image(root: Path, item: dict) -> np.ndarray:
    """A pretraining image at its own size, its object's box checked against it (crops are cut from that box)."""
    image = load_image(resolve(root, item["image"]), None)
    check_box(tuple(item["gt_box"]), image.shape[:2], f"{root}/pretrain/annotations.json, {item['image']}")
    return image


def _load_uint8_images(root: Path, items: Sequence[dict], size: int, context: float = 0.0,
                       progress: bool = True) -> torch.Tensor:

    arrays = []
    for item in tqdm(items, desc="loading pretraining images", leave=False, disable=quiet(progress)):
        if context > 0:
            arrays.append(object_crop(_pretrain_image(root, item), item["gt_box"], context, size))
        else:
            arrays.append(load_image(resolve(root, item["image"]), size))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _labelled_clips(root: Path, queries, classes: list[str], num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    keep = [q for q in queries if q.class_name in classes]
    return positive_waves(root, keep, num_samples), torch.tensor([classes.index(q.class_name) for q in keep])


def _background_images(root: Path, items: Sequence[dict], size: int, config: PretrainConfig) -> torch.Tensor:
    """Background crops (no object) from a ``background_fraction`` share of the pretraining images."""

    rng = np.random.default_rng([config.seed, 7])
    count = int(round(config.background_fraction * len(items)))
    crops = []
    for index in rng.permutation(len(items)):
        if len(crops) == count:
            break
        crop = background_crop(_pretrain_image(root, items[index]), items[index]["gt_box"], size, rng)
        if crop is not None:
            crops.append(crop)
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def stored_precision(report: dict) -> str:
    """The precision a trunk was pretrained in: its json's ``precision``, or for trunks saved before it was
    recorded, the precision named at the end of its ``device`` line (``"…, bfloat16 autocast"`` / ``"…, float32"``)."""
    if "precision" in report:
        return report["precision"]
    return "bfloat16" if str(report.get("device", "")).endswith("bfloat16 autocast") else "float32"


def run_pretraining(data: Path, out: Path, what: Sequence[str] = ("image", "audio"),
                    image_config: PretrainConfig = IMAGE_PRETRAIN, audio_config: PretrainConfig = AUDIO_PRETRAIN,
                    device: str = "auto", progress: bool = True, force: bool = False) -> dict[str, Path]:
    """Pretrain the image and/or audio trunk on an IS3+-mini dataset's pretraining set; load instead when done.

    Writes ``image_trunk.pt``/``.json`` and ``audio_trunk.pt``/``.json`` under ``out``. Image validation: a tenth of
    the pretraining images (never trained on). Audio validation: the **val** split's clips; the accuracy on the
    test split's unseen recordings is also recorded, as a diagnostic only (nothing is selected on it).
    """

    data, out = Path(data), Path(out)
    unknown = [kind for kind in what if kind not in ("image", "audio")]
    if unknown:  # refused before the first stage trains, not after it
        raise UsageError(f"unknown pretraining target {unknown[0]!r}; use image and/or audio")
    dev = pick_device(device)
    check_writable(out, "pretraining folder")
    with folder_lock(out, "sslsan pretrain"):
        return _run_pretraining(data, out, what, image_config, audio_config, dev, progress, force)


def _run_pretraining(data: Path, out: Path, what: Sequence[str], image_config: PretrainConfig,
                     audio_config: PretrainConfig, dev: torch.device, progress: bool, force: bool
                     ) -> dict[str, Path]:
    pretrain_set = read_pretrain(data)
    fingerprint = dataset_fingerprint(data)
    classes = pretrain_set.classes
    done: dict[str, Path] = {}
    configs = {"image": image_config, "audio": audio_config}
    for kind in what:
        path = out / f"{kind}_trunk.pt"
        report = path.with_suffix(".json")
        if not force and path.is_file() and report.is_file():
            stored = json.loads(report.read_text())
            # the same config on the same data (older reports have no fingerprint: their classes must match)
            if stored.get("config") == asdict(configs[kind]) and stored.get("dataset_classes") == classes \
                    and stored.get("data_fingerprint", fingerprint) == fingerprint \
                    and stored_precision(stored) == precision_name(dev, configs[kind].amp):
                done[kind] = path
                continue
        started = time.perf_counter()
        if kind == "image":
            config = image_config
            labels = torch.tensor([classes.index(item["class"]) for item in pretrain_set.images])
            # stored a little larger than the training crops, so random-resized crops keep detail
            stored = int(config.image_size * 1.15)
            images = _load_uint8_images(data, pretrain_set.images, stored, config.object_crop, progress)
            if config.background_fraction > 0:
                extra = _background_images(data, pretrain_set.images, stored, config)
                images = torch.cat([images, extra])
                labels = torch.cat([labels, torch.full((len(extra),), len(classes))])
            order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(config.seed))
            n_val = max(1, len(labels) // 10)
            model, history = pretrain_image(images[order[n_val:]], labels[order[n_val:]], images[order[:n_val]],
                                            labels[order[:n_val]], len(classes) + (config.background_fraction > 0),
                                            config, dev, progress)
            extra = {"classes": classes + ["background"] * (config.background_fraction > 0),
                     "train_images": len(labels) - n_val, "val_images": n_val}
        else:
            config = audio_config
            recordings = [load_audio(resolve(data, r["recording"])) for r in pretrain_set.recordings]
            labels = torch.tensor([classes.index(r["class"]) for r in pretrain_set.recordings])
            num_samples = int(round(config.clip_seconds * 16000))
            val_waves, val_labels = _labelled_clips(data, read_queries(data, "val"), classes, num_samples)
            model, history = pretrain_audio(recordings, labels, val_waves, val_labels, len(classes), config, dev,
                                            augment=AudioAugment(pretrain_set.augment), progress=progress)
            unseen = [q for q in read_queries(data, "test") if q.part == "unseen"]
            extra = {"classes": classes, "recordings": len(recordings), "val_clips": len(val_labels)}
            if unseen:  # reported only: how well class identity carries over to recordings never heard
                waves, labels = _labelled_clips(data, unseen, classes, num_samples)
                extra["unseen_test_accuracy"] = accuracy(model, waves, labels, dev, amp=config.amp)
        extra["dataset_classes"] = classes
        extra["data_fingerprint"] = fingerprint
        extra["seconds"] = round(time.perf_counter() - started, 1)
        extra["device"] = describe_device(dev, config.amp)
        extra["precision"] = precision_name(dev, config.amp)
        save_trunk(model, history, config, path, extra)
        done[kind] = path
    return done
