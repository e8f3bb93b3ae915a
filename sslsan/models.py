"""The audio-visual model of the EZ-VSL lineage: two ResNet-18s and a cosine similarity map.

- image: ResNet-18 trunk → 512×h×w feature map → 1×1 projection → L2 norm over channels;
- audio: waveform → log spectrogram (:mod:`sslsan.audio`) → ResNet-18 with a 1-channel stem → global **max** pool
  → linear projection → L2 norm;
- localisation: the cosine similarity between the audio embedding and every cell of the image map (7×7 for a
  224 px image; 112 px with ``last_stride=1`` also gives 7×7 at a quarter of the cost).

The temperature τ = 0.03 belongs to the loss (:mod:`sslsan.losses`); maps here are plain cosines in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from sslsan.config import autocast
from sslsan.errors import DataError, MissingFileError, UsageError
from sslsan.audio import LogSpectrogram, get_preset

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRUNK_CHANNELS = 512
#: index of each named stage in a trunk built by :func:`resnet18_trunk` (``trunk[:i]`` ends just before it)
TRUNK_STAGES = {"stem": 0, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7, "head": 8}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture options. ``last_stride=1`` keeps layer4 at the resolution of layer3 (the LVS choice), so a
    112 px image still gives a 7×7 map; ``front_end`` names an :data:`sslsan.audio.PRESETS` entry.

    Options some methods need (their defaults are the EZ-VSL model): ``heads`` splits both projections into
    that many equal heads, each L2-normalised (SLAVC has two); ``image_dropout`` drops trunk features before the
    image projection while training (SLAVC and FNAC use 0.9).
    """

    dim: int = 512
    image_size: int = 224
    last_stride: int = 2
    front_end: str = "legacy"
    heads: int = 1
    image_dropout: float = 0.0

    def __post_init__(self):
        if self.heads < 1 or self.dim % self.heads:
            raise UsageError(f"model: dim {self.dim} cannot be split into {self.heads} heads")
        if not 0 <= self.image_dropout < 1:
            raise UsageError(f"model: image_dropout must be in [0, 1), got {self.image_dropout}")

    @property
    def map_size(self) -> int:
        return self.image_size // (16 if self.last_stride == 1 else 32)


def resnet18_trunk(in_channels: int = 3, last_stride: int = 2) -> nn.Sequential:
    """torchvision's ResNet-18 without its pooling and classifier: conv1 … layer4 (512 output channels)."""
    net = resnet18(weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    if last_stride == 1:
        net.layer4[0].conv1.stride = (1, 1)
        net.layer4[0].downsample[0].stride = (1, 1)
    elif last_stride != 2:
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride}")
    return nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)


