"""FNAC (Sun et al., "Learning Audio-Visual Source Localization via False Negative Aware Contrastive Learning",
CVPR 2023): EZ-VSL's loss, plus intra-modal similarities as soft targets of the cross-modal ones.

Follows ``FNAC.calculate_loss`` of the public FNAC code (OpenNLPLab/FNAC_AVL, an EZ-VSL fork), written anew.
Two sounds of the same kind in one batch are "false negatives" for a contrastive loss; FNAC lets the audio–audio
and image–image similarities say which pairs look alike, and asks the cross-modal scores to agree::

    L = L_EZ-VSL + w · (L_FNS,a + L_FNS,v + L_TNS)           (only L_EZ-VSL during the first warm-up epochs)
    L_FNS,a = | softmax_k(a_i·a_k/τ) − softmax_k(s_ik) |₁      L_FNS,v = | softmax_k(ḡ_i·ḡ_k/τ) − softmax_k(s_ik) |₁
    L_TNS   = | softmax_k(a_i·a_k/τ) − softmax_k(f_i·f_k/τ) |₁

with ``s_ik`` EZ-VSL's MIL scores, ``ḡ_i`` the image's average-pooled map and ``f_i`` its foreground feature (the
mean of the cells where the pair's own min-max-normalised map exceeds 0.6); ``|·|₁`` is the mean absolute
difference. Our reading: ``ḡ`` and ``f`` are L2-normalised before their cosines (the code uses raw means, whose
scale changes with the map); the warm-up is one epoch at our six-epoch scale (FNAC: 5 of 30). SaN negatives are
extra columns of the contrastive term only: the regularisers compare B×B matrices of real pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError
from sslsan.methods.base import Batch, Method
from sslsan.methods.ezvsl import ezvsl_loss, mil_logits
from sslsan.models import localization_maps


@dataclass(frozen=True)
class FNACConfig:
    """``weight``: of each regulariser (FNAC: 100); ``foreground``: the min-max threshold of the foreground
    (0.6); ``warmup_epochs``: epochs with the contrastive term only; ``image_dropout``: on the trunk's features
    before the projection (0.9, from SLAVC)."""

    weight: float = 100.0
    foreground: float = 0.6
    warmup_epochs: int = 1
    image_dropout: float = 0.9

    def __post_init__(self):
        if not self.weight >= 0 or not 0 <= self.foreground < 1 or self.warmup_epochs < 0:
            raise UsageError(f"FNAC: need weight ≥ 0, foreground in [0, 1), warmup_epochs ≥ 0; got {self}")


def row_softmax_similarity(x: torch.Tensor, tau: float) -> torch.Tensor:
    """``softmax_k(x̂_i · x̂_k / τ)`` of L2-normalised rows: ``B×C → B×B``."""
    x = F.normalize(x, dim=1)
    return torch.softmax(x @ x.t() / tau, dim=1)


def foreground_features(image_maps: torch.Tensor, audio: torch.Tensor, threshold: float) -> torch.Tensor:
    """Mean image feature over the cells where the pair's min-max-normalised map exceeds ``threshold``: ``→ B×C``
    (the whole image when the map is flat)."""
    maps = localization_maps(image_maps, audio).detach()
    low, high = maps.flatten(1).amin(1)[:, None, None], maps.flatten(1).amax(1)[:, None, None]
    flat = (high - low) < 1e-6  # a flat map prefers no region: all of it is foreground
    mask = (torch.where(flat, 1.0, (maps - low) / (high - low).clamp_min(1e-6)) > threshold).float()
    return (image_maps * mask[:, None]).flatten(2).sum(-1) / mask.flatten(1).sum(1, keepdim=True).clamp_min(1)


def fnac_loss(batch: Batch, config: FNACConfig = FNACConfig(), negatives: torch.Tensor | None = None, *,
              tau: float = 0.03) -> torch.Tensor:
    """The FNAC objective above on a batch (its maps and audio)."""
    maps, audio = batch.image_maps, batch.audio
    contrastive = ezvsl_loss(maps, audio, tau, negatives)
    if batch.epoch < config.warmup_epochs or config.weight == 0:
        return contrastive
    cross = torch.softmax(mil_logits(maps, audio, tau), dim=1)
    audio_similarity = row_softmax_similarity(audio, tau)
    image_similarity = row_softmax_similarity(maps.mean(dim=(2, 3)), tau)
    foreground_similarity = row_softmax_similarity(foreground_features(maps, audio, config.foreground), tau)
    regularisers = (F.l1_loss(audio_similarity, cross) + F.l1_loss(image_similarity, cross)
                    + F.l1_loss(audio_similarity, foreground_similarity))
    return contrastive + config.weight * regularisers


FNAC = Method("fnac", "FNAC", fnac_loss, FNACConfig,
              paper="Sun et al., Learning Audio-Visual Source Localization via False Negative Aware Contrastive "
                    "Learning, CVPR 2023",
              code="github.com/OpenNLPLab/FNAC_AVL (model.py: FNAC.calculate_loss)",
              model_options=lambda config: {"image_dropout": config.image_dropout})
