"""SSL-TIE (Liu et al., "Exploiting Transformation Invariance and Equivariance for Self-supervised Sound
Localisation", ACM MM 2022): LVS's loss on two views of every image, and maps that must follow the geometry.

Follows the public SSL-TIE code (``main.py`` and ``utils/tf_equivariance_loss.py`` of jinxiang-liu/SSL-TIE),
written anew. This is most likely the base of SSL-SaN: a public benchmark script builds the official SSL-SaN
checkpoint as SSL-TIE's network (see the book's "What we know" page); so the book's SSL-SaN is SSL-TIE + SaN.

- **Invariance**: the two views differ by photometric jitter (and the audio is augmented each epoch), and both
  must solve LVS's task: ``½ (L_LVS(x, a) + L_LVS(T(x), a))``.
- **Equivariance**: the map of the transformed image must be the transformed map,
  ``λ · MSE(map(T(x)), T(map(x)))``, where ``T`` is a rotation, a zoom and a mirror
  (:mod:`sslsan.data.image_views`; the batch's ``view_params``). We compare only where ``T(map(x))`` shows the
  map (not the zeros that ``T`` brings in from outside), a choice of ours.

Our reading: SSL-TIE's 14×14 map is ``image_size=224, last_stride=1`` (existing model options); the book uses
7×7 maps at 112 px for CPU budgets. The audio invariance of SSL-TIE is augmentation of the input (SpecAugment),
which our per-epoch audio views already are, so SSL-TIE uses no second audio view here. Without image views
(validation) the loss is LVS's. SaN negatives are extra easy negatives of both LVS terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sslsan.data.image_views import valid_region, warp
from sslsan.errors import UsageError
from sslsan.methods.base import Batch, Method
from sslsan.methods.lvs import LVSConfig, lvs_loss
from sslsan.models import localization_maps


@dataclass(frozen=True)
class SSLTIEConfig:
    """``lvs``: the tri-map of the contrastive terms; ``equivariance_weight``: λ (SSL-TIE's scripts: 1)."""

    lvs: LVSConfig = field(default_factory=LVSConfig)
    equivariance_weight: float = 1.0

    def __post_init__(self):
        if isinstance(self.lvs, dict):  # read back from config.json
            object.__setattr__(self, "lvs", LVSConfig(**self.lvs))
        if not self.equivariance_weight >= 0:
            raise UsageError(f"SSL-TIE: equivariance_weight must be ≥ 0, got {self.equivariance_weight}")


def equivariance_loss(maps: torch.Tensor, maps_of_transformed: torch.Tensor, transforms: torch.Tensor
                      ) -> torch.Tensor:
    """``Σ w (map(T x) − T(map x))² / Σ w`` with ``w`` the region ``T`` keeps: ``B×h×w, B×h×w, B×4 → scalar``.

    Zero exactly when the model's maps transform as the images do.
    """
    expected = warp(maps, transforms)
    weights = valid_region(transforms, maps.shape[-1]).to(maps.device)
    return (weights * (maps_of_transformed - expected) ** 2).sum() / weights.sum().clamp_min(1e-6)


def ssltie_loss(batch: Batch, config: SSLTIEConfig = SSLTIEConfig(), negatives: torch.Tensor | None = None, *,
                tau: float = 0.03) -> torch.Tensor:
    """``½ (L_LVS(x) + L_LVS(T x)) + λ · equivariance`` (only ``L_LVS(x)`` without a second view)."""
    plain = lvs_loss(batch.image_maps, batch.audio, config.lvs, negatives)
    if batch.image_maps_aug is None:
        return plain
    transformed = lvs_loss(batch.image_maps_aug, batch.audio, config.lvs, negatives)
    equivariance = equivariance_loss(localization_maps(batch.image_maps, batch.audio),
                                     localization_maps(batch.image_maps_aug, batch.audio), batch.view_params)
    return 0.5 * (plain + transformed) + config.equivariance_weight * equivariance


SSLTIE = Method("ssltie", "SSL-TIE", ssltie_loss, SSLTIEConfig, image_views=True,
                paper="Liu et al., Exploiting Transformation Invariance and Equivariance for Self-supervised Sound "
                      "Localisation, ACM MM 2022",
                code="github.com/jinxiang-liu/SSL-TIE (main.py, utils/tf_equivariance_loss.py)")
