"""SLAVC (Mo & Morgado, "A Closer Look at Weakly-Supervised Audio-Visual Source Localization", NeurIPS 2022):
two heads that say *which* sound and *where*, momentum targets, and heavy dropout against overfitting.

Follows ``SLAVC.forward`` of the public SLAVC code (stoneMo/SLAVC, ``model.py``), written anew. Each modality has
two projection heads (``ModelConfig.heads = 2``; each head L2-normalised). For image ``n`` and audio ``m``, with
``s¹``, ``s²`` the two heads' cosine maps over the locations ``x`` of image ``n``::

    p¹(m | n, x) = softmax_m  s¹_nm(x)/τ        correspondence: which sound does location x hear?
    p²(x | n, m) = softmax_x  s²_nm(x)/τ        localisation: where in image n is sound m?
    ℓ_nm = log Σ_x p¹(m | n, x) · p²(x | n, m)

    L = ½ [ CE(ℓ(v, ā), n) + CE(ℓ(v̄, a), n) ]     (the CE over m, for each image n)

with ``v̄``, ``ā`` the maps and embeddings of the **momentum** (EMA) encoders (no gradient through them). The
public code sums the two terms; we average them so a random model scores ≈ log B, as for every method here.
The test-time map is the mean of the two heads' maps (what :func:`sslsan.models.normalize_heads` gives), from
the online encoders (SLAVC can also evaluate its momentum encoders; not done here).

Our reading, where the code gives no answer:

- SaN negatives are extra candidates ``m`` in both terms: they join the correspondence softmax over sounds and
  the CE's columns, and get a localisation softmax of their own. The momentum encoders never see negative audio,
  so in the term with momentum audio the negatives' online embeddings stand in for their targets.
- A batch without momentum targets (validation) uses the online encoders as their own targets.
- ``momentum`` is 0.99, not SLAVC's 0.999: the book's runs have a few hundred steps, and a target that moves
  with 0.999 would stay near its random initialisation for the whole run (an EMA horizon of 1 000 steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError
from sslsan.methods.base import Batch, Method
from sslsan.models import split_heads


@dataclass(frozen=True)
class SLAVCConfig:
    """``heads``: projection heads per modality (2: correspondence and localisation); ``momentum``: EMA rate of
    the target encoders; ``image_dropout``: on the trunk's features before the image projection (SLAVC: 0.9)."""

    heads: int = 2
    momentum: float = 0.99
    image_dropout: float = 0.9

    def __post_init__(self):
        if self.heads != 2:
            raise UsageError(f"SLAVC: heads must be 2 (correspondence, localisation), got {self.heads}")
        if not 0 <= self.momentum < 1:
            raise UsageError(f"SLAVC: momentum must be in [0, 1), got {self.momentum}")


def slavc_logits(image_maps: torch.Tensor, audio: torch.Tensor, tau: float) -> torch.Tensor:
    """``ℓ_nm = log Σ_x softmax_m(s¹_nm(x)/τ) · softmax_x(s²_nm(x)/τ)``: ``B×C×h×w, K×C → B×K``.

    Inputs are two-head outputs (:func:`sslsan.models.normalize_heads` with 2 heads); computed in log space.
    """
    (maps_1, maps_2), (audio_1, audio_2) = split_heads(image_maps, 2), split_heads(audio, 2)
    which = torch.einsum("nchw,mc->nmhw", maps_1, audio_1).flatten(2) / tau  # B×K×L
    where = torch.einsum("nchw,mc->nmhw", maps_2, audio_2).flatten(2) / tau
    return torch.logsumexp(which.log_softmax(dim=1) + where.log_softmax(dim=2), dim=2)


def slavc_loss(batch: Batch, config: SLAVCConfig = SLAVCConfig(), negatives: torch.Tensor | None = None, *,
               tau: float = 0.03) -> torch.Tensor:
    """The SLAVC objective above on a batch (online maps and audio, momentum ``target_maps``/``target_audio``)."""
    target_maps = batch.image_maps if batch.target_maps is None else batch.target_maps
    target_audio = batch.audio if batch.target_audio is None else batch.target_audio

    def candidates(audio: torch.Tensor) -> torch.Tensor:
        return audio if negatives is None else torch.cat([audio, negatives])

    labels = torch.arange(len(batch), device=batch.audio.device)
    online_image = F.cross_entropy(slavc_logits(batch.image_maps, candidates(target_audio), tau), labels)
    online_audio = F.cross_entropy(slavc_logits(target_maps, candidates(batch.audio), tau), labels)
    return 0.5 * (online_image + online_audio)


SLAVC = Method("slavc", "SLAVC", slavc_loss, SLAVCConfig,
               paper="Mo & Morgado, A Closer Look at Weakly-Supervised Audio-Visual Source Localization, "
                     "NeurIPS 2022",
               code="github.com/stoneMo/SLAVC (model.py: SLAVC.forward)",
               model_options=lambda config: {"heads": config.heads, "image_dropout": config.image_dropout},
               momentum=lambda config: config.momentum)
