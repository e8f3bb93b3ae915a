"""SSL-Align, self-supervised variant (Senocak et al., "Sound Source Localization is All about Cross-Modal
Alignment", ICCV 2023): localisation *and* cross-modal alignment, learnt from several views of every pair.

Its training code is not public (kaistmm/SSLalignment releases inference only), so this module follows the
paper's description; every choice below is our reading. Two scores for image ``i`` and audio ``k``:

- **localisation**: EZ-VSL's multiple-instance score ``s_ik = max_x cos(v_i(x), a_k) / τ``;
- **alignment**: the audio against one visual embedding of the image, pooled with its own pair's map,
  ``g_i = normalise(Σ_x softmax_x(cos(v_i(x), a_i)/τ) v_i(x))``, score ``cos(g_i, a_k) / τ``.

Each is trained with a symmetric InfoNCE, on **every combination** of the pair's views — the image ``x`` and its
augmented view ``x'``, the audio ``a`` and its augmented view ``a'`` are all positives of one another::

    L = mean over (v, a) in {x, x'} × {a, a'} of  [ L_InfoNCE(s(v, a)) + λ · L_InfoNCE(cos(g(v, a), a)/τ) ]

The paper's semantic positives (nearest neighbours mined with pretrained encoders) are not used: the
self-supervised variant mines them with self-supervised encoders trained on VGGSound, which we do not have; the
hand-crafted views are the part of the idea that needs nothing external. Without views (validation) the loss is
that of ``(x, a)`` alone. SaN negatives are extra image→audio columns of both InfoNCE terms, for every view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError
from sslsan.methods.base import Batch, Method, symmetric_infonce
from sslsan.methods.ezvsl import ezvsl_loss
from sslsan.models import localization_maps


@dataclass(frozen=True)
class SSLAlignConfig:
    """``alignment_weight``: λ of the alignment term (the paper weighs the two terms equally: 1)."""

    alignment_weight: float = 1.0

    def __post_init__(self):
        if not self.alignment_weight >= 0:
            raise UsageError(f"SSL-Align: alignment_weight must be ≥ 0, got {self.alignment_weight}")


def aligned_image_features(image_maps: torch.Tensor, audio: torch.Tensor, tau: float) -> torch.Tensor:
    """``g_i``: each image's cells pooled with the softmax of its pair's map: ``B×C×h×w, B×C → B×C`` (unit norm)."""
    attention = (localization_maps(image_maps, audio).flatten(1) / tau).softmax(dim=1)  # B×L
    return F.normalize(torch.einsum("bcl,bl->bc", image_maps.flatten(2), attention), dim=1)


def alignment_loss(image_maps: torch.Tensor, audio: torch.Tensor, tau: float,
                   negatives: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE of ``cos(g_i, a_k)/τ`` (see the module docstring): ``B×C×h×w, B×C, K×C → scalar``."""
    pooled = aligned_image_features(image_maps, audio, tau)
    return symmetric_infonce(pooled @ audio.t() / tau, None if negatives is None else pooled @ negatives.t() / tau)


def sslalign_loss(batch: Batch, config: SSLAlignConfig = SSLAlignConfig(), negatives: torch.Tensor | None = None,
                  *, tau: float = 0.03) -> torch.Tensor:
    """The mean over view combinations of ``L_loc + λ · L_align`` (only ``(x, a)`` when the batch has no views)."""
    images = [m for m in (batch.image_maps, batch.image_maps_aug) if m is not None]
    sounds = [a for a in (batch.audio, batch.audio_aug) if a is not None]
    terms = [ezvsl_loss(maps, audio, tau, negatives)
             + config.alignment_weight * alignment_loss(maps, audio, tau, negatives)
             for maps in images for audio in sounds]
    return torch.stack(terms).mean()


SSLALIGN = Method("sslalign", "SSL-Align", sslalign_loss, SSLAlignConfig, image_views=True, audio_views=True,
                  paper="Senocak et al., Sound Source Localization is All about Cross-Modal Alignment, ICCV 2023",
                  code="github.com/kaistmm/SSLalignment (inference only; the loss follows the paper)")
