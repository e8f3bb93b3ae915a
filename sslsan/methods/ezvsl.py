"""EZ-VSL (Mo & Morgado, "Localizing Visual Sounds the Easy Way", ECCV 2022): multiple-instance contrastive learning.

Shapes: ``image_maps`` B×C×h×w and ``audio`` B×C are L2-normalised (pair i = image i with audio i); ``negatives``
K×C are embeddings of negative audio (silence, noise), which are never anybody's positive. Follows the public
EZ-VSL code's loss (max over locations, symmetric InfoNCE, τ = 0.03), written anew.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslsan.methods.base import Batch, Method, symmetric_infonce
from sslsan.models import similarity_maps

TAU = 0.03


def mil_logits(image_maps: torch.Tensor, audio: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """Multiple-instance scores ``s_ik = max_xy cos(v_i(x, y), a_k) / τ``: ``B×C×h×w, K×C → B×K``.

    An image is a bag of locations; it matches a sound if *some* location does.
    """
    return similarity_maps(image_maps, audio).flatten(2).amax(-1) / tau


def ezvsl_loss(image_maps: torch.Tensor, audio: torch.Tensor, tau: float = TAU,
               negatives: torch.Tensor | None = None) -> torch.Tensor:
    """EZ-VSL's multiple-instance contrastive loss, symmetric InfoNCE over the batch::

        L = ½ [ CE(softmax_k s_ik, i) + CE(softmax_i s_ik, k) ]      s_ik = max_xy cos(v_i(x,y), a_k) / τ

    EZ-VSL sums the two cross-entropies; we average them so a random model scores ≈ log B (Adam is insensitive
    to the factor 2). ``negatives`` (K×C) become K extra columns of the image→audio softmax only: for image i
    they are wrong answers; as audio queries they have no correct image, so they join no audio→image term.
    """
    negative_logits = None if negatives is None else mil_logits(image_maps, negatives, tau)
    return symmetric_infonce(mil_logits(image_maps, audio, tau), negative_logits)


@dataclass(frozen=True)
class EZVSLConfig:
    """EZ-VSL has no hyper-parameter of its own beyond τ (the run's ``tau``)."""


def ezvsl_method_loss(batch: Batch, config: EZVSLConfig, negatives: torch.Tensor | None = None, *,
                      tau: float = TAU) -> torch.Tensor:
    """:func:`ezvsl_loss` on a :class:`~sslsan.methods.base.Batch` (it uses the pair's maps and audio only)."""
    return ezvsl_loss(batch.image_maps, batch.audio, tau, negatives)


EZVSL = Method("ezvsl", "EZ-VSL", ezvsl_method_loss, EZVSLConfig,
               paper="Mo & Morgado, Localizing Visual Sounds the Easy Way, ECCV 2022",
               code="github.com/stoneMo/EZ-VSL (model.py: max-MIL symmetric InfoNCE)")
