"""Augmented image views for the methods that compare two views of one image (SSL-TIE, SSL-Align).

A view is a photometric jitter (brightness, contrast, saturation, sometimes grey) followed by a **known geometric
transform** ``T``: a rotation by ``angle`` degrees, a zoom by ``scale`` about the centre and an optional mirror.
``T`` is stored as four numbers per image, ``(angle, scale, flip, 1)``, so that the same transform can be applied
to a localisation map: SSL-TIE's equivariance asks that ``map(T(x)) = T(map(x))``.

:func:`warp` applies ``T`` to images and maps alike (bilinear, zeros outside), in normalised coordinates, so a
112×112 image and its 7×7 map are transformed consistently. With a frozen image trunk the trainer caches the
trunk's features of a few views per image (:func:`sslsan.features.augmented_image_features`); with a training
trunk it draws fresh views every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError


@dataclass(frozen=True)
class ViewConfig:
    """How views are drawn. SSL-TIE's scripts: rotation in ±30°, scale 0.5 with probability ½, mirror with
    probability ½; MoCo-v2-style colour jitter 0.4 (applied with probability 0.8) and grey with probability 0.2."""

    max_angle: float = 30.0
    small_scale: float = 0.5
    small_scale_probability: float = 0.5
    flip_probability: float = 0.5
    jitter: float = 0.4
    jitter_probability: float = 0.8
    grey_probability: float = 0.2

    def __post_init__(self):
        if not 0 <= self.max_angle <= 180 or not 0 < self.small_scale <= 1:
            raise UsageError(f"image views: max_angle in [0, 180] and small_scale in (0, 1] needed, got {self}")
        for name in ("small_scale_probability", "flip_probability", "jitter_probability", "grey_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise UsageError(f"image views: {name} must be a probability, got {getattr(self, name)}")


def draw_transforms(count: int, generator: torch.Generator, config: ViewConfig = ViewConfig()) -> torch.Tensor:
    """``count×4`` transforms ``(angle°, scale, flip ∈ {0, 1}, 1)``; the last column marks a real transform
    (an all-zero row would be "no view")."""
    u = torch.rand(count, 3, generator=generator)
    angle = (2 * u[:, 0] - 1) * config.max_angle
    scale = torch.where(u[:, 1] < config.small_scale_probability, config.small_scale, 1.0)
    flip = (u[:, 2] < config.flip_probability).float()
    return torch.stack([angle, scale, flip, torch.ones(count)], 1)


def identity_transforms(count: int) -> torch.Tensor:
    return torch.tensor([[0.0, 1.0, 0.0, 1.0]]).repeat(count, 1)


def affine_matrices(transforms: torch.Tensor) -> torch.Tensor:
    """The ``B×2×3`` matrices ``θ`` that :func:`torch.nn.functional.affine_grid` needs to *apply* ``T``.

    ``T(p) = M s R(a) p`` in normalised coordinates (rotate by ``a`` and zoom by ``s`` about the centre, then
    mirror ``M``). ``affine_grid`` maps output to input coordinates, so ``θ = T⁻¹ = R(−a) M / s``.
    """
    angle = torch.deg2rad(transforms[:, 0])
    cos, sin = torch.cos(angle) / transforms[:, 1], torch.sin(angle) / transforms[:, 1]
    mirror = 1 - 2 * transforms[:, 2]  # −1 mirrors x; M is its own inverse
    zero = torch.zeros_like(cos)
    return torch.stack([torch.stack([cos * mirror, sin, zero], 1), torch.stack([-sin * mirror, cos, zero], 1)], 1)


def warp(x: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """``T(x)`` for images or maps ``B×C×H×W`` (or maps ``B×H×W``); zeros where ``T`` brings in the outside."""
    squeeze = x.dim() == 3
    x = x.unsqueeze(1) if squeeze else x
    grid = F.affine_grid(affine_matrices(transforms.to(x.device, torch.float32)), list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[:, 0] if squeeze else out


def valid_region(transforms: torch.Tensor, size: int) -> torch.Tensor:
    """``B×size×size`` weights in [0, 1]: where ``T`` of a ``size×size`` map shows the original (not the outside)."""
    return warp(torch.ones(len(transforms), size, size), transforms)


def photometric(images: torch.Tensor, generator: torch.Generator, config: ViewConfig = ViewConfig()) -> torch.Tensor:
    """Colour jitter of a batch ``B×3×H×W`` in [0, 1]: brightness, contrast and saturation factors in
    ``1 ± jitter`` (with probability ``jitter_probability``), then grey with probability ``grey_probability``."""
    count = images.shape[0]
    u = torch.rand(count, 5, generator=generator)
    on = (u[:, 0] < config.jitter_probability).float().view(-1, 1, 1, 1)
    factors = 1 + config.jitter * (2 * u[:, 1:4] - 1)
    grey_weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    out = images * (1 + on * (factors[:, 0].view(-1, 1, 1, 1) - 1))
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = mean + (out - mean) * (1 + on * (factors[:, 1].view(-1, 1, 1, 1) - 1))
    grey = (out * grey_weights).sum(1, keepdim=True)
    out = grey + (out - grey) * (1 + on * (factors[:, 2].view(-1, 1, 1, 1) - 1))
    to_grey = (u[:, 4] < config.grey_probability).view(-1, 1, 1, 1)
    out = torch.where(to_grey, (out * grey_weights).sum(1, keepdim=True).expand_as(out), out)
    return out.clamp(0, 1)


def make_views(images: torch.Tensor, generator: torch.Generator, config: ViewConfig = ViewConfig()
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented view of every image: ``(T(jitter(images)), transforms)``."""
    transforms = draw_transforms(images.shape[0], generator, config)
    return warp(photometric(images, generator, config), transforms), transforms


__all__ = ["ViewConfig", "draw_transforms", "identity_transforms", "affine_matrices", "warp", "valid_region",
           "photometric", "make_views"]
