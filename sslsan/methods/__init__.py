"""Training methods: one small module per method (its loss, with the paper's equation in the docstring, and its
config dataclass) and the silence-and-noise plug-in that wraps any of them.

:data:`METHODS` is the registry ``sslsan train --method`` reads; :class:`~sslsan.methods.base.Method` says what a
method is and :class:`~sslsan.methods.base.Batch` what its loss sees. :func:`~sslsan.methods.san.san_loss` plugs
silence and noise into any method's objective.
"""

from __future__ import annotations

from sslsan.errors import UsageError
from sslsan.methods.base import Batch, Method, symmetric_infonce, with_negative_columns
from sslsan.methods.ezvsl import EZVSL, TAU, EZVSLConfig, ezvsl_loss, mil_logits
from sslsan.methods.fnac import FNAC, FNACConfig, fnac_loss
from sslsan.methods.lvs import LVS, LVSConfig, lvs_loss
from sslsan.methods.san import SAN_KINDS, SAN_MODES, SaNConfig, max_hinge, san_batch, san_loss, soft_area
from sslsan.methods.slavc import SLAVC, SLAVCConfig, slavc_logits, slavc_loss
from sslsan.methods.sslalign import SSLALIGN, SSLAlignConfig, aligned_image_features, alignment_loss, sslalign_loss
from sslsan.methods.ssltie import SSLTIE, SSLTIEConfig, equivariance_loss, ssltie_loss

#: every method, by its command-line name, in the order the book's tables use
METHODS: dict[str, Method] = {m.name: m for m in (LVS, EZVSL, SLAVC, FNAC, SSLTIE, SSLALIGN)}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UsageError(f"method {name!r}: not one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "Batch", "get_method", "with_negative_columns", "TAU", "EZVSLConfig", "ezvsl_loss",
           "mil_logits", "symmetric_infonce", "LVSConfig", "lvs_loss", "FNACConfig", "fnac_loss", "SSLTIEConfig", "ssltie_loss",
           "equivariance_loss", "SLAVCConfig", "slavc_logits", "slavc_loss", "SSLAlignConfig",
           "aligned_image_features", "alignment_loss", "sslalign_loss", "SAN_KINDS", "SAN_MODES", "SaNConfig", "max_hinge", "san_batch", "san_loss",
           "soft_area"]