def normalize_heads(x: torch.Tensor, heads: int = 1, dim: int = 1) -> torch.Tensor:
    """L2-normalise each of ``heads`` equal channel groups of ``x`` along ``dim`` and scale by 1/√heads.

    The result has unit norm, and the cosine of two such vectors is the **mean of the per-head cosines**: a
    two-head model's single localisation map is the mean of its heads' maps (SLAVC's test-time map).
    """
    if heads == 1:
        return F.normalize(x, dim=dim)
    parts = x.unflatten(dim, (heads, x.shape[dim] // heads))
    return (F.normalize(parts, dim=dim + 1) / heads**0.5).flatten(dim, dim + 1)


def split_heads(x: torch.Tensor, heads: int, dim: int = 1) -> list[torch.Tensor]:
    """The unit-norm heads of a :func:`normalize_heads` output (each rescaled by √heads)."""
    return [part * heads**0.5 for part in x.chunk(heads, dim)]


class ImageEncoder(nn.Module):
    """Images ``B×3×S×S`` in [0, 1] → L2-normalised feature maps ``B×dim×h×w``."""

    def __init__(self, dim: int = 512, last_stride: int = 2, heads: int = 1, dropout: float = 0.0):
        super().__init__()
        self.trunk = resnet18_trunk(3, last_stride)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.proj = nn.Conv2d(TRUNK_CHANNELS, dim, kernel_size=1)
        self.heads = heads
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Trunk features ``B×512×h×w`` (what a frozen trunk's cache stores)."""
        return self.trunk((images - self.mean) / self.std)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        return normalize_heads(self.proj(self.dropout(features.float())), self.heads)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(images))


class AudioEncoder(nn.Module):
    """Waveforms ``B×N`` (16 kHz) → L2-normalised embeddings ``B×dim``; the spectrogram is computed on the batch."""

    def __init__(self, dim: int = 512, front_end: str = "legacy", heads: int = 1):
        super().__init__()
        self.front_end = LogSpectrogram(get_preset(front_end))
        self.trunk = resnet18_trunk(1, last_stride=2)
        self.proj = nn.Linear(TRUNK_CHANNELS, dim)
        self.heads = heads

    def features(self, waves: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Max-pooled trunk features ``B×512``: a sound is present if it is present somewhere in time-frequency.

        With ``start > 0``, ``waves`` are instead the outputs of the trunk's first ``start`` stages (see
        :meth:`prefix`): training with a frozen prefix caches those and runs only the rest.
        """
        x = self.front_end(waves) if start == 0 else waves
        return self.trunk[start:](x).amax(dim=(2, 3))

    def prefix(self, waves: torch.Tensor, stop: int) -> torch.Tensor:
        """Outputs of the trunk's first ``stop`` stages (stem = 0–3, layer1 … layer4 = 4–7) for waveforms."""
        return self.trunk[:stop](self.front_end(waves))

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return normalize_heads(self.proj(features.float()), self.heads)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(waves))


class AVModel(nn.Module):
    """The two encoders; ``forward`` returns ``(image_maps B×C×h×w, audio_embeddings K×C)``.

    ``image_features`` replaces ``images`` when a frozen trunk's features are cached; ``amp`` runs the two trunks
    in bfloat16 (the projections, normalisation and similarities stay in float32).
    """

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        self.image = ImageEncoder(config.dim, config.last_stride, config.heads, config.image_dropout)
        self.audio = AudioEncoder(config.dim, config.front_end, config.heads)

    def forward(self, images: torch.Tensor | None, waves: torch.Tensor, *, image_features: torch.Tensor | None = None,
                audio_start: int = 0, amp: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``audio_start > 0``: ``waves`` hold cached outputs of the audio trunk's first stages (frozen prefix)."""
        with autocast(waves.device, amp):
            if image_features is None:
                image_features = self.image.features(images)
            audio_features = self.audio.features(waves, audio_start)
        return self.image.project(image_features), self.audio.embed(audio_features)

    @torch.no_grad()
    def localize(self, images: torch.Tensor, waves: torch.Tensor, size: int | None = 224) -> torch.Tensor:
        """Localisation maps ``B×size×size`` (cosines; ``size=None`` keeps the h×w grid) for matched pairs."""
        maps = localization_maps(*self(images, waves))
        return maps if size is None else upsample(maps, size)


def similarity_maps(image_maps: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every image cell with every audio clip: ``B×C×h×w, K×C → B×K×h×w``."""
    return torch.einsum("bchw,kc->bkhw", image_maps, audio)


def localization_maps(image_maps: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
    """The diagonal of :func:`similarity_maps` without computing the rest: ``B×C×h×w, B×C → B×h×w``."""
    return torch.einsum("bchw,bc->bhw", image_maps, audio)


def upsample(maps: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``B×h×w → B×size×size``, bilinear with ``align_corners=True`` (EZ-VSL's test-time choice)."""
    return F.interpolate(maps.unsqueeze(1).float(), size=(size, size), mode="bilinear", align_corners=True)[:, 0]


def load_imagenet_trunk(encoder: ImageEncoder) -> None:
    """Initialise the image trunk with torchvision's ImageNet ResNet-18 (downloads once; needs internet).

    The lineage starts from these weights. Tests and the book never call this (nothing may be downloaded there):
    they use the offline pretraining stage in :mod:`sslsan.pretrain` instead.
    """
    net = resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)
    trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
    encoder.trunk.load_state_dict(trunk.state_dict())


def load_state(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by sslsan: a plain ``state_dict`` (or dict of them), with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise DataError(f"{path}: not a readable sslsan checkpoint ({type(err).__name__}: {err})") from err
