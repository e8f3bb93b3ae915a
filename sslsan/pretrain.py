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
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslsan.audio import LogSpectrogram, fit_length, get_preset
from sslsan.models import IMAGENET_MEAN, IMAGENET_STD, TRUNK_CHANNELS, resnet18_trunk


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation of one classifier. ``steps`` (not wall time) fixes the budget, so runs are reproducible;
    the learning rate follows a cosine schedule after ``warmup`` steps."""

    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 30
    label_smoothing: float = 0.1
    amp: bool = True
    seed: int = 0
    image_size: int = 112
    last_stride: int = 1
    front_end: str = "mini"
    clip_seconds: float = 3.0


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
    def __init__(self, num_classes: int, front_end: str = "mini"):
        super().__init__()
        self.front_end = LogSpectrogram(get_preset(front_end))
        self.trunk = resnet18_trunk(1)
        self.head = nn.Linear(TRUNK_CHANNELS, num_classes)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """Waveforms ``B×N`` → logits ``B×classes`` (max pooling, as in the audio encoder)."""
        return self.head(self.trunk(self.front_end(waves)).float().amax(dim=(2, 3)))


def augment_images(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Batched random-resized-crop, flip and colour jitter: ``uint8 B×3×S×S → float B×3×size×size`` in [0, 1].

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
    """The shared classifier loop: AdamW, warm-up + cosine, bf16 autocast, label smoothing, periodic validation."""
    from tqdm.auto import tqdm

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _schedule(s, config))
    history, losses = [], []
    bar = tqdm(range(config.steps), desc=desc, disable=not progress, leave=False)
    start = time.perf_counter()
    for step in bar:
        model.train()
        inputs, labels = make_batch(step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
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
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(inputs[start : start + batch_size].to(device))
        correct += int((logits.argmax(1).cpu() == labels[start : start + batch_size]).sum())
    return correct / max(1, len(labels))


def pretrain_image(images: torch.Tensor, labels: torch.Tensor, val_images: torch.Tensor, val_labels: torch.Tensor,
                   num_classes: int, config: PretrainConfig, device: torch.device,
                   progress: bool = True) -> tuple[dict, list[dict]]:
    """Train the image classifier on ``uint8 N×3×S×S`` images; returns (trunk ``state_dict``, history).

    Validation images are resized to ``config.image_size`` without augmentation.
    """
    torch.manual_seed(config.seed)
    model = ImageClassifier(num_classes, config.last_stride).to(device)
    generator = torch.Generator().manual_seed(config.seed)
    val_inputs = F.interpolate(val_images.float() / 255.0, size=config.image_size, mode="bilinear",
                               antialias=True, align_corners=False)

    def make_batch(step):
        index = torch.randint(len(labels), (config.batch_size,), generator=generator)
        return augment_images(images[index], config.image_size, generator), labels[index]

    history = _fit(model, make_batch, lambda m: accuracy(m, val_inputs, val_labels, device, amp=config.amp),
                   config, device, "image pretraining", progress)
    return {k: v.cpu() for k, v in model.trunk.state_dict().items()}, history


def pretrain_audio(clips: Sequence[np.ndarray], labels: torch.Tensor, val_waves: torch.Tensor,
                   val_labels: torch.Tensor, num_classes: int, config: PretrainConfig, device: torch.device,
                   augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                   progress: bool = True) -> tuple[dict, list[dict]]:
    """Train the audio classifier on random (augmented) crops of the labelled recordings ``clips``.

    Returns (trunk ``state_dict``, history); ``val_waves`` are fixed ``B×N`` clips.
    """
    torch.manual_seed(config.seed)
    model = AudioClassifier(num_classes, config.front_end).to(device)
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
    return {k: v.cpu() for k, v in model.trunk.state_dict().items()}, history


def save_trunk(state: dict, history: list[dict], config: PretrainConfig, path: Path, extra: dict | None = None):
    """Write ``<name>.pt`` (trunk state_dict) atomically and ``<name>.json`` (config, curve, extra facts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    report = {"config": asdict(config), "history": history, **(extra or {})}
    path.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
