"""Metrics: localisation, negative audio, universal thresholds, extended sets, collapse, embeddings.

Everything here works on torch tensors on any device, batched over ``N`` samples, with localisation maps already
upsampled to the image (``N×H×W``). Results are per-sample tensors (float64 for ratios, so that they compare exactly
with the lineage's numpy code) and summaries are small dicts of Python floats (fractions, not percentages).

Where to read what:

- :mod:`.definitions` — the metrics as the book defines them (threshold policies, cIoU, success curve and AUC, IIoU,
  pointing, pIA, AUC_N, map IoU, F-scores): short, sort-based, with the formulas. Start here.
- :mod:`.selection` — the fast route to the thresholded metrics (exact rank selection, chunked torch, numba kernels
  in :mod:`._metrics_cpu`) and :data:`CPU_BACKEND`. Same numbers as the definitions, tested equal.
- :mod:`.thresholds` (sweeps over many thresholds, universal thresholds), :mod:`.extended` (SLAVC's extended sets:
  confidence, AP, max-F1), :mod:`.collapse` (does the map depend on the audio?), :mod:`.embeddings` (geometry,
  retrieval).

This package imports nothing else of ours; numba is optional (imported on first use of a CPU kernel).
"""

from __future__ import annotations

import sys
from types import ModuleType

from . import _common, selection
from ._common import RANK_POLICIES, Policy
from .collapse import both_found, collapse_summary, max_beats, object_preference, pair_correlation
from .definitions import (SUCCESS_THRESHOLDS, PolicyScores, adaptive_ranks, auc_n, binary_map_iou, harmonic_mean,
                          interactive_summary, localization_summary, minmax_normalize, negative_f_scores,
                          pointing_hits, success_curve)
from .embeddings import embedding_geometry, retrieval_recall
from .extended import PRCurve, detection_pr_curve, extended_summary, map_confidence
from .selection import apply_policy, binarize, ciou, ciou_per_policy, kth_smallest, pia
from .thresholds import (UniversalThreshold, ciou_sweep, f_optimal_threshold, map_extrema, pia_sweep,
                         threshold_from_negative_maxima)

__all__ = [
    # policies and selection
    "Policy", "RANK_POLICIES", "SUCCESS_THRESHOLDS", "CPU_BACKEND", "PolicyScores", "minmax_normalize",
    "kth_smallest", "adaptive_ranks", "apply_policy", "binarize",
    # localisation
    "ciou_per_policy", "ciou", "success_curve", "localization_summary", "interactive_summary", "pointing_hits",
    # negative audio
    "pia", "auc_n", "binary_map_iou", "harmonic_mean", "negative_f_scores",
    # threshold sweeps and universal thresholds
    "ciou_sweep", "pia_sweep", "map_extrema", "UniversalThreshold", "threshold_from_negative_maxima",
    "f_optimal_threshold",
    # extended sets
    "map_confidence", "PRCurve", "detection_pr_curve", "extended_summary",
    # collapse diagnostics
    "both_found", "pair_correlation", "object_preference", "max_beats", "collapse_summary",
    # embeddings
    "embedding_geometry", "retrieval_recall",
]

# Settings the fast path reads at call time live in the module that reads them. They are attributes of this package
# too, read and written through, so that ``sslsan.metrics.CPU_BACKEND = "torch"`` reaches the code it steers. The
# private ones are the hooks tests patch: the chunk size, the kernel loader, and the torch path's building blocks.
_FORWARDED: dict[str, ModuleType] = {
    "CPU_BACKEND": selection, "_load_kernels": selection, "_select": selection, "_kept": selection,
    "_ciou_from_mask": selection, "_CHUNK_PIXELS": _common,
}


def _read_through(name: str, home: ModuleType) -> property:
    # A property (a data descriptor), not __getattr__/__setattr__: setting it can never leave a stale copy here.
    return property(lambda _: getattr(home, name), lambda _, value: setattr(home, name, value),
                    doc=f"``{home.__name__}.{name}``, read and written through")


class _MetricsPackage(ModuleType):
    """The type of this package's module object: the attributes named in ``_FORWARDED`` live in their own module."""

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_FORWARDED})


for _name, _home in _FORWARDED.items():
    setattr(_MetricsPackage, _name, _read_through(_name, _home))
del _name, _home
sys.modules[__name__].__class__ = _MetricsPackage
