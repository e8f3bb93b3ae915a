"""Training methods: one small module per method (its loss, with the paper's equation in the docstring) and the
silence-and-noise plug-in that wraps any of them.

:data:`METHODS` is the registry ``sslsan train --method`` reads. A method's ``loss`` has the signature
``loss(image_maps B×C×h×w, audio B×C, tau=..., negatives=None | K×C) -> scalar``; ``negatives`` are extra
columns of its image→audio contrast, which is how :func:`~sslsan.methods.san.san_loss` plugs silence and noise in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sslsan.errors import UsageError
from sslsan.methods.ezvsl import TAU, ezvsl_loss, mil_logits
from sslsan.methods.san import SAN_KINDS, SAN_MODES, BaseLoss, SaNConfig, max_hinge, san_batch, san_loss


@dataclass(frozen=True)
class Method:
    """A registered training method: its name on the command line, its loss and the paper it follows."""

    name: str
    loss: BaseLoss
    paper: str


METHODS: dict[str, Method] = {
    "ezvsl": Method("ezvsl", ezvsl_loss, "Mo & Morgado, Localizing Visual Sounds the Easy Way, ECCV 2022"),
}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UsageError(f"method {name!r}: not one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "get_method", "TAU", "ezvsl_loss", "mil_logits", "SAN_KINDS", "SAN_MODES",
           "SaNConfig", "max_hinge", "san_batch", "san_loss"]
