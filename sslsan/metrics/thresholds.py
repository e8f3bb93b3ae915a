"""Absolute thresholds: cIoU / pIA at many thresholds in one pass, and universal thresholds fitted on validation maps.

A *universal* threshold is one absolute value, fitted once on validation maps and then fixed for every test set
(Juanola et al., ICASSP 2025, arXiv 2410.01020): either from the maxima of negative-audio maps, or the value that
best balances localisation (cIoU of positive maps) against rejection (1 − pIA of negative maps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ._common import check_like, check_maps, check_vector, row_chunks
from .definitions import ciou_from_sums, harmonic_mean

__all__ = ["ciou_sweep", "pia_sweep", "map_extrema", "UniversalThreshold", "threshold_from_negative_maxima",
           "f_optimal_threshold"]


# ----------------------------------------------------------------------------------------------- threshold sweeps


def _sums_above(maps: Tensor, thresholds: Tensor, weights: Sequence[Tensor | None]) -> list[Tensor]:
    """For each threshold τ_j: Σ over pixels with value > τ_j of each weight map (None = pixel count). N×T each.

    One pass: ``bucketize`` gives each pixel the number of thresholds strictly below it; a histogram of those
    indices, summed from the top, gives every threshold's sum at once.
    """
    n, pixels = maps.shape[0], maps[0].numel()
    sorted_t, order = torch.sort(thresholds)
    slots = sorted_t.numel() + 1
    out = [[] for _ in weights]
    flat = maps.reshape(n, -1)
    for rows in row_chunks(n, pixels):
        chunk = flat[rows]
        index = torch.bucketize(chunk, sorted_t)  # #thresholds < value: the pixel is above τ_j iff j < index
        index += torch.arange(chunk.shape[0], device=chunk.device)[:, None] * slots
        for k, weight in enumerate(weights):
            w = None if weight is None else weight.reshape(n, -1)[rows].reshape(-1).double()
            hist = torch.bincount(index.reshape(-1), weights=w, minlength=chunk.shape[0] * slots)
            hist = hist.view(chunk.shape[0], slots).double()
            above = hist.sum(dim=1, keepdim=True) - hist.cumsum(dim=1)[:, :-1]
            out[k].append(torch.empty_like(above).scatter_(1, order.expand_as(above), above))
    return [torch.cat(parts) for parts in out]


def ciou_sweep(maps: Tensor, gt: Tensor, thresholds) -> Tensor:
    """cIoU of every sample at every absolute threshold (strictly above): N×T float64, in the given threshold order.

    Same numbers as ``ciou(maps, gt, τ)`` for each τ, in one pass over the maps (used to fit F-optimal thresholds and
    to draw cIoU-vs-threshold curves). ``thresholds``: T values, cast to the maps' dtype.
    """
    maps = check_maps(maps)
    gt = check_like(gt, maps, "gt")
    thresholds = check_vector(thresholds, "thresholds", device=maps.device).to(maps.dtype)
    on_gt = (gt > 0).to(maps.dtype)
    kept, intersection, kept_on_gt = _sums_above(maps, thresholds, [None, gt, on_gt])
    return ciou_from_sums(intersection, gt.reshape(gt.shape[0], -1).sum(dim=1, dtype=torch.float64)[:, None],
                          kept - kept_on_gt)


def pia_sweep(maps: Tensor, thresholds) -> Tensor:
    """pIA of every sample at every absolute threshold: N×T float64 (see :func:`sslsan.metrics.pia`)."""
    maps = check_maps(maps)
    thresholds = check_vector(thresholds, "thresholds", device=maps.device).to(maps.dtype)
    (kept,) = _sums_above(maps, thresholds, [None])
    return kept / maps[0].numel()


# ----------------------------------------------------------------------------------------------- universal thresholds


def map_extrema(maps: Tensor) -> dict[str, Tensor]:
    """Per-sample ``{"max", "min"}`` of the raw maps (N each): the quantities behind the companion paper's analysis
    of positive vs negative map ranges and its universal thresholds."""
    flat = check_maps(maps).reshape(maps.shape[0], -1)
    return {"max": flat.amax(dim=1), "min": flat.amin(dim=1)}


@dataclass(frozen=True)
class UniversalThreshold:
    """A single absolute threshold fitted on validation maps and then fixed for every test set."""

    statistic: str              #: how it was fitted, e.g. ``"q0.75(negative maxima)"`` or ``"f_optimal"``
    value: float                #: the threshold (on the raw map scale)
    n: int                      #: validation maps it was fitted on
    score: float | None = None  #: the objective at ``value`` when fitting optimised one (F for ``f_optimal``)


def threshold_from_negative_maxima(negative_maxima: Tensor, quantile: float = 0.75) -> UniversalThreshold:
    """A universal threshold from the per-sample maxima of *negative-audio* validation maps.

    With threshold τ, a negative map is empty (pIA = 0) iff its maximum ≤ τ, so the ``q`` quantile of negative
    maxima empties a fraction ``q`` of negative maps: ``quantile=0.75`` (default) is the third quartile (our reading of
    the companion code's ``th_maxq3``), ``quantile=1.0`` the max of negative maxima (every validation negative empty).
    Linear interpolation between order statistics (``torch.quantile``, numpy's default). Pass maxima of all negative
    types pooled, or of one type. The companion code hard-codes per-model values whose derivation is unpublished.
    """
    maxima = check_vector(negative_maxima, "negative_maxima").double()
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], got {quantile}")
    name = "max(negative maxima)" if quantile == 1.0 else f"q{quantile:g}(negative maxima)"
    return UniversalThreshold(name, float(torch.quantile(maxima, quantile)), maxima.numel())


def f_optimal_threshold(positive_maps: Tensor, gt: Tensor, negative_maps: Tensor,
                        candidates=None) -> UniversalThreshold:
    """The candidate threshold τ that maximises F(mean_i cIoU_i(τ), 1 − mean_j pIA_j(τ)) on validation maps.

    The harmonic mean balances localising the sounding object in positive maps against leaving negative maps empty
    (the companion paper's ``F_Pos_Neg``, here used to *choose* the threshold). ``candidates``: thresholds to try;
    by default 256 evenly spaced values spanning all validation map values. Ties go to the lowest threshold.
    """
    positive_maps = check_maps(positive_maps, "positive_maps")
    negative_maps = check_maps(negative_maps, "negative_maps").to(positive_maps.device, positive_maps.dtype)
    if candidates is None:
        low = min(float(positive_maps.amin()), float(negative_maps.amin()))
        high = max(float(positive_maps.amax()), float(negative_maps.amax()))
        candidates = torch.linspace(low, high, 256, dtype=torch.float64)
    candidates = check_vector(candidates, "candidates", device=positive_maps.device).to(positive_maps.dtype)
    localisation = ciou_sweep(positive_maps, gt, candidates).mean(dim=0)
    rejection = 1.0 - pia_sweep(negative_maps, candidates).mean(dim=0)
    f = harmonic_mean(localisation, rejection)
    best = int(torch.argmax(f))  # first maximum = lowest threshold among ties
    return UniversalThreshold("f_optimal", float(candidates[best]), positive_maps.shape[0] + negative_maps.shape[0],
                              float(f[best]))
