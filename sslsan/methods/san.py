"""Silence and noise (SaN): the SSL-SaN strategy as a plug-in around any base loss.

The paper says silence and noise are added to training as negatives; how is not public, so each plausible reading
is a named ``mode`` of :class:`SaNConfig` (compared in the book's ablations). Shapes as in
:mod:`sslsan.methods.ezvsl`; the plug-in wraps any method's objective (:meth:`Method.objective`), so every
method of :data:`sslsan.methods.METHODS` trains with every mode through this one code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError
from sslsan.methods.base import Batch
from sslsan.models import localization_maps, similarity_maps
from sslsan.negatives import NoiseConfig

SAN_MODES = ("extra-negatives", "replacement", "penalty", "soft-area")
SAN_KINDS = ("silence", "noise")

Objective = Callable[[Batch, "torch.Tensor | None"], torch.Tensor]  # objective(batch, negatives) -> scalar
#: ``draw(kinds, count_per_kind, generator)`` → negative clips, stacked by kind, as the audio model's input
DrawNegatives = Callable[[tuple[str, ...], int, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class SaNConfig:
    """How silence and noise enter training:

    - ``extra-negatives``: their embeddings are extra columns of the image→audio softmax (never positives);
    - ``replacement``: a fraction ``ratio`` of the pairs get negative audio instead of their own; those pairs
      leave the contrastive term, and their map peak is pushed below ``margin`` (target: "no sounding object");
    - ``penalty``: the base loss is unchanged and ``weight · max_hinge`` pushes negative-map peaks below ``margin``;
    - ``soft-area``: extra columns as in ``extra-negatives``, plus ``weight · soft_area``, which pushes the
      *area* of negative maps — the fraction of cells whose cosine exceeds ``margin``, made differentiable with
      a sigmoid of width ``sharpness`` — towards zero (the reading of public follow-up work).

    ``kinds`` picks silence and/or noise; ``ratio`` is the number of negative clips per batch as a fraction of the
    batch size (for ``replacement``: the fraction of pairs replaced); ``noise`` its type and level.
    """

    kinds: tuple[str, ...] = ("silence", "noise")
    mode: str = "extra-negatives"
    ratio: float = 0.25
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    margin: float = 0.0
    weight: float = 1.0
    sharpness: float = 0.03

    def __post_init__(self):
        if self.mode not in SAN_MODES:
            raise UsageError(f"SaN mode {self.mode!r} is not one of {SAN_MODES}")
        unknown = set(self.kinds) - set(SAN_KINDS)
        if unknown or not self.kinds:
            raise UsageError(f"SaN kinds must be a non-empty subset of {SAN_KINDS}, got {self.kinds}")
        if not 0 < self.ratio <= 1:
            raise UsageError(f"SaN ratio must be in (0, 1], got {self.ratio}")
        if not -1 <= self.margin < 1:
            raise UsageError(f"SaN margin is a cosine in [-1, 1), got {self.margin}")
        if not self.weight >= 0 or not self.sharpness > 0:
            raise UsageError(f"SaN weight must be ≥ 0 and sharpness > 0, got {self.weight}, {self.sharpness}")

    def clips_per_kind(self, batch_size: int) -> int:
        """How many clips of each kind a batch gets (at least one)."""
        return max(1, round(self.ratio * batch_size / len(self.kinds)))


def max_hinge(image_maps: torch.Tensor, negatives: torch.Tensor, margin: float = 0.0,
              paired: bool = False) -> torch.Tensor:
    """Mean of ``relu(max_xy cos(v_i(x, y), n_k) − margin)``: push the peak of negative-audio maps below ``margin``.

    ``paired=True`` scores negative k against image k only (B×C×h×w with B×C); otherwise every image against every
    negative (B×K pairs).
    """
    maps = localization_maps(image_maps, negatives) if paired else similarity_maps(image_maps, negatives)
    return F.relu(maps.flatten(-2).amax(-1) - margin).mean()


def soft_area(image_maps: torch.Tensor, negatives: torch.Tensor, threshold: float = 0.0,
              sharpness: float = 0.03) -> torch.Tensor:
    """Mean soft area of negative-audio maps: ``mean_{i,k,x,y} σ((cos(v_i(x, y), n_k) − threshold) / sharpness)``.

    ``B×C×h×w, K×C → scalar`` in (0, 1): the fraction of the image each negative sound "lights up" above
    ``threshold``; as ``sharpness → 0`` it becomes the hard area.
    """
    return torch.sigmoid((similarity_maps(image_maps, negatives) - threshold) / sharpness).mean()


def san_batch(config: SaNConfig, audio: torch.Tensor, draw: DrawNegatives, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The audio a SaN batch feeds the encoder: ``(audio, extra, replaced)``.

    ``extra-negatives``/``penalty``: ``audio`` unchanged, ``extra`` = the negative clips (``clips_per_kind`` of each
    kind), ``replaced`` = None. ``replacement``: ``round(ratio·B)`` pairs, drawn with ``generator``, get a negative
    clip instead of their own audio (``replaced`` marks them) and ``extra`` is empty.
    """
    batch = audio.shape[0]
    if config.mode != "replacement":
        return audio, draw(config.kinds, config.clips_per_kind(batch), generator), None
    count = max(1, round(config.ratio * batch))
    order = torch.randperm(batch, generator=generator)[:count].to(audio.device)
    replaced = torch.zeros(batch, dtype=torch.bool, device=audio.device)
    replaced[order] = True
    clips = draw(config.kinds, -(-count // len(config.kinds)), generator)
    audio = audio.clone()
    audio[replaced] = clips[torch.randperm(len(clips), generator=generator)[:count].to(audio.device)]
    return audio, audio[:0], replaced


def san_loss(objective: Objective, batch: Batch, negatives: torch.Tensor, config: SaNConfig,
             replaced: torch.Tensor | None = None) -> torch.Tensor:
    """The SaN plug-in around any method's ``objective(batch, negatives)`` (:meth:`Method.objective`).

    ``negatives`` (K×C) are the embeddings of the silence/noise clips. For ``replacement``, ``replaced`` is a
    boolean mask over the B pairs whose audio *was* replaced: then ``negatives`` is B'×C, one per replaced pair,
    aligned with ``batch.image_maps[replaced]``, and those pairs leave the method's loss.
    """
    if config.mode == "extra-negatives":
        return objective(batch, negatives)
    if config.mode == "soft-area":
        return objective(batch, negatives) + config.weight * soft_area(batch.image_maps, negatives, config.margin,
                                                                       config.sharpness)
    if config.mode == "penalty":
        return objective(batch, None) + config.weight * max_hinge(batch.image_maps, negatives, config.margin)
    if replaced is None or replaced.dtype != torch.bool or int(replaced.sum()) != negatives.shape[0]:
        raise ValueError("replacement mode needs a boolean `replaced` mask with one True per negative clip")
    keep = ~replaced
    if int(keep.sum()) < 2:
        raise UsageError("replacement left fewer than two positive pairs in the batch; lower the ratio")
    contrastive = objective(batch.select(keep), negatives)
    return contrastive + config.weight * max_hinge(batch.image_maps[replaced], negatives, config.margin, paired=True)
