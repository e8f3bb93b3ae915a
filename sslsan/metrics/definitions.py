"""The metrics as the book defines them: small, sort-based, one function per formula.

Read this module next to the book. Every function works on torch tensors batched over ``N`` samples, with
localisation maps already upsampled to the image (``N×H×W``); per-sample results are float64 (so that they compare
exactly with the lineage's numpy code), summaries are dicts of Python floats (fractions, not percentages).

One pipeline for every thresholded metric::

    map ──policy──▶ (scores, per-sample threshold) ──▶ binary map B = [scores > threshold] ──▶ cIoU / pIA / map IoU

A *policy* says how a map becomes a binary prediction (:func:`apply_policy`):

``"median"``
    The protocol of LVS / EZ-VSL / SSL-Align: min-max normalise each map, keep the pixels strictly above the value at
    sorted index ``H·W // 2`` (about half the image; a constant map keeps nothing).
``"adaptive"``
    SSL-Align's adaptive cIoU: keep the pixels strictly above the k-th largest normalised value, ``k`` = GT area
    (:func:`adaptive_ranks`: ties, consensus maps, empty GT).
a float, or a tensor of ``N`` floats
    An absolute threshold on the raw map (strictly above), e.g. 0.5 or a universal threshold fitted on validation maps.

Conventions kept exactly from the literature: strict ``>`` when binarising; success-rate curves at ``t = 0.05·i,
i = 0…20`` integrated with the trapezoidal rule (``sklearn.metrics.auc``).

Where a metric has a faster route (rank selection instead of a sort, numba kernels, chunking), the public
``sslsan.metrics`` function is that route and this module holds the definition it is tested equal to
(``tests/test_metrics_definitions.py``): :func:`apply_policy`, :func:`binarize`, :func:`ciou` and :func:`pia` here are
the references of ``sslsan.metrics.apply_policy``, ``binarize``, ``ciou`` / ``ciou_per_policy`` / ``ciou_sweep`` and
``pia`` / ``pia_sweep``. The other functions here *are* the public ones.

References: Senocak et al., CVPR 2018 (cIoU, consensus maps); Chen et al., CVPR 2021 (LVS, AUC protocol); Senocak et
al., ICCV 2023 (SSL-Align: adaptive cIoU, IIoU/IAUC); Juanola et al., ICASSP 2025, arXiv 2410.01020 (negative audio:
pIA, AUC_N, map IoU, F-scores).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor

from ._common import (RANK_POLICIES, Policy, check_like, check_maps, check_policies, check_vector, group_codes,
                      raise_if_non_finite)

__all__ = ["Policy", "RANK_POLICIES", "SUCCESS_THRESHOLDS", "PolicyScores", "minmax_normalize", "adaptive_ranks",
           "apply_policy", "binarize", "ciou", "pia", "success_curve", "localization_summary", "interactive_summary",
           "auc_n", "harmonic_mean", "negative_f_scores", "binary_map_iou", "pointing_hits"]

#: ``t = 0, 0.05, …, 1`` computed as ``0.05 * i``: bit-for-bit the lineage's ``[0.05 * i for i in range(21)]`` and
#: ``np.linspace(0, 1, 21)``. (``torch.linspace`` differs in the last bit at t = 0.55, 0.6, 0.7, 0.85, 0.95, which
#: would flip ``cIoU ≥ t`` for a cIoU of exactly 3/5.)
SUCCESS_THRESHOLDS: tuple[float, ...] = tuple(0.05 * i for i in range(21))


class PolicyScores(NamedTuple):
    """What a policy compares: keep ``scores > threshold[:, None]``."""

    scores: Tensor     #: N×(H·W): the min-max normalised map for rank policies, the raw map otherwise
    threshold: Tensor  #: N: per-sample threshold on the scale of ``scores``


# ----------------------------------------------------------------------------------------------- policies


def minmax_normalize(maps: Tensor) -> Tensor:
    """Per-sample min-max normalisation to [0, 1]: ``(S − min S) / (max S − min S)``.

    ``maps``: N×… (every dim after the first belongs to one sample). A constant map becomes all zeros (the lineage's
    ``normalize_img`` leaves it unchanged; either way no pixel lies strictly above its threshold). The arithmetic is
    the lineage's, operation for operation, so rounding — and hence ties — are identical to theirs.
    """
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    raise_if_non_finite(~torch.isfinite(span))
    span = torch.where(span > 0, span, torch.ones_like(span))
    return (flat - low).div_(span).reshape(maps.shape)


def median_rank(pixels: int) -> int:
    """Sorted index of the median policy's threshold: ``H·W // 2``."""
    return pixels // 2


