"""What every training method shares: the batch its loss sees, and how a method is registered.

A method is a loss over a :class:`Batch` plus the model options it needs. Its loss has one signature::

    loss(batch: Batch, config: <its config dataclass>, negatives: K×C | None, *, tau: float) -> scalar

``negatives`` are embeddings of negative audio (silence, noise): every method says in its docstring what they
become in its loss — usually extra wrong answers ("columns") of its image→audio contrast. That is how the
silence-and-noise plug-in (:mod:`sslsan.methods.san`) wraps *any* method through one code path.

A loss must work on a batch that holds only ``image_maps`` and ``audio`` (validation has no augmented views and
no momentum targets): it then uses its view-free terms, and adds the others when the batch has them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Callable

import torch
import torch.nn.functional as F

from sslsan.errors import UsageError


@dataclass
class Batch:
    """One step's L2-normalised outputs; row ``i`` of every field belongs to training pair ``i``.

    - ``image_maps`` B×C×h×w, ``audio`` B×C: the pair's image map and audio embedding (always present);
    - ``image_maps_aug`` B×C×h×w: the map of a second, augmented view of the same image, and ``view_params`` B×4
      its geometric transform (see :mod:`sslsan.data.image_views`) — methods with ``image_views``;
    - ``audio_aug`` B×C: a second augmented view of the pair's audio — methods with ``audio_views``;
    - ``target_maps`` / ``target_audio``: the same pairs through the momentum (EMA) encoders — methods with a
      ``momentum``; no gradient flows through them;
    - ``epoch``: the current epoch (for warm-ups).
    """

    image_maps: torch.Tensor
    audio: torch.Tensor
    image_maps_aug: torch.Tensor | None = None
    view_params: torch.Tensor | None = None
    audio_aug: torch.Tensor | None = None
    target_maps: torch.Tensor | None = None
    target_audio: torch.Tensor | None = None
    epoch: int = 0

    def __len__(self) -> int:
        return self.image_maps.shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        """The per-pair fields that are present."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if isinstance(getattr(self, f.name), torch.Tensor)}

    def select(self, rows: torch.Tensor) -> "Batch":
        """The pairs ``rows`` (a boolean mask or indices) of every present field."""
        return replace(self, **{name: value[rows] for name, value in self.tensors().items()})

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "Batch":
        """``fn`` applied to every present field (e.g. the all-gather of several processes)."""
        return replace(self, **{name: fn(value) for name, value in self.tensors().items()})


Loss = Callable[..., torch.Tensor]  # loss(batch, config, negatives, *, tau) -> scalar


@dataclass(frozen=True)
class Method:
    """A registered training method.

    ``config`` is its hyper-parameter dataclass (defaults = the original paper's values where they make sense at
    our scale; each module says which and why). ``model_options(config)`` returns the :class:`ModelConfig`
    fields the method changes (``heads``, ``image_dropout``); ``momentum(config)`` the EMA rate of its target
    encoders or ``None``; ``image_views``/``audio_views`` whether its batches carry a second augmented view.
    """

    name: str
    title: str
    loss: Loss
    config: type
    paper: str
    code: str
    image_views: bool = False
    audio_views: bool = False
    model_options: Callable[[Any], dict] = lambda config: {}
    momentum: Callable[[Any], float | None] = lambda config: None

    def default_config(self):
        return self.config()

    def objective(self, config=None, tau: float = 0.03) -> Callable[[Batch, torch.Tensor | None], torch.Tensor]:
        """``loss(batch, negatives)`` with this method's config and τ bound (what the SaN plug-in wraps)."""
        config = self.config() if config is None else config
        if not isinstance(config, self.config):
            raise UsageError(f"method {self.name}: config must be a {self.config.__name__}, "
                             f"got {type(config).__name__}")

        def objective(batch: Batch, negatives: torch.Tensor | None = None) -> torch.Tensor:
            return self.loss(batch, config, negatives, tau=tau)

        return objective


def with_negative_columns(logits: torch.Tensor, negative_logits: torch.Tensor | None) -> torch.Tensor:
    """``[logits | negative_logits]`` along the audio axis (B×B and B×K → B×(B+K)); unchanged without negatives."""
    return logits if negative_logits is None else torch.cat([logits, negative_logits], 1)


def symmetric_infonce(logits: torch.Tensor, negative_logits: torch.Tensor | None = None) -> torch.Tensor:
    """``½ [CE(rows) + CE(columns)]`` of a B×B score matrix whose diagonal holds the positives; ``negative_logits``
    (B×K) are extra columns of the row term only."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(with_negative_columns(logits, negative_logits), labels)
                  + F.cross_entropy(logits.t(), labels))
