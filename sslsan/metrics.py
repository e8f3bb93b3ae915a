"""Metrics: localisation, negative audio, universal thresholds, extended sets, collapse, embeddings.

Everything here works on torch tensors on any device, batched over ``N`` samples, with localisation maps already
upsampled to the image (``N×H×W``). Results are per-sample tensors (float64 for ratios, so that they compare exactly
with the lineage's numpy code) and summaries are small dicts of Python floats (fractions, not percentages).

One pipeline for every thresholded metric::

    map ──policy──▶ (scores, per-sample threshold) ──▶ binary map (scores > threshold) ──▶ cIoU / pIA / map IoU

A *policy* says how a map becomes a binary prediction (:func:`apply_policy`):

``"median"``
    The legacy protocol of LVS / EZ-VSL / SSL-Align: min-max normalise each map, keep the pixels strictly above the
    value at sorted index ``H·W // 2`` (about half the image; a constant map keeps nothing).
``"adaptive"``
    SSL-Align's adaptive cIoU: keep the pixels strictly above the k-th largest value, ``k`` = GT area
    (see :func:`adaptive_ranks` for ties, consensus maps and empty GT).
a float, or a tensor of ``N`` floats
    An absolute threshold on the raw map (strictly above), e.g. 0.5 or a universal threshold fitted on validation
    maps (:func:`threshold_from_negative_maxima`, :func:`f_optimal_threshold`).

Conventions kept exactly from the literature: strict ``>`` when binarising; cIoU = Σ(B·G) / (ΣG + Σ(B·[G = 0]))
(Senocak et al. 2018); success-rate curves at ``t = 0.05·i, i = 0…20`` integrated with the trapezoidal rule
(``sklearn.metrics.auc``), success meaning ``cIoU ≥ t`` (pIA: ``pIA ≤ t``).

Rank thresholds are found by selection, not sorting: :func:`kth_smallest` buckets the values, counts the buckets and
sorts only the few values of the bucket that holds the wanted rank. It is exact (ties included).

Two implementations, one set of numbers (``tests/test_metrics.py`` checks both against the same numpy references):

- **torch** (any device): whole-chunk tensor operations; always used for CUDA and other devices.
- **numba** (CPU, float32/float64): fused per-sample kernels in :mod:`sslsan._metrics_cpu` (selection and counting
  in a few cache-resident passes, blocks of samples spread over ``torch.get_num_threads()`` threads), several times
  faster than torch on a CPU. Used for :func:`ciou_per_policy` (hence :func:`ciou`), :func:`pia`,
  :func:`kth_smallest` and the rank thresholds of :func:`apply_policy` / :func:`binarize`. The first call in a fresh
  environment compiles them (~15 s per dtype); numba caches the machine code on disk (``sslsan/__pycache__``), so a
  later process only pays ~2 s (importing numba, loading the cache).

:data:`CPU_BACKEND` picks the CPU implementation. Only a failure to *import numba* (``ImportError``: not installed, or
an installation numba itself rejects) makes ``"auto"`` fall back to torch; any other error propagates.

References: Senocak et al., CVPR 2018 (cIoU, consensus maps); Chen et al., CVPR 2021 (LVS, AUC protocol); Mo & Morgado,
NeurIPS 2022 (SLAVC: extended sets, AP, max-F1); Senocak et al., ICCV 2023 (SSL-Align: adaptive cIoU, IIoU/IAUC, IS3);
Juanola et al., ICASSP 2025, arXiv 2410.01020 (negative audio: pIA, AUC_N, map IoU, F-scores, universal thresholds);
Juanola et al., BMVC 2025, arXiv 2508.21761 (SSL-SaN: Magnitude / Alignment / Separability±, retrieval).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple, Union

import numpy as np
import torch
from torch import Tensor

#: A threshold policy: ``"median"``, ``"adaptive"``, an absolute float, or ``N`` per-sample absolute thresholds.
Policy = Union[str, float, Tensor]
RANK_POLICIES = ("median", "adaptive")

#: ``t = 0, 0.05, …, 1`` computed as ``0.05 * i``: bit-for-bit the lineage's ``[0.05 * i for i in range(21)]`` and
#: ``np.linspace(0, 1, 21)``. (``torch.linspace`` differs in the last bit at t = 0.55, 0.6, 0.7, 0.85, 0.95, which
#: would flip ``cIoU ≥ t`` for a cIoU of exactly 3/5.)
SUCCESS_THRESHOLDS: tuple[float, ...] = tuple(0.05 * i for i in range(21))

# Bucket select: 2**12 buckets over [0, 1] leave ~12 pixels per bucket on a 224×224 map.
_BUCKET_BITS = 12
_NUM_BUCKETS = (1 << _BUCKET_BITS) + 1  # the extra bucket holds the value 1.0 exactly
# Work on ~1M pixels at a time (~20 maps of 224×224): bounded memory, and temporaries small enough to be reused.
_CHUNK_PIXELS = 1 << 20

#: Implementation for CPU tensors: ``"auto"`` (numba kernels when numba imports, else torch), ``"numba"`` (the kernels;
#: ImportError without numba) or ``"torch"``. Other devices always use torch. Set it to compare the two paths.
CPU_BACKEND = "auto"
_CPU_BACKENDS = ("auto", "numba", "torch")
_KERNEL_DTYPES = (torch.float32, torch.float64)


@functools.cache
def _load_kernels() -> tuple[ModuleType | None, ImportError | None]:
    """(the kernel module, None), or (None, the ImportError) when numba cannot be imported.

    Imported on first use, not with this module: importing numba takes seconds. Only numba's own import is guarded;
    any error in our kernel module propagates.
    """
    try:
        import numba  # noqa: F401
    except ImportError as error:
        return None, error
    from sslsan import _metrics_cpu
    return _metrics_cpu, None


def _kernels_for(tensor: Tensor) -> ModuleType | None:
    """The numba kernel module if ``tensor`` should take the CPU kernel path (see :data:`CPU_BACKEND`), else None."""
    if CPU_BACKEND not in _CPU_BACKENDS:
        raise ValueError(f"CPU_BACKEND must be one of {_CPU_BACKENDS}, got {CPU_BACKEND!r}")
    if CPU_BACKEND == "torch" or tensor.device.type != "cpu" or tensor.dtype not in _KERNEL_DTYPES:
        return None
    kernels, import_error = _load_kernels()
    if kernels is None:
        if CPU_BACKEND == "numba":
            raise ImportError("CPU_BACKEND is 'numba' but numba could not be imported") from import_error
        return None
    kernels.use_threads(torch.get_num_threads())  # one thread setting for both paths: torch's
    return kernels


def _to_numpy(tensor: Tensor) -> np.ndarray:
    """A C-contiguous numpy view (or copy, if not contiguous) of a CPU tensor, for the kernels."""
    return tensor.contiguous().numpy()


def _raise_if_non_finite(bad) -> None:
    if bool(bad.any()):
        raise ValueError("maps contain NaN or infinite values")


# ----------------------------------------------------------------------------------------------- input checks


def _check_maps(maps: Tensor, name: str = "maps") -> Tensor:
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(maps).__name__}")
    if maps.dim() != 3:
        raise ValueError(f"{name} must be N×H×W, got shape {tuple(maps.shape)}")
    if maps.shape[0] == 0 or maps.shape[1] * maps.shape[2] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(maps.shape)}")
    if not maps.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {maps.dtype}")
    if maps.dtype in (torch.float16, torch.bfloat16):
        maps = maps.float()
    return maps.detach()  # metrics are not differentiable


def _check_like(other: Tensor, maps: Tensor, name: str) -> Tensor:
    """``other`` (a GT or second map) must have the maps' shape; returned on their device in their dtype."""
    if not isinstance(other, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(other).__name__}")
    if other.shape != maps.shape:
        raise ValueError(f"{name} must have the maps' shape {tuple(maps.shape)}, got {tuple(other.shape)}")
    return other.detach().to(device=maps.device, dtype=maps.dtype)


