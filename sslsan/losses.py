"""Losses: the EZ-VSL baseline and the silence-and-noise (SaN) strategy as a plug-in for any base loss.

Shapes: ``image_maps`` B×C×h×w and ``audio`` B×C are L2-normalised (pair i = image i with audio i);
``negatives`` K×C are embeddings of negative audio (silence, noise), which are never anybody's positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from sslsan.models import similarity_maps
from sslsan.negatives import NoiseConfig

TAU = 0.03
SAN_MODES = ("extra-negatives", "replacement", "penalty")
SAN_KINDS = ("silence", "noise")


def mil_logits(image_maps: torch.Tensor, audio: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """Multiple-instance scores ``s_ik = max_xy cos(v_i(x, y), a_k) / τ``: ``B×C×h×w, K×C → B×K``.

    An image is a bag of locations; it matches a sound if *some* location does (EZ-VSL).
    """
    return similarity_maps(image_maps, audio).flatten(2).amax(-1) / tau


def ezvsl_loss(image_maps: torch.Tensor, audio: torch.Tensor, tau: float = TAU,
               negatives: torch.Tensor | None = None) -> torch.Tensor:
    """EZ-VSL's multiple-instance contrastive loss, symmetric InfoNCE over the batch (Mo & Morgado, ECCV 2022)::

        L = ½ [ CE(softmax_k s_ik, i) + CE(softmax_i s_ik, k) ]      s_ik = max_xy cos(v_i(x,y), a_k) / τ

    EZ-VSL sums the two cross-entropies; we average them so a random model scores ≈ log B (Adam is insensitive
    to the factor 2). ``negatives`` (K×C) become K extra columns of the image→audio softmax only: for image i
    they are wrong answers; as audio queries they have no correct image, so they join no audio→image term.
    """
    logits = mil_logits(image_maps, audio, tau)  # B×B
    target = torch.arange(logits.shape[0], device=logits.device)
    image_to_audio = logits if negatives is None else torch.cat([logits, mil_logits(image_maps, negatives, tau)], 1)
    return 0.5 * (F.cross_entropy(image_to_audio, target) + F.cross_entropy(logits.t(), target))


def max_hinge(image_maps: torch.Tensor, negatives: torch.Tensor, margin: float = 0.0,
              paired: bool = False) -> torch.Tensor:
    """Mean of ``relu(max_xy cos(v_i(x, y), n_k) − margin)``: push the peak of negative-audio maps below ``margin``.

    ``paired=True`` scores negative k against image k only (B×C×h×w with B×C); otherwise every image against every
    negative (B×K pairs).
    """
    if paired:
        peaks = torch.einsum("bchw,bc->bhw", image_maps, negatives).flatten(1).amax(-1)
    else:
        peaks = similarity_maps(image_maps, negatives).flatten(2).amax(-1)
    return F.relu(peaks - margin).mean()


BaseLoss = Callable[..., torch.Tensor]  # (image_maps, audio, tau=..., negatives=None) -> scalar


@dataclass(frozen=True)
class SaNConfig:
    """How silence and noise enter training. The paper says they are added as negatives; how is not public,
    so each plausible reading is a ``mode``:

    - ``extra-negatives``: their embeddings are extra columns of the image→audio softmax (never positives);
    - ``replacement``: a fraction ``ratio`` of the pairs get negative audio instead of their own; those pairs
      leave the contrastive term, and their map peak is pushed below ``margin`` (target: "no sounding object");
    - ``penalty``: the base loss is unchanged and ``weight · max_hinge`` pushes negative-map peaks below ``margin``.

    ``kinds`` picks silence and/or noise; ``ratio`` is the number of negative clips per batch as a fraction of the
    batch size (for ``replacement``: the fraction of pairs replaced); ``noise`` its type and level.
    """

    kinds: tuple[str, ...] = ("silence", "noise")
    mode: str = "extra-negatives"
    ratio: float = 0.25
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    margin: float = 0.0
    weight: float = 1.0

    def __post_init__(self):
        if self.mode not in SAN_MODES:
            raise ValueError(f"SaN mode {self.mode!r} is not one of {SAN_MODES}")
        unknown = set(self.kinds) - set(SAN_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"SaN kinds must be a non-empty subset of {SAN_KINDS}, got {self.kinds}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"SaN ratio must be in (0, 1], got {self.ratio}")

    def clips_per_kind(self, batch_size: int) -> int:
        """How many clips of each kind a batch gets (at least one)."""
        return max(1, round(self.ratio * batch_size / len(self.kinds)))


def san_loss(base: BaseLoss, image_maps: torch.Tensor, audio: torch.Tensor, negatives: torch.Tensor,
             config: SaNConfig, tau: float = TAU, replaced: torch.Tensor | None = None) -> torch.Tensor:
    """The SaN plug-in around any ``base`` loss that accepts ``negatives`` as extra columns.

    ``negatives`` (K×C) are the embeddings of the silence/noise clips. For ``replacement``, ``replaced`` is a
    boolean mask over the B pairs whose audio *was* replaced: then ``negatives`` is B'×C, one per replaced pair,
    aligned with ``image_maps[replaced]``, and ``audio[replaced]`` is ignored.
    """
    if config.mode == "extra-negatives":
        return base(image_maps, audio, tau=tau, negatives=negatives)
    if config.mode == "penalty":
        return base(image_maps, audio, tau=tau) + config.weight * max_hinge(image_maps, negatives, config.margin)
    if replaced is None or replaced.dtype != torch.bool or int(replaced.sum()) != negatives.shape[0]:
        raise ValueError("replacement mode needs a boolean `replaced` mask with one True per negative clip")
    keep = ~replaced
    if int(keep.sum()) < 2:
        raise ValueError("replacement left fewer than two positive pairs in the batch; lower the ratio")
    contrastive = base(image_maps[keep], audio[keep], tau=tau, negatives=negatives)
    return contrastive + config.weight * max_hinge(image_maps[replaced], negatives, config.margin, paired=True)
