"""Extended test sets (SLAVC, Mo & Morgado, NeurIPS 2022): positives and negatives mixed, scored as detection.

Each sample gets a *confidence* (:func:`map_confidence`); a detector that says "a source is here" above a confidence
``c`` is scored by precision and recall over the set (:func:`detection_pr_curve`), summarised as AP and max-F1
(:func:`extended_summary`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from ._common import check_maps, check_vector, row_chunks
from .definitions import harmonic_mean

__all__ = ["map_confidence", "PRCurve", "detection_pr_curve", "extended_summary"]


def map_confidence(maps: Tensor, score_range: tuple[float, float] = (-1.0, 1.0), top_fraction: float = 0.25) -> Tensor:
    """SLAVC's per-sample confidence: the mean of the top ``⌈top_fraction·H·W⌉`` map values, rescaled from a *fixed*
    range to [0, 1] (``(s − lo) / (hi − lo)``), so that confidences compare across samples (float64, N).

    ``score_range``: the range the model's scores can take — cosine maps (−1, 1) (SLAVC's ±1/τ for cos/τ maps is the
    same rescaling), ``(cos + 1)/2`` maps (0, 1). SLAVC: ``np.sort(scores)[-n//4:].mean()``.
    """
    flat = check_maps(maps).reshape(maps.shape[0], -1)
    low, high = score_range
    if not high > low:
        raise ValueError(f"score_range must be (low, high) with high > low, got {score_range}")
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must lie in (0, 1], got {top_fraction}")
    count = math.ceil(top_fraction * flat.shape[1])
    top = torch.cat([flat[rows].topk(count, dim=1, sorted=False).values.double().mean(dim=1)
                     for rows in row_chunks(*flat.shape)])
    return (top - low) / (high - low)


class PRCurve(NamedTuple):
    """Precision and recall at every distinct confidence threshold, highest threshold first."""

    thresholds: Tensor
    precision: Tensor
    recall: Tensor


def detection_pr_curve(confidences: Tensor, cious: Tensor, has_source: Tensor, ciou_threshold: float = 0.5) -> PRCurve:
    """SLAVC's precision/recall on an extended set (positives and negatives), at every distinct confidence ``c``.

    A sample is *detected* when ``confidence ≥ c``. Detected positives (``has_source``) with cIoU ≥ ``ciou_threshold``
    are TP, other detections (mislocalised positives and every detected negative) are FP, undetected positives FN.
    Precision = TP/(TP+FP), recall = TP/(TP+FN), each 1 when its denominator is 0 (SLAVC's convention). A mislocalised
    positive counts as FN while undetected and as FP once detected, so this is not a binary ranking problem unless every
    positive has cIoU ≥ ``ciou_threshold``. Recall never decreases as ``c`` decreases.
    """
    confidences = check_vector(confidences, "confidences").double()
    n = confidences.numel()
    cious = check_vector(cious, "cious", n, confidences.device).double()
    has_source = check_vector(has_source, "has_source", n, confidences.device).bool()
    order = torch.argsort(confidences, descending=True, stable=True)
    sorted_conf = confidences[order]
    positive = has_source[order]
    good = positive & (cious[order] >= ciou_threshold)
    tp = torch.cumsum(good.double(), 0)
    fp = torch.arange(1, n + 1, device=tp.device, dtype=torch.float64) - tp
    fn = positive.sum().double() - torch.cumsum(positive.double(), 0)
    # Tied confidences are one threshold: keep the last position of every run.
    last = torch.ones(n, dtype=torch.bool, device=tp.device)
    last[:-1] = sorted_conf[1:] != sorted_conf[:-1]
    tp, fp, fn = tp[last], fp[last], fn[last]
    precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp(min=1), 1.0)
    recall = torch.where(tp + fn > 0, tp / (tp + fn).clamp(min=1), 1.0)
    return PRCurve(sorted_conf[last], precision, recall)


def extended_summary(confidences: Tensor, cious: Tensor, has_source: Tensor, ciou_threshold: float = 0.5,
                     interpolated: bool = True) -> dict[str, float]:
    """``{"ap", "max_f1", "f1_threshold"}`` on an extended set (SLAVC, Mo & Morgado 2022).

    AP = Σ_i (R_i − R_{i−1})·P̃_i over the distinct confidence thresholds (highest first, R_{−1} = 0), with P̃ the
    interpolated precision envelope ``max_{j ≥ i} P_j`` (``interpolated=False``: P̃ = P, which equals
    ``sklearn.metrics.average_precision_score(has_source, confidences)`` when every positive has cIoU ≥ 0.5).
    max-F1 = max over the same thresholds of 2PR/(P+R). SLAVC's code sweeps ~200 sub-sampled thresholds (skipping the
    top one, without the R = 0 start) and takes F1 at confidence deciles only; sweeping every threshold gives the
    exact curve, so our AP and max-F1 can differ slightly (max-F1 never lower).
    """
    curve = detection_pr_curve(confidences, cious, has_source, ciou_threshold)
    precision = curve.precision
    if interpolated:
        precision = torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])
    gain = torch.diff(curve.recall, prepend=torch.zeros(1, dtype=torch.float64, device=precision.device))
    f1 = harmonic_mean(curve.precision, curve.recall)
    best = int(torch.argmax(f1))
    return {"ap": float((gain * precision).sum()), "max_f1": float(f1[best]),
            "f1_threshold": float(curve.thresholds[best])}