def _check_vector(values, name: str, n: int | None = None, device=None) -> Tensor:
    values = torch.as_tensor(values, device=device)
    values = values.detach()
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(values.shape)}")
    if n is not None and values.numel() != n:
        raise ValueError(f"{name} must have {n} entries (one per sample), got {values.numel()}")
    return values


def _row_chunks(n: int, cost_per_row: int):
    """Row slices of about ``_CHUNK_PIXELS`` elements each (a Python loop over chunks, never over samples)."""
    step = max(1, _CHUNK_PIXELS // cost_per_row)
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _selection_chunks(n: int, pixels: int):
    # Bucket selection also holds a histogram of _NUM_BUCKETS counts per row (and int32 bucket ids that must not
    # overflow), so tiny maps get fewer rows per chunk.
    return _row_chunks(n, max(pixels, _NUM_BUCKETS))


def _group_codes(ids, n: int, device) -> tuple[Tensor, int]:
    """Integer codes 0…G-1 (in sorted id order) for ``n`` ids given as a list of str/int or an int tensor."""
    if isinstance(ids, Tensor):
        ids = _check_vector(ids, "image_ids", n)
        if ids.is_floating_point():
            raise ValueError("image_ids must be integers or strings, got a floating-point tensor")
        _, codes = torch.unique(ids, return_inverse=True)
        return codes.to(device), int(codes.max()) + 1
    ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"image_ids must have {n} entries (one per sample), got {len(ids)}")
    index = {key: code for code, key in enumerate(sorted(set(ids)))}
    return torch.tensor([index[key] for key in ids], device=device), len(index)


# ----------------------------------------------------------------------------------------------- selection


def minmax_normalize(maps: Tensor) -> Tensor:
    """Per-sample min-max normalisation to [0, 1]: ``(S − min S) / (max S − min S)``.

    ``maps``: N×… (every dim after the first belongs to one sample). A constant map becomes all zeros (the lineage's
    ``normalize_img`` leaves it unchanged; either way no pixel lies strictly above its threshold). The arithmetic is
    the lineage's, operation for operation, so rounding — and hence ties — are identical to theirs.
    """
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    _raise_if_non_finite(~torch.isfinite(span))
    span = torch.where(span > 0, span, torch.ones_like(span))
    return (flat - low).div_(span).reshape(maps.shape)


def _unit_bucket_ids(unit: Tensor, row_offset: Tensor) -> Tensor:
    """int32 bucket ids of values in [0, 1], non-decreasing in the value, offset per row.

    For ``u`` in [0, 1], ``1 + u`` is a float32 in [1, 2]: its bit pattern is a fixed exponent followed by the
    mantissa, so the top mantissa bits are an order-preserving bucket index (``u = 1`` gets the extra last bucket).
    """
    shift = 23 - _BUCKET_BITS
    ids = (unit.to(torch.float32) + 1.0).view(torch.int32)  # one new tensor, then in place
    ids >>= shift
    ids += row_offset - (0x3F800000 >> shift)
    return ids


