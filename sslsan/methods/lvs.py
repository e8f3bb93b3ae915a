"""LVS (Chen et al., "Localizing Visual Sounds the Hard Way", CVPR 2021): contrastive learning with a
differentiable tri-map, so the image's own background is a *hard* negative.

Follows the loss of the public LVS model code (``model.py`` of hche11/Localizing-Visual-Sounds-the-Hard-Way,
re-implemented by SSL-TIE), written anew. Shapes as in :mod:`sslsan.methods.ezvsl`.

Our reading, where it differs from that code:

- the lineage excludes the positive pair from the easy negatives with a multiplicative ``(1 − 100·eye)`` mask,
  which is only right while similarities are positive; we put the positive on the diagonal of one B×B matrix and
  let the cross-entropy target pick it (same loss when similarities are positive, correct otherwise);
- LVS has no projection heads (the trunk's features are normalised directly); every method here shares our
  encoders (1×1 projection heads on a frozen pretrained trunk in the book preset), so differences between
  methods come from their objectives;
- the thresholds ε are fixed (the SSL-SaN checkpoint is reported to carry learnable ones; that option is not
  implemented: it would need parameters owned by the loss, which our plain ``state_dict`` model does not hold).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError
from sslsan.methods.base import Batch, Method, with_negative_columns
from sslsan.models import localization_maps, similarity_maps


@dataclass(frozen=True)
class LVSConfig:
    """The tri-map: cells above ``eps_pos`` are the positive region, below ``eps_neg`` the background, in between
    ignored; ``sharpness`` is the width of the sigmoids that make the regions soft; logits are divided by
    ``temperature`` (LVS's values: 0.65, 0.4, 0.03, 0.07). LVS ignores the run's τ."""

    eps_pos: float = 0.65
    eps_neg: float = 0.4
    sharpness: float = 0.03
    temperature: float = 0.07

    def __post_init__(self):
        if not -1 <= self.eps_neg <= self.eps_pos <= 1:
            raise UsageError(f"LVS: need -1 ≤ eps_neg ≤ eps_pos ≤ 1, got {self.eps_neg}, {self.eps_pos}")
        if not self.sharpness > 0 or not self.temperature > 0:
            raise UsageError(f"LVS: sharpness and temperature must be > 0, got {self.sharpness}, {self.temperature}")


def soft_region_mean(maps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_xy w·S / Σ_xy w`` over the last two axes (the weights are sigmoids, so never all exactly zero)."""
    return (weights * maps).flatten(-2).sum(-1) / weights.flatten(-2).sum(-1).clamp_min(torch.finfo(maps.dtype).tiny)


def region_scores(image_maps: torch.Tensor, audio: torch.Tensor, config: LVSConfig) -> torch.Tensor:
    """``R_ik``: the mean cosine of image i with audio k inside the positive region that audio k lights up in
    image i, ``P_ik = σ((S_ik − ε_p)/s)``: ``B×C×h×w, K×C → B×K``."""
    maps = similarity_maps(image_maps, audio)
    return soft_region_mean(maps, torch.sigmoid((maps - config.eps_pos) / config.sharpness))


def background_scores(image_maps: torch.Tensor, audio: torch.Tensor, config: LVSConfig) -> torch.Tensor:
    """``H_i``: the mean cosine of pair i over its background, ``N_i = 1 − σ((S_ii − ε_n)/s)``: ``→ B``."""
    maps = localization_maps(image_maps, audio)
    return soft_region_mean(maps, 1 - torch.sigmoid((maps - config.eps_neg) / config.sharpness))


def lvs_loss(image_maps: torch.Tensor, audio: torch.Tensor, config: LVSConfig = LVSConfig(),
             negatives: torch.Tensor | None = None) -> torch.Tensor:
    """LVS's hard-way contrastive loss::

        L = −(1/B) Σ_i log [ exp(R_ii/T) / ( Σ_k exp(R_ik/T) + exp(H_i/T) ) ]

    with ``R_ik`` the positive-region score of image i and audio k (:func:`region_scores`; the diagonal is the
    positive, the rest the easy negatives) and ``H_i`` the image's own background (:func:`background_scores`),
    the hard negative. ``negatives`` (K×C, silence/noise) add their region scores ``R_in`` as K more easy
    negatives of every image.
    """
    scores = region_scores(image_maps, audio, config)  # B×B
    negative_scores = None if negatives is None else region_scores(image_maps, negatives, config)
    logits = torch.cat([with_negative_columns(scores, negative_scores),
                        background_scores(image_maps, audio, config)[:, None]], 1) / config.temperature
    return F.cross_entropy(logits, torch.arange(len(scores), device=logits.device))


def lvs_method_loss(batch: Batch, config: LVSConfig, negatives: torch.Tensor | None = None, *,
                    tau: float = 0.03) -> torch.Tensor:
    return lvs_loss(batch.image_maps, batch.audio, config, negatives)


LVS = Method("lvs", "LVS", lvs_method_loss, LVSConfig,
             paper="Chen et al., Localizing Visual Sounds the Hard Way, CVPR 2021",
             code="github.com/hche11/Localizing-Visual-Sounds-the-Hard-Way (model.py: tri-map contrastive loss)")