def adaptive_rank_from_area(gt_area: Tensor, pixels: int) -> Tensor:
    """Sorted index of the adaptive threshold, ``H·W − k``, from ``gt_area`` = k (N pixel counts, any dtype).

    Empty GT (k = 0) uses ``k = H·W // 2``, the companion code's fallback: the adaptive threshold is then the
    median one.
    """
    area = gt_area.round().long()  # a float sum of 0/1 values is an exact integer below 2**24 pixels
    return pixels - torch.where(area > 0, area, torch.full_like(area, pixels // 2))


def adaptive_ranks(gt: Tensor) -> Tensor:
    """Sorted index of the adaptive threshold for each sample: ``H·W − k``, ``k`` = number of pixels with GT > 0.

    - Consensus maps (Flickr-SoundNet: 0.5 where one annotator of three marked the pixel) count every pixel with
      GT > 0, i.e. the area any annotator marked (the lineage's ``|gt > 0|``), not ΣGT.
    - Empty GT: ``k = H·W // 2``, the companion code's fallback, so the adaptive threshold equals the median one.
    - The threshold is the k-th largest value and pixels *strictly above* it are kept: ``k − 1`` pixels when values
      are distinct (the lineage's off-by-one, kept for comparable numbers), fewer when values tie at the threshold.
    """
    flat = gt.reshape(gt.shape[0], -1)
    return adaptive_rank_from_area((flat > 0).sum(dim=1), flat.shape[1])


def absolute_thresholds(policy, n: int, like: Tensor) -> Tensor:
    """An absolute policy (a float or N floats) as N thresholds in the maps' dtype, as numpy and torch compare."""
    threshold = torch.as_tensor(policy, device=like.device).to(like.dtype)
    return threshold.expand(n) if threshold.dim() == 0 else threshold


def apply_policy(maps: Tensor, policy: Policy, gt: Tensor | None = None) -> PolicyScores:
    """The scores a policy compares and its per-sample threshold (``maps``, ``gt``: N×H×W; gt for "adaptive").

    Rank policies: scores = min-max normalised map, threshold = ``sort(scores)[rank]`` with rank ``H·W // 2``
    (median) or :func:`adaptive_ranks`. Absolute policies: scores = the raw map, threshold = the given value(s).
    """
    maps = check_maps(maps)
    check_policies([policy], maps.shape[0], gt is not None)
    flat = maps.reshape(maps.shape[0], -1)
    if not isinstance(policy, str):
        return PolicyScores(flat, absolute_thresholds(policy, flat.shape[0], flat))
    scores = minmax_normalize(flat)
    if policy == "median":
        ranks = torch.full((flat.shape[0],), median_rank(flat.shape[1]), device=flat.device)
    else:
        ranks = adaptive_ranks(check_like(gt, maps, "gt")).to(flat.device)
    threshold = torch.sort(scores, dim=1).values.gather(1, ranks[:, None])[:, 0]
    return PolicyScores(scores, threshold)


def binarize(maps: Tensor, policy: Policy, gt: Tensor | None = None) -> Tensor:
    """Binary prediction ``B = scores > threshold`` (N×H×W bool) under a threshold policy."""
    scores, threshold = apply_policy(maps, policy, gt)
    return (scores > threshold[:, None]).reshape(maps.shape)


# ----------------------------------------------------------------------------------------------- localisation


def ciou_from_sums(intersection: Tensor, gt_total: Tensor, false_positive: Tensor) -> Tensor:
    """cIoU = Σ(B·G) / (ΣG + Σ(B·[G = 0])) from its three sums (float64, broadcastable).

    0/0 (no GT and nothing predicted) gives 0, as in the companion code (NaN → 0): nothing was localised.
    """
    denominator = gt_total + false_positive
    return torch.where(denominator > 0, intersection / torch.where(denominator > 0, denominator, 1.0), 0.0)


def ciou(maps: Tensor, gt: Tensor, policy: Policy) -> Tensor:
    """Per-sample cIoU (float64, N) of ``maps`` (N×H×W raw scores) against ``gt`` (N×H×W in [0, 1]).

    cIoU = Σ(B·G) / (ΣG + Σ(B·[G = 0])) (Senocak et al. 2018), ``B`` = :func:`binarize` (maps, policy), ``G`` the GT:
    binary, or the Flickr consensus map with 0.5 pixels. A pixel predicted off the object costs a full pixel; a
    predicted consensus pixel earns its GT value.
    """
    maps = check_maps(maps)
    g = check_like(gt, maps, "gt").reshape(maps.shape[0], -1).double()
    b = binarize(maps, policy, gt).reshape(maps.shape[0], -1).double()
    return ciou_from_sums((b * g).sum(dim=1), g.sum(dim=1), (b * (g == 0)).sum(dim=1))


def success_curve(values: Tensor, at_least: bool = True) -> Tensor:
    """Fraction of samples with ``value ≥ t`` (``value ≤ t`` when ``at_least`` is False) at t = 0.05·i, i = 0…20.

    ``values``: N per-sample scores (cIoU, or pIA with ``at_least=False``). Returns 21 float64 rates.
    """
    values = check_vector(values, "values").double()
    t = torch.tensor(SUCCESS_THRESHOLDS, dtype=torch.float64, device=values.device)
    hits = values[:, None] >= t if at_least else values[:, None] <= t
    return hits.double().mean(dim=0)


def area_under_success(values: Tensor, at_least: bool = True) -> float:
    """Trapezoidal area under :func:`success_curve` over t ∈ [0, 1], as ``sklearn.metrics.auc`` computes it:
    Σ_i (t_{i+1} − t_i)·(r_i + r_{i+1})/2."""
    rates = success_curve(values, at_least)
    t = torch.tensor(SUCCESS_THRESHOLDS, dtype=torch.float64, device=rates.device)
    return float((torch.diff(t) * (rates[1:] + rates[:-1]) / 2.0).sum())


def localization_summary(cious: Tensor) -> dict[str, float]:
    """``{"ciou@0.5", "mean_ciou", "auc"}`` of N per-sample cIoUs, as fractions.

    ``ciou@0.5`` = mean(cIoU ≥ 0.5) — the number papers call "cIoU"; ``auc`` = trapezoidal area under the success
    rate mean(cIoU ≥ t) over t = 0, 0.05, …, 1 (Chen et al. 2021).
    """
    cious = check_vector(cious, "cious").double()
    return {
        "ciou@0.5": float((cious >= 0.5).double().mean()),
        "mean_ciou": float(cious.mean()),
        "auc": area_under_success(cious),
    }


def group_min(values: Tensor, codes: Tensor, groups: int) -> Tensor:
    """Per group 0…G−1, the minimum of ``values`` over the samples with that code (float G)."""
    start = torch.full((groups,), math.inf, dtype=values.dtype, device=values.device)
    return start.scatter_reduce(0, codes, values, reduce="amin")


def interactive_summary(cious: Tensor, image_ids) -> dict[str, float]:
    """``{"iiou", "iauc"}``: SSL-Align's interactive metrics (IS3, Senocak et al. 2023).

    An image succeeds at ``t`` only if *every* query of that image (one per object/audio) reaches cIoU ≥ t, i.e. its
    minimum cIoU does. IIoU = success rate at t = 0.5; IAUC = area under the success rate over t = 0, 0.05, …, 1.
    ``cious``: N; ``image_ids``: N strings or an int tensor naming each query's image.
    """
    cious = check_vector(cious, "cious").double()
    codes, groups = group_codes(image_ids, cious.numel(), cious.device)
    worst = group_min(cious, codes, groups)
    return {"iiou": float((worst >= 0.5).double().mean()), "iauc": area_under_success(worst)}


def pointing_hits(maps: Tensor, gt: Tensor) -> Tensor:
    """Pointing game: whether each map's maximum (``argmax``: the first pixel in row-major order on ties) lies in
    GT > 0. ``maps``, ``gt``: N×H×W. Bool N."""
    maps = check_maps(maps)
    gt = check_like(gt, maps, "gt")
    peak = maps.reshape(maps.shape[0], -1).argmax(dim=1, keepdim=True)
    return gt.reshape(gt.shape[0], -1).gather(1, peak)[:, 0] > 0


# ----------------------------------------------------------------------------------------------- negative audio


def pia(maps: Tensor, threshold) -> Tensor:
    """Percentage of Image Area (as a fraction): pIA = Σ[S > τ] / (H·W), per sample (float64 N).

    ``maps``: N×H×W raw scores (a negative-audio map should be empty: pIA = 0 is ideal); ``threshold`` τ: a float or
    N floats, compared strictly, in the maps' dtype. Juanola et al., ICASSP 2025.
    """
    if isinstance(threshold, str):
        raise ValueError("pia needs an absolute threshold (a float or N floats), not a rank policy")
    kept = binarize(maps, threshold)
    return kept.reshape(kept.shape[0], -1).sum(dim=1).double() / kept[0].numel()


def auc_n(pias: Tensor) -> float:
    """AUC_N: trapezoidal area under the fraction of negative samples with pIA ≤ t, t = 0, 0.05, …, 1 (ideal 1).

    ``pias``: N per-sample pIAs. Named ``AOC`` in the companion code (``compute_AUC_pIA``); Juanola et al., ICASSP 2025.
    """
    return area_under_success(check_vector(pias, "pias").double(), at_least=False)


def binary_map_iou(first: Tensor, second: Tensor) -> Tensor:
    """IoU = |A ∩ B| / |A ∪ B| between two binarised maps of the same images (N×H×W, e.g. positive vs silence),
    float64 N.

    Companion-code convention: both empty → 1 (the model "agrees" with itself), one empty → 0. A high IoU between the
    positive and a negative map means the map ignores the audio.
    """
    if first.shape != second.shape or first.dim() != 3:
        raise ValueError(f"both maps must be N×H×W of one shape, got {tuple(first.shape)} and {tuple(second.shape)}")
    a, b = first.reshape(first.shape[0], -1).bool(), second.reshape(second.shape[0], -1).to(first.device).bool()
    intersection = (a & b).sum(dim=1).double()
    union = (a | b).sum(dim=1).double()
    return torch.where(union > 0, intersection / union.clamp(min=1), 1.0)


def harmonic_mean(a, b):
    """F = 2ab / (a + b), the companion code's ``compute_f``; 0 where a + b = 0 (their code would give NaN).

    Floats give a float, tensors a float64 tensor.
    """
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    total = a + b
    f = torch.where(total != 0, 2 * a * b / torch.where(total != 0, total, 1.0), 0.0)
    return float(f) if f.dim() == 0 else f


def negative_f_scores(cious: Tensor, pias: Mapping[str, Tensor]) -> dict[str, dict[str, float]]:
    """The companion paper's trade-off F-scores, per negative type and pooled.

    ``cious``: positive per-sample cIoUs; ``pias``: negative type → per-sample pIAs, all under the same threshold.
    For each type: ``f_loc = F(mean cIoU, 1 − mean pIA)`` and ``f_auc = F(AUC, AUC_N)``; ``"pooled"`` uses the mean
    over types of ``1 − mean pIA`` and of ``AUC_N`` (as ``F_Pos_Neg`` / ``F_AUC_AOC_Pos_Neg``). F is the harmonic mean.
    """
    if not pias:
        raise ValueError("pias must name at least one negative type")
    positive = localization_summary(cious)
    rejection = {name: 1.0 - float(check_vector(p, f"pias[{name!r}]").double().mean()) for name, p in pias.items()}
    area = {name: auc_n(p) for name, p in pias.items()}
    scores = {name: {"f_loc": harmonic_mean(positive["mean_ciou"], rejection[name]),
                     "f_auc": harmonic_mean(positive["auc"], area[name])} for name in pias}
    scores["pooled"] = {
        "f_loc": harmonic_mean(positive["mean_ciou"], sum(rejection.values()) / len(rejection)),
        "f_auc": harmonic_mean(positive["auc"], sum(area.values()) / len(area)),
    }
    return scores