def _select(values: Tensor, unit: Tensor, ranks: Tensor) -> Tensor:
    """k-th smallest of each row of ``values`` (N×M) at the 0-based ``ranks`` (N×R), exactly.

    ``unit`` is any non-decreasing image of ``values`` into [0, 1] (values itself when already normalised): it only
    decides the buckets. Buckets are ordered like the values, so counting them tells which bucket holds each rank
    and how many values lie below it; only that bucket's values are then sorted.
    """
    n, _ = values.shape
    ranks = ranks.contiguous()
    row_offset = torch.arange(n, device=values.device, dtype=torch.int32)[:, None] * _NUM_BUCKETS
    ids = _unit_bucket_ids(unit, row_offset)                                       # N×M, global bucket ids
    counts = torch.bincount(ids.reshape(-1), minlength=n * _NUM_BUCKETS).view(n, _NUM_BUCKETS)
    cumulative = counts.cumsum(dim=1)
    bucket = torch.searchsorted(cumulative, ranks, right=True)                     # N×R: first bucket past the rank
    below = cumulative.gather(1, bucket) - counts.gather(1, bucket)                # values in lower buckets
    target = (bucket + row_offset).to(torch.int32)
    in_target = ids == target[:, :1]
    for column in range(1, target.shape[1]):
        in_target |= ids == target[:, column:column + 1]
    where = in_target.reshape(-1).nonzero().squeeze(1)
    candidates, candidate_ids = values.reshape(-1)[where], ids.reshape(-1)[where]
    # Sort the candidates by (bucket, value): two stable sorts of a few values per row.
    order = torch.argsort(candidates, stable=True)
    order = order[torch.argsort(candidate_ids[order], stable=True)]
    candidates, candidate_ids = candidates[order], candidate_ids[order]
    first = torch.searchsorted(candidate_ids, target)
    return candidates[first + (ranks - below)]


def kth_smallest(values: Tensor, ranks) -> Tensor:
    """Exact per-sample order statistic: the value at 0-based index ``ranks`` of each sorted sample.

    ``values``: N×… real, finite; ``ranks``: an int, N ints, or N×R ints (several ranks per sample).
    Returns N (or N×R) values, equal to ``sort(values[i].flatten())[ranks[i]]`` — ties included — computed by
    bucket selection (linear time) instead of a full sort.
    """
    if not isinstance(values, Tensor) or values.dim() < 2:
        raise ValueError("values must be an N×… tensor with at least two dims")
    flat = values.detach().reshape(values.shape[0], -1)
    n, m = flat.shape
    ranks_t = torch.as_tensor(ranks, device=flat.device, dtype=torch.long)
    squeeze = ranks_t.dim() <= 1
    ranks_t = ranks_t.expand(n).unsqueeze(1) if ranks_t.dim() == 0 else ranks_t
    ranks_t = ranks_t.unsqueeze(1) if ranks_t.dim() == 1 else ranks_t
    if ranks_t.shape[0] != n:
        raise ValueError(f"ranks must have one row per sample ({n}), got shape {tuple(ranks_t.shape)}")
    if ranks_t.numel() and (int(ranks_t.min()) < 0 or int(ranks_t.max()) >= m):
        raise ValueError(f"ranks must lie in [0, {m - 1}], got [{int(ranks_t.min())}, {int(ranks_t.max())}]")
    out = _order_statistics(flat, ranks_t)
    return out[:, 0] if squeeze else out


def _order_statistics(values: Tensor, ranks: Tensor, normalised: bool = False) -> Tensor:
    """Exact k-th smallest of each row of ``values`` (N×M, finite) at the 0-based ``ranks`` (N×R long): N×R.

    ``normalised``: the rows are already min-max normalised, so the torch path can bucket them as they are.
    """
    kernels = _kernels_for(values)
    if kernels is not None:
        out, bad = kernels.kth_smallest(_to_numpy(values), _to_numpy(ranks))
        _raise_if_non_finite(bad)
        return torch.from_numpy(out)
    return torch.cat([_select(values[rows], values[rows] if normalised else minmax_normalize(values[rows]), ranks[rows])
                      for rows in _selection_chunks(*values.shape)])


# ----------------------------------------------------------------------------------------------- policies


def adaptive_ranks(gt: Tensor) -> Tensor:
    """Sorted-index of the adaptive threshold for each sample: ``H·W − k``, ``k`` = number of pixels with GT > 0.

    - Consensus maps (Flickr-SoundNet: 0.5 where one annotator of three marked the pixel) count every pixel with
      GT > 0, i.e. the area any annotator marked (the lineage's ``|gt > 0|``), not ΣGT.
    - Empty GT: ``k = H·W // 2``, the companion code's fallback, so the adaptive threshold equals the median one.
    - The threshold is the k-th largest value and pixels *strictly above* it are kept: ``k − 1`` pixels when values
      are distinct (the lineage's off-by-one, kept for comparable numbers), fewer when values tie at the threshold.
    """
    flat = gt.reshape(gt.shape[0], -1)
    return _adaptive_ranks_from_area(_gt_mask(flat).sum(dim=1), flat.shape[1])


def _gt_mask(gt_flat: Tensor) -> Tensor:
    """[GT > 0] as a float mask (a comparison written straight into floats: cheaper than bool + cast)."""
    dtype = gt_flat.dtype if gt_flat.is_floating_point() else torch.float32
    return torch.gt(gt_flat, 0, out=torch.empty(gt_flat.shape, dtype=dtype, device=gt_flat.device))


def _adaptive_ranks_from_area(area: Tensor, pixels: int) -> Tensor:
    area = area.round().long()  # a float sum of 0/1 values: exact below 2**24 pixels
    return pixels - torch.where(area > 0, area, torch.full_like(area, pixels // 2))


class PolicyScores(NamedTuple):
    """What a policy compares: keep ``scores > threshold[:, None]``."""

    scores: Tensor     #: N×(H·W): the min-max normalised map for rank policies, the raw map otherwise
    threshold: Tensor  #: N: per-sample threshold on the scale of ``scores``


def _check_policies(policies: Sequence[Policy], n: int, has_gt: bool) -> None:
    """Fail early, naming the bad policy: unknown names, adaptive without GT, wrongly sized threshold tensors."""
    for policy in policies:
        if isinstance(policy, str):
            if policy not in RANK_POLICIES:
                raise ValueError(f'policy must be "median", "adaptive" or a threshold, got {policy!r}')
            if policy == "adaptive" and not has_gt:
                raise ValueError('the "adaptive" policy needs the GT map (gt=...)')
        elif isinstance(policy, Tensor):
            if policy.dim() > 1 or (policy.dim() == 1 and policy.numel() != n):
                raise ValueError(f"a threshold tensor must be a scalar or have {n} entries (one per sample), "
                                 f"got shape {tuple(policy.shape)}")
        elif not isinstance(policy, (int, float)):
            raise TypeError(f"policy must be a str, a float or a tensor, got {type(policy).__name__}")


def _chunk_policy(policy: Policy, rows: slice) -> Policy:
    return policy[rows] if isinstance(policy, Tensor) and policy.dim() == 1 else policy


def _absolute_thresholds(policy, n: int, like: Tensor) -> Tensor:
    # Cast to the map dtype, as comparing a float32 array with a Python float does in numpy and torch.
    threshold = torch.as_tensor(policy, device=like.device).to(like.dtype)
    return threshold.expand(n) if threshold.dim() == 0 else threshold


def _rank_columns(policies: Sequence[Policy], gt_area: Tensor | None, n: int, pixels: int, device) -> Tensor:
    columns = []
    for policy in policies:
        if policy == "median":
            columns.append(torch.full((n,), pixels // 2, device=device, dtype=torch.long))
        else:
            columns.append(_adaptive_ranks_from_area(gt_area, pixels).to(device))
    return torch.stack(columns, dim=1)


def _apply_policies(flat: Tensor, policies: Sequence[Policy], gt_area: Tensor | None) -> list[PolicyScores]:
    """One chunk: every policy's (scores, threshold); the rank policies share one normalisation and one selection.

    ``gt_area``: per-sample number of pixels with GT > 0 (needed by "adaptive" only).
    """
    n, pixels = flat.shape
    rank_policies = [p for p in policies if isinstance(p, str)]
    if rank_policies:
        scores = minmax_normalize(flat)
        ranks = _rank_columns(rank_policies, gt_area, n, pixels, flat.device)
        rank_thresholds = iter(_order_statistics(scores, ranks, normalised=True).unbind(dim=1))
    return [
        PolicyScores(scores, next(rank_thresholds)) if isinstance(p, str)
        else PolicyScores(flat, _absolute_thresholds(p, n, flat))
        for p in policies
    ]


def apply_policy(maps: Tensor, policy: Policy, gt: Tensor | None = None) -> PolicyScores:
    """The first half of the pipeline: the scores a policy compares and its per-sample threshold.

    ``maps``: N×H×W raw scores; ``gt``: N×H×W (needed by ``"adaptive"`` only). See the module docstring for policies.
    """
    maps = _check_maps(maps)
    gt = None if gt is None else _check_like(gt, maps, "gt")
    _check_policies([policy], maps.shape[0], gt is not None)
    flat = maps.reshape(maps.shape[0], -1)
    area = None if gt is None else _gt_mask(gt.reshape(gt.shape[0], -1)).sum(dim=1)
    parts = [_apply_policies(flat[rows], [_chunk_policy(policy, rows)], None if area is None else area[rows])[0]
             for rows in _selection_chunks(*flat.shape)]
    return PolicyScores(torch.cat([p.scores for p in parts]), torch.cat([p.threshold for p in parts]))


def binarize(maps: Tensor, policy: Policy, gt: Tensor | None = None) -> Tensor:
    """Binary prediction ``B = scores > threshold`` (N×H×W bool) under a threshold policy."""
    scores, threshold = apply_policy(maps, policy, gt)
    return (scores > threshold[:, None]).reshape(maps.shape)


# ----------------------------------------------------------------------------------------------- localisation


def _kept(part: PolicyScores) -> Tensor:
    # The comparison writes straight into a float mask: cheaper than a bool mask followed by a cast.
    return torch.gt(part.scores, part.threshold[:, None], out=torch.empty_like(part.scores))


def _ciou_ratio(intersection: Tensor, gt_total: Tensor, false_positive: Tensor) -> Tensor:
    """cIoU = Σ(B·G) / (ΣG + Σ(B·[G = 0])) from its parts (float64, broadcastable), as the lineage divides."""
    denominator = gt_total + false_positive
    # 0/0 (no GT and nothing predicted): 0, as in the companion code (NaN → 0): nothing was localised.
    return torch.where(denominator > 0, intersection / torch.where(denominator > 0, denominator, 1.0), 0.0)


def _ciou_from_mask(kept: Tensor, gt: Tensor, on_gt: Tensor, gt_total: Tensor) -> Tensor:
    """cIoU from a float 0/1 mask ``kept`` (N×M; overwritten). Sums of 0/1 values and GT halves are exact in float32
    (below 2**23 pixels per map); the ratio is float64, as in the lineage's numpy code.

    ``on_gt`` = [GT > 0]; since on_gt·GT = GT, masking ``kept`` by on_gt and then by GT gives both sums in place.
    """
    predicted = kept.sum(dim=1)
    predicted_on_gt = kept.mul_(on_gt).sum(dim=1)
    intersection = kept.mul_(gt).sum(dim=1).double()
    return _ciou_ratio(intersection, gt_total, (predicted - predicted_on_gt).double())


def _ciou_per_policy_kernel(kernels: ModuleType, flat: Tensor, gt_flat: Tensor,
                            policies: Sequence[Policy]) -> list[Tensor]:
    """:func:`ciou_per_policy` on the CPU kernels (``flat``, ``gt_flat``: N×M, same dtype). The kernel takes the rank
    policies as its first columns and the absolute thresholds after them; the result is put back in policy order."""
    n = flat.shape[0]
    ranked = [i for i, p in enumerate(policies) if isinstance(p, str)]
    absolute = [i for i, p in enumerate(policies) if not isinstance(p, str)]
    kinds = np.array([kernels.ADAPTIVE if policies[i] == "adaptive" else kernels.MEDIAN for i in ranked], np.int64)
    thresholds = (torch.stack([_absolute_thresholds(policies[i], n, flat) for i in absolute], dim=1) if absolute
                  else flat.new_empty(n, 0))
    kept, kept_on_gt, intersection, gt_total, bad = kernels.ciou_sums(
        _to_numpy(flat), _to_numpy(gt_flat), kinds, _to_numpy(thresholds))
    _raise_if_non_finite(bad)
    cious = _ciou_ratio(torch.from_numpy(intersection), torch.from_numpy(gt_total)[:, None],
                        torch.from_numpy(kept - kept_on_gt).double())
    columns = ranked + absolute
    return [cious[:, columns.index(i)].contiguous() for i in range(len(policies))]


def ciou_per_policy(maps: Tensor, gt: Tensor, policies: Sequence[Policy]) -> list[Tensor]:
    """Per-sample cIoU under several policies at once (rank policies share their selection). Returns one N per policy.

    cIoU = Σ(B·G) / (ΣG + Σ(B·[G = 0])) (Senocak et al. 2018), with ``B`` the binarised map and ``G`` the GT in [0, 1]
    (binary, or the Flickr consensus map with 0.5 pixels). ``maps``, ``gt``: N×H×W. Float64 results.
    """
    maps = _check_maps(maps)
    gt = _check_like(gt, maps, "gt")
    if isinstance(policies, (str, float, int, Tensor)):
        raise TypeError("policies must be a sequence of policies; use ciou() for one policy")
    _check_policies(policies, maps.shape[0], has_gt=True)
    flat, gt_flat = maps.reshape(maps.shape[0], -1), gt.reshape(gt.shape[0], -1)
    kernels = _kernels_for(flat)
    if kernels is not None:
        return _ciou_per_policy_kernel(kernels, flat, gt_flat, policies)
    columns: list[list[Tensor]] = [[] for _ in policies]
    for rows in _selection_chunks(*flat.shape):
        chunk_gt = gt_flat[rows]
        on_gt = _gt_mask(chunk_gt)
        gt_total = chunk_gt.sum(dim=1).double()
        chunk_policies = [_chunk_policy(p, rows) for p in policies]
        for column, part in zip(columns, _apply_policies(flat[rows], chunk_policies, on_gt.sum(dim=1))):
            column.append(_ciou_from_mask(_kept(part), chunk_gt, on_gt, gt_total))
    return [torch.cat(column) for column in columns]


def ciou(maps: Tensor, gt: Tensor, policy: Policy) -> Tensor:
    """Per-sample cIoU (float64, shape N) of ``maps`` (N×H×W raw scores) against ``gt`` (N×H×W in [0, 1]).

    ``policy``: ``"median"``, ``"adaptive"``, or an absolute threshold (float or N floats); see the module docstring.
    A sample with empty GT and no predicted pixel (0/0) scores 0.
    """
    return ciou_per_policy(maps, gt, [policy])[0]


def _trapezoid(y: Tensor, x: Tensor) -> float:
    """Area under ``y(x)`` by the trapezoidal rule, as ``sklearn.metrics.auc`` (``np.trapz``) computes it."""
    return float((torch.diff(x) * (y[1:] + y[:-1]) / 2.0).sum())


def _thresholds(device) -> Tensor:
    return torch.tensor(SUCCESS_THRESHOLDS, dtype=torch.float64, device=device)


def success_curve(values: Tensor, at_least: bool = True) -> Tensor:
    """Fraction of samples with ``value ≥ t`` (``value ≤ t`` when ``at_least`` is False) at t = 0.05·i, i = 0…20."""
    values = _check_vector(values, "values").double()
    t = _thresholds(values.device)
    hits = values[:, None] >= t if at_least else values[:, None] <= t
    return hits.double().mean(dim=0)


def localization_summary(cious: Tensor) -> dict[str, float]:
    """``{"ciou@0.5", "mean_ciou", "auc"}`` of per-sample cIoUs, as fractions.

    ``ciou@0.5`` = mean(cIoU ≥ 0.5) — the number papers call "cIoU"; ``auc`` = trapezoidal area under the success
    rate mean(cIoU ≥ t) over t = 0, 0.05, …, 1 (Chen et al. 2021).
    """
    cious = _check_vector(cious, "cious").double()
    curve = success_curve(cious)
    return {
        "ciou@0.5": float((cious >= 0.5).double().mean()),
        "mean_ciou": float(cious.mean()),
        "auc": _trapezoid(curve, _thresholds(cious.device)),
    }


def _group_min(values: Tensor, codes: Tensor, groups: int) -> Tensor:
    start = torch.full((groups,), math.inf, dtype=values.dtype, device=values.device)
    return start.scatter_reduce(0, codes, values, reduce="amin")


def interactive_summary(cious: Tensor, image_ids) -> dict[str, float]:
    """``{"iiou", "iauc"}``: SSL-Align's interactive metrics (IS3, Senocak et al. 2023).

    An image succeeds at ``t`` only if *every* query of that image (one per object/audio) reaches cIoU ≥ t, i.e. its
    minimum cIoU does. IIoU = success rate at t = 0.5; IAUC = area under the success rate over t = 0, 0.05, …, 1.
    ``image_ids``: N strings or an int tensor naming each query's image.
    """
    cious = _check_vector(cious, "cious").double()
    codes, groups = _group_codes(image_ids, cious.numel(), cious.device)
    worst = _group_min(cious, codes, groups)
    return {"iiou": float((worst >= 0.5).double().mean()),
            "iauc": _trapezoid(success_curve(worst), _thresholds(cious.device))}


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
    for rows in _row_chunks(n, pixels):
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
    maps = _check_maps(maps)
    gt = _check_like(gt, maps, "gt")
    thresholds = _check_vector(thresholds, "thresholds", device=maps.device).to(maps.dtype)
    on_gt = (gt > 0).to(maps.dtype)
    kept, intersection, kept_on_gt = _sums_above(maps, thresholds, [None, gt, on_gt])
    return _ciou_ratio(intersection, gt.reshape(gt.shape[0], -1).sum(dim=1, dtype=torch.float64)[:, None],
                       kept - kept_on_gt)


def pia_sweep(maps: Tensor, thresholds) -> Tensor:
    """pIA of every sample at every absolute threshold: N×T float64 (see :func:`pia`)."""
    maps = _check_maps(maps)
    thresholds = _check_vector(thresholds, "thresholds", device=maps.device).to(maps.dtype)
    (kept,) = _sums_above(maps, thresholds, [None])
    return kept / maps[0].numel()


# ----------------------------------------------------------------------------------------------- negative audio


def pia(maps: Tensor, threshold) -> Tensor:
    """Percentage of Image Area (as a fraction): per-sample share of pixels strictly above an absolute threshold.

    ``maps``: N×H×W raw scores (a negative-audio map should be empty: pIA = 0 is ideal). ``threshold``: a float or N
    floats (e.g. a universal threshold, or the paired positive map's threshold — the companion paper's "ThrCIoU"
    variant reuses the positive map's raw median ``kth_smallest(pos_maps, H·W // 2)``). Juanola et al., ICASSP 2025.
    """
    maps = _check_maps(maps)
    if isinstance(threshold, str):
        raise ValueError("pia needs an absolute threshold (a float or N floats), not a rank policy")
    _check_policies([threshold], maps.shape[0], has_gt=False)
    flat = maps.reshape(maps.shape[0], -1)
    kernels = _kernels_for(flat)
    if kernels is not None:
        thresholds = _absolute_thresholds(threshold, flat.shape[0], flat)
        counts = torch.from_numpy(kernels.count_above(_to_numpy(flat), _to_numpy(thresholds)))
    else:
        counts = torch.cat([_kept(part).sum(dim=1)
                            for rows in _row_chunks(*flat.shape)
                            for part in _apply_policies(flat[rows], [_chunk_policy(threshold, rows)], None)])
    return counts.double() / flat.shape[1]


def auc_n(pias: Tensor) -> float:
    """AUC_N: trapezoidal area under the fraction of negative samples with pIA ≤ t, t = 0, 0.05, …, 1 (ideal 1).

    Named ``AOC`` in the companion code (``compute_AUC_pIA``); Juanola et al., ICASSP 2025.
    """
    pias = _check_vector(pias, "pias").double()
    return _trapezoid(success_curve(pias, at_least=False), _thresholds(pias.device))


def binary_map_iou(first: Tensor, second: Tensor) -> Tensor:
    """IoU between two binarised maps of the same images (e.g. positive vs silence), float64 N.

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
    """F = 2ab / (a + b), the companion code's ``compute_f``; 0 where a + b = 0 (their code would give NaN)."""
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
    rejection = {name: 1.0 - float(_check_vector(p, f"pias[{name!r}]").double().mean()) for name, p in pias.items()}
    area = {name: auc_n(p) for name, p in pias.items()}
    scores = {name: {"f_loc": harmonic_mean(positive["mean_ciou"], rejection[name]),
                     "f_auc": harmonic_mean(positive["auc"], area[name])} for name in pias}
    scores["pooled"] = {
        "f_loc": harmonic_mean(positive["mean_ciou"], sum(rejection.values()) / len(rejection)),
        "f_auc": harmonic_mean(positive["auc"], sum(area.values()) / len(area)),
    }
    return scores


# ----------------------------------------------------------------------------------------------- universal thresholds


def map_extrema(maps: Tensor) -> dict[str, Tensor]:
    """Per-sample ``{"max", "min"}`` of the raw maps (N each): the quantities behind the companion paper's analysis
    of positive vs negative map ranges and its universal thresholds."""
    flat = _check_maps(maps).reshape(maps.shape[0], -1)
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
    maxima = _check_vector(negative_maxima, "negative_maxima").double()
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must lie in [0, 1], got {quantile}")
    name = "max(negative maxima)" if quantile == 1.0 else f"q{quantile:g}(negative maxima)"
    return UniversalThreshold(name, float(torch.quantile(maxima, quantile)), maxima.numel())


def f_optimal_threshold(positive_maps: Tensor, gt: Tensor, negative_maps: Tensor,
                        candidates=None) -> UniversalThreshold:
    """The candidate threshold that maximises F(mean positive cIoU, 1 − mean negative pIA) on validation maps.

    The harmonic mean balances localising the sounding object in positive maps against leaving negative maps empty
    (the companion paper's ``F_Pos_Neg``, here used to *choose* the threshold). ``candidates``: thresholds to try;
    by default 256 evenly spaced values spanning all validation map values. Ties go to the lowest threshold.
    """
    positive_maps = _check_maps(positive_maps, "positive_maps")
    negative_maps = _check_maps(negative_maps, "negative_maps").to(positive_maps.device, positive_maps.dtype)
    if candidates is None:
        low = min(float(positive_maps.amin()), float(negative_maps.amin()))
        high = max(float(positive_maps.amax()), float(negative_maps.amax()))
        candidates = torch.linspace(low, high, 256, dtype=torch.float64)
    candidates = _check_vector(candidates, "candidates", device=positive_maps.device).to(positive_maps.dtype)
    localisation = ciou_sweep(positive_maps, gt, candidates).mean(dim=0)
    rejection = 1.0 - pia_sweep(negative_maps, candidates).mean(dim=0)
    f = harmonic_mean(localisation, rejection)
    best = int(torch.argmax(f))  # first maximum = lowest threshold among ties
    return UniversalThreshold("f_optimal", float(candidates[best]), positive_maps.shape[0] + negative_maps.shape[0],
                              float(f[best]))


# ----------------------------------------------------------------------------------------------- extended sets (SLAVC)


def map_confidence(maps: Tensor, score_range: tuple[float, float] = (-1.0, 1.0), top_fraction: float = 0.25) -> Tensor:
    """SLAVC's per-sample confidence: the mean of the top ``⌈top_fraction·H·W⌉`` map values, rescaled from a *fixed*
    range to [0, 1] (``(s − lo) / (hi − lo)``), so that confidences compare across samples (float64, N).

    ``score_range``: the range the model's scores can take — cosine maps (−1, 1) (SLAVC's ±1/τ for cos/τ maps is the
    same rescaling), ``(cos + 1)/2`` maps (0, 1). SLAVC: ``np.sort(scores)[-n//4:].mean()``.
    """
    flat = _check_maps(maps).reshape(maps.shape[0], -1)
    low, high = score_range
    if not high > low:
        raise ValueError(f"score_range must be (low, high) with high > low, got {score_range}")
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must lie in (0, 1], got {top_fraction}")
    count = math.ceil(top_fraction * flat.shape[1])
    top = torch.cat([flat[rows].topk(count, dim=1, sorted=False).values.double().mean(dim=1)
                     for rows in _row_chunks(*flat.shape)])
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
    confidences = _check_vector(confidences, "confidences").double()
    n = confidences.numel()
    cious = _check_vector(cious, "cious", n, confidences.device).double()
    has_source = _check_vector(has_source, "has_source", n, confidences.device).bool()
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


# ----------------------------------------------------------------------------------------------- collapse diagnostics


def pointing_hits(maps: Tensor, gt: Tensor) -> Tensor:
    """Whether each map's maximum (``argmax``: the first pixel in row-major order on ties) lies in GT > 0. Bool N."""
    maps = _check_maps(maps)
    gt = _check_like(gt, maps, "gt")
    peak = maps.reshape(maps.shape[0], -1).argmax(dim=1, keepdim=True)
    return gt.reshape(gt.shape[0], -1).gather(1, peak)[:, 0] > 0


def both_found(maps: Tensor, own_gt: Tensor, image_ids, other_gt: Tensor | None = None) -> Tensor:
    """Per image (sorted id order), whether *every* query points into its own object and not into the other one.

    ``maps``: N×H×W, one map per (image, audio query); ``own_gt``: the queried object's GT; ``other_gt``: the other
    object's GT in the same image (IS3 has two objects per image), or None to test the own object only. A peak in the
    overlap of both objects does not count. A model that ignores the audio points at the same object for both
    queries of an image, so it can never find both. Bool G.
    """
    hits = pointing_hits(maps, own_gt)
    if other_gt is not None:
        hits &= ~pointing_hits(maps, _check_like(other_gt, maps, "other_gt"))
    codes, groups = _group_codes(image_ids, maps.shape[0], maps.device)
    return _group_min(hits.double(), codes, groups) > 0


def pair_correlation(maps: Tensor, image_ids) -> Tensor:
    """Pearson correlation between the two query maps of each image (sorted id order), float64 G.

    Near 1: the map barely depends on the audio (collapse onto visual saliency). NaN for images that do not have
    exactly two queries (e.g. single-object VGG-SS images in a mixed table) and where a map is constant.
    """
    maps = _check_maps(maps)
    codes, groups = _group_codes(image_ids, maps.shape[0], maps.device)
    sizes = torch.bincount(codes, minlength=groups)
    starts = sizes.cumsum(0) - sizes
    order = torch.argsort(codes, stable=True)          # the queries of each image, next to each other
    pairs = (sizes == 2).nonzero().squeeze(1)
    flat = maps.reshape(maps.shape[0], -1).double()
    first, second = flat[order[starts[pairs]]], flat[order[starts[pairs] + 1]]
    first, second = first - first.mean(dim=1, keepdim=True), second - second.mean(dim=1, keepdim=True)
    out = torch.full((groups,), math.nan, dtype=torch.float64, device=maps.device)
    out[pairs] = (first * second).sum(dim=1) / (first.norm(dim=1) * second.norm(dim=1))
    return out


def object_preference(maps: Tensor, own_gt: Tensor, other_gt: Tensor) -> Tensor:
    """Mean map value inside the queried object minus inside the other object (GT > 0 regions), float64 N.

    Positive: the audio steers the map to its own object. Means, not sums, so object size does not matter; pixels in
    both objects count for both; NaN where either region is empty.
    """
    maps = _check_maps(maps)
    flat = maps.reshape(maps.shape[0], -1).double()

    def region_mean(gt: Tensor, name: str) -> Tensor:
        inside = (_check_like(gt, maps, name).reshape(maps.shape[0], -1) > 0).double()
        area = inside.sum(dim=1)
        return torch.where(area > 0, (flat * inside).sum(dim=1) / area.clamp(min=1), math.nan)

    return region_mean(own_gt, "own_gt") - region_mean(other_gt, "other_gt")


def _maxima(values: Tensor, name: str) -> Tensor:
    if values.dim() == 3:
        return _check_maps(values, name).reshape(values.shape[0], -1).amax(dim=1)
    return _check_vector(values, name)


def max_beats(positive: Tensor, negative: Tensor) -> Tensor:
    """Per query, whether the positive map's maximum exceeds the paired negative map's maximum. Bool N.

    ``positive``/``negative``: N×H×W maps or N maxima. The mean is the probability that one universal threshold can
    separate this query's positive from its negative.
    """
    pos, neg = _maxima(positive, "positive"), _maxima(negative, "negative")
    if pos.shape != neg.shape:
        raise ValueError(f"positive and negative must pair up, got {tuple(pos.shape)} and {tuple(neg.shape)}")
    return pos > neg.to(pos.device)


def collapse_summary(maps: Tensor, own_gt: Tensor, image_ids=None, other_gt: Tensor | None = None,
                     negative_maps: Tensor | None = None) -> dict[str, float]:
    """The collapse diagnostics that the inputs allow, as fractions / means.

    ``pointing`` (always), ``both_found`` (with ``image_ids``), ``pair_correlation`` (mean over the images with two
    queries; with ``image_ids``), ``own_beats_other`` (P(own object has the larger mean map value);
    with ``other_gt``), ``pos_max_beats_neg`` (with ``negative_maps``, paired per query).
    """
    summary = {"pointing": float(pointing_hits(maps, own_gt).double().mean())}
    if image_ids is not None:
        summary["both_found"] = float(both_found(maps, own_gt, image_ids, other_gt).double().mean())
        summary["pair_correlation"] = float(torch.nanmean(pair_correlation(maps, image_ids)))
    if other_gt is not None:
        margin = object_preference(maps, own_gt, other_gt)
        summary["own_beats_other"] = float((margin[~margin.isnan()] > 0).double().mean())
    if negative_maps is not None:
        summary["pos_max_beats_neg"] = float(max_beats(maps, negative_maps).double().mean())
    return summary


# ----------------------------------------------------------------------------------------------- embeddings


def _unit_rows(embeddings: Tensor, name: str) -> Tensor:
    if not isinstance(embeddings, Tensor) or embeddings.dim() != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty N×D tensor, got {getattr(embeddings, 'shape', None)}")
    return torch.nn.functional.normalize(embeddings.detach().double(), dim=1)


def embedding_geometry(visual: Tensor, audio: Tensor, negative_audio: Tensor) -> dict[str, float]:
    """``{"magnitude", "alignment", "separability"}`` of audio-visual embeddings — OUR READING of SSL-SaN's columns.

    SSL-SaN (BMVC 2025) reports Magnitude / Alignment / Separability± (e.g. LVS 0.92 / 0.19 / −0.1124, FNAC 1.25 /
    0.03 / −0.0094) but not their formulas. We choose definitions that fit those ranges; all use L2-normalised rows.
    ``visual``: N×D image embeddings (the caller states the pooling); ``audio``: the N paired (positive) audio
    embeddings; ``negative_audio``: N negative audio embeddings paired with the same images (silence, noise,
    offscreen; stack types by repeating ``visual``).

    - alignment = mean_i cos(v_i, a_i) ∈ [−1, 1], higher is better: positive pairs agree.
    - separability = alignment − mean_i cos(v_i, n_i) ∈ [−2, 2], signed (hence "±"); > 0 means images prefer their
      own audio over negative audio, < 0 (every published baseline) means negatives score higher.
    - magnitude = ‖mean_i a_i − mean_i v_i‖₂ ∈ [0, 2]: the modality gap (Liang et al., NeurIPS 2022); 0 means the
      two modalities share one region of the sphere. No ideal is published; smaller gaps usually mean better
      cross-modal retrieval.
    """
    v, a, n = _unit_rows(visual, "visual"), _unit_rows(audio, "audio"), _unit_rows(negative_audio, "negative_audio")
    if not (v.shape == a.shape == n.shape):
        raise ValueError(f"visual, audio and negative_audio must be paired N×D, got {tuple(v.shape)}, "
                         f"{tuple(a.shape)}, {tuple(n.shape)}")
    alignment = float((v * a).sum(dim=1).mean())
    return {"magnitude": float((a.mean(dim=0) - v.mean(dim=0)).norm()),
            "alignment": alignment,
            "separability": alignment - float((v * n).sum(dim=1).mean())}


def _retrieval_hits(queries: Tensor, gallery: Tensor, query_labels: Tensor, gallery_labels: Tensor,
                    ks: Sequence[int]) -> dict[int, float]:
    depth = min(max(ks), gallery.shape[0])
    hits = {k: 0.0 for k in ks}
    for rows in _row_chunks(queries.shape[0], gallery.shape[0]):
        ranked = (queries[rows] @ gallery.T).topk(depth, dim=1).indices
        relevant = (gallery_labels[ranked] == query_labels[rows, None]).cumsum(dim=1) > 0
        for k in ks:
            hits[k] += float(relevant[:, min(k, depth) - 1].sum())
    return {k: hits[k] / queries.shape[0] for k in ks}


def retrieval_recall(audio: Tensor, image: Tensor, ks: Sequence[int] = (1, 5, 10),
                     audio_labels=None, image_labels=None) -> dict[str, float]:
    """Cross-modal Recall@k in both directions: ``{"a2i@1", …, "i2a@10"}`` — OUR READING of SSL-Align's protocol.

    Embeddings are L2-normalised and ranked by cosine similarity over the whole other modality. With labels (class
    ids or names, one per row) a retrieved item is relevant if it shares the query's class (class-level relevance,
    as the project page's retrieval examples suggest); without labels, audio i and image i are the only relevant pair
    (exact-pair relevance; needs as many audios as images). Recall@k = fraction of queries with a relevant item in
    their top k. Tied similarities are ranked in an unspecified order.
    """
    a, v = _unit_rows(audio, "audio"), _unit_rows(image, "image")
    if a.shape[1] != v.shape[1]:
        raise ValueError(f"audio and image embeddings must share a dimension, got {a.shape[1]} and {v.shape[1]}")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"ks must be positive, got {tuple(ks)}")
    if (audio_labels is None) != (image_labels is None):
        raise ValueError("give both audio_labels and image_labels (class-level) or neither (exact pairs)")
    if audio_labels is None:
        if a.shape[0] != v.shape[0]:
            raise ValueError(f"exact-pair relevance needs as many audios as images, got {a.shape[0]} and {v.shape[0]}")
        a_codes = v_codes = torch.arange(a.shape[0], device=a.device)
    else:
        # One coding for both label lists, so equal labels get equal codes.
        codes, _ = _group_codes(_concat_labels(audio_labels, image_labels), a.shape[0] + v.shape[0], a.device)
        a_codes, v_codes = codes[:a.shape[0]], codes[a.shape[0]:]
    a2i, i2a = _retrieval_hits(a, v, a_codes, v_codes, ks), _retrieval_hits(v, a, v_codes, a_codes, ks)
    return {**{f"a2i@{k}": a2i[k] for k in ks}, **{f"i2a@{k}": i2a[k] for k in ks}}


def _concat_labels(first, second):
    if isinstance(first, Tensor) and isinstance(second, Tensor):
        return torch.cat([first.reshape(-1).cpu(), second.reshape(-1).cpu()])
    as_list = lambda labels: labels.reshape(-1).tolist() if isinstance(labels, Tensor) else list(labels)  # noqa: E731
    return as_list(first) + as_list(second)
