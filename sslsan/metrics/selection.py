"""The fast route to the thresholded metrics: rank selection instead of sorting, chunked torch, numba kernels.

Same numbers as :mod:`.definitions` (``tests/test_metrics_definitions.py`` checks that), found faster:

- Rank thresholds are found by selection, not sorting: :func:`kth_smallest` buckets the values, counts the buckets and
  sorts only the few values of the bucket that holds the wanted rank. It is exact (ties included).
- **torch** (any device): whole-chunk tensor operations on about ``_CHUNK_PIXELS`` values at a time; always used
  for CUDA and other devices.
- **numba** (CPU, float32/float64): fused per-sample kernels in :mod:`._metrics_cpu` (selection and counting in a
  few cache-resident passes, blocks of samples spread over ``torch.get_num_threads()`` threads), several times faster
  than torch on a CPU. Used for :func:`ciou_per_policy` (hence :func:`ciou`), :func:`pia`, :func:`kth_smallest` and
  the rank thresholds of :func:`apply_policy` / :func:`binarize`. The first call in a fresh environment compiles them
  (~15 s per dtype); numba caches the machine code on disk (``__pycache__``), so a later process only pays ~2 s
  (importing numba, loading the cache).

:data:`CPU_BACKEND` picks the CPU implementation (set it as ``sslsan.metrics.CPU_BACKEND``). Only a failure to
*import numba* (``ImportError``: not installed, or an installation numba itself rejects) makes ``"auto"`` fall back to
torch; any other error propagates.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from ._common import Policy, check_like, check_maps, check_policies, raise_if_non_finite, row_chunks
from .definitions import (PolicyScores, absolute_thresholds, adaptive_rank_from_area, ciou_from_sums, median_rank,
                          minmax_normalize)

__all__ = ["CPU_BACKEND", "kth_smallest", "apply_policy", "binarize", "ciou_per_policy", "ciou", "pia"]

#: Implementation for CPU tensors: ``"auto"`` (numba kernels when numba imports, else torch), ``"numba"`` (the kernels;
#: ImportError without numba) or ``"torch"``. Other devices always use torch. Set it to compare the two paths.
CPU_BACKEND = "auto"
_CPU_BACKENDS = ("auto", "numba", "torch")
_KERNEL_DTYPES = (torch.float32, torch.float64)

# Bucket select: 2**12 buckets over [0, 1] leave ~12 pixels per bucket on a 224×224 map.
_BUCKET_BITS = 12
_NUM_BUCKETS = (1 << _BUCKET_BITS) + 1  # the extra bucket holds the value 1.0 exactly


# ----------------------------------------------------------------------------------------------- backend choice


@functools.cache
def _load_kernels() -> tuple[ModuleType | None, ImportError | None]:
    """(the kernel module, None), or (None, the ImportError) when numba cannot be imported.

    Imported on first use, not with this module: importing numba takes seconds. Only numba's own import is guarded;
    any error in our kernel module propagates.
    """
    try:
        import numba  # noqa: F401  (here, not at the top: numba is optional and slow to import)
    except ImportError as error:
        return None, error
    from . import _metrics_cpu  # needs numba, hence imported only once numba is known to import
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


def _selection_chunks(n: int, pixels: int):
    # Bucket selection also holds a histogram of _NUM_BUCKETS counts per row (and int32 bucket ids that must not
    # overflow), so tiny maps get fewer rows per chunk.
    return row_chunks(n, max(pixels, _NUM_BUCKETS))


# ----------------------------------------------------------------------------------------------- selection


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
        raise_if_non_finite(bad)
        return torch.from_numpy(out)
    return torch.cat([_select(values[rows], values[rows] if normalised else minmax_normalize(values[rows]), ranks[rows])
                      for rows in _selection_chunks(*values.shape)])


# ----------------------------------------------------------------------------------------------- policies


def _gt_mask(gt_flat: Tensor) -> Tensor:
    """[GT > 0] as a float mask (a comparison written straight into floats: cheaper than bool + cast)."""
    dtype = gt_flat.dtype if gt_flat.is_floating_point() else torch.float32
    return torch.gt(gt_flat, 0, out=torch.empty(gt_flat.shape, dtype=dtype, device=gt_flat.device))


def _chunk_policy(policy: Policy, rows: slice) -> Policy:
    return policy[rows] if isinstance(policy, Tensor) and policy.dim() == 1 else policy


def _rank_columns(policies: Sequence[Policy], gt_area: Tensor | None, n: int, pixels: int, device) -> Tensor:
    columns = []
    for policy in policies:
        if policy == "median":
            columns.append(torch.full((n,), median_rank(pixels), device=device, dtype=torch.long))
        else:
            columns.append(adaptive_rank_from_area(gt_area, pixels).to(device))
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
        else PolicyScores(flat, absolute_thresholds(p, n, flat))
        for p in policies
    ]


def apply_policy(maps: Tensor, policy: Policy, gt: Tensor | None = None) -> PolicyScores:
    """The first half of the pipeline: the scores a policy compares and its per-sample threshold.

    ``maps``: N×H×W raw scores; ``gt``: N×H×W (needed by ``"adaptive"`` only). Policies: see
    :mod:`sslsan.metrics.definitions`, whose sort-based ``apply_policy`` gives the same numbers.
    """
    maps = check_maps(maps)
    gt = None if gt is None else check_like(gt, maps, "gt")
    check_policies([policy], maps.shape[0], gt is not None)
    flat = maps.reshape(maps.shape[0], -1)
    area = None if gt is None else _gt_mask(gt.reshape(gt.shape[0], -1)).sum(dim=1)
    parts = [_apply_policies(flat[rows], [_chunk_policy(policy, rows)], None if area is None else area[rows])[0]
             for rows in _selection_chunks(*flat.shape)]
    return PolicyScores(torch.cat([p.scores for p in parts]), torch.cat([p.threshold for p in parts]))


def binarize(maps: Tensor, policy: Policy, gt: Tensor | None = None) -> Tensor:
    """Binary prediction ``B = scores > threshold`` (N×H×W bool) under a threshold policy."""
    scores, threshold = apply_policy(maps, policy, gt)
    return (scores > threshold[:, None]).reshape(maps.shape)


# ----------------------------------------------------------------------------------------------- cIoU and pIA


def _kept(part: PolicyScores) -> Tensor:
    # The comparison writes straight into a float mask: cheaper than a bool mask followed by a cast.
    return torch.gt(part.scores, part.threshold[:, None], out=torch.empty_like(part.scores))


def _ciou_from_mask(kept: Tensor, gt: Tensor, on_gt: Tensor, gt_total: Tensor) -> Tensor:
    """cIoU from a float 0/1 mask ``kept`` (N×M; overwritten). Sums of 0/1 values and GT halves are exact in float32
    (below 2**23 pixels per map); the ratio is float64, as in the lineage's numpy code.

    ``on_gt`` = [GT > 0]; since on_gt·GT = GT, masking ``kept`` by on_gt and then by GT gives both sums in place.
    """
    predicted = kept.sum(dim=1)
    predicted_on_gt = kept.mul_(on_gt).sum(dim=1)
    intersection = kept.mul_(gt).sum(dim=1).double()
    return ciou_from_sums(intersection, gt_total, (predicted - predicted_on_gt).double())


def _ciou_per_policy_kernel(kernels: ModuleType, flat: Tensor, gt_flat: Tensor,
                            policies: Sequence[Policy]) -> list[Tensor]:
    """:func:`ciou_per_policy` on the CPU kernels (``flat``, ``gt_flat``: N×M, same dtype). The kernel takes the rank
    policies as its first columns and the absolute thresholds after them; the result is put back in policy order."""
    n = flat.shape[0]
    ranked = [i for i, p in enumerate(policies) if isinstance(p, str)]
    absolute = [i for i, p in enumerate(policies) if not isinstance(p, str)]
    kinds = np.array([kernels.ADAPTIVE if policies[i] == "adaptive" else kernels.MEDIAN for i in ranked], np.int64)
    thresholds = (torch.stack([absolute_thresholds(policies[i], n, flat) for i in absolute], dim=1) if absolute
                  else flat.new_empty(n, 0))
    kept, kept_on_gt, intersection, gt_total, bad = kernels.ciou_sums(
        _to_numpy(flat), _to_numpy(gt_flat), kinds, _to_numpy(thresholds))
    raise_if_non_finite(bad)
    cious = ciou_from_sums(torch.from_numpy(intersection), torch.from_numpy(gt_total)[:, None],
                           torch.from_numpy(kept - kept_on_gt).double())
    columns = ranked + absolute
    return [cious[:, columns.index(i)].contiguous() for i in range(len(policies))]


def ciou_per_policy(maps: Tensor, gt: Tensor, policies: Sequence[Policy]) -> list[Tensor]:
    """Per-sample cIoU under several policies at once (rank policies share their selection). Returns one N per policy.

    cIoU = Σ(B·G) / (ΣG + Σ(B·[G = 0])) (Senocak et al. 2018), with ``B`` the binarised map and ``G`` the GT in [0, 1]
    (binary, or the Flickr consensus map with 0.5 pixels). ``maps``, ``gt``: N×H×W. Float64 results.
    """
    maps = check_maps(maps)
    gt = check_like(gt, maps, "gt")
    if isinstance(policies, (str, float, int, Tensor)):
        raise TypeError("policies must be a sequence of policies; use ciou() for one policy")
    check_policies(policies, maps.shape[0], has_gt=True)
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

    ``policy``: ``"median"``, ``"adaptive"``, or an absolute threshold (float or N floats); see
    :mod:`sslsan.metrics.definitions`. A sample with empty GT and no predicted pixel (0/0) scores 0.
    """
    return ciou_per_policy(maps, gt, [policy])[0]


def pia(maps: Tensor, threshold) -> Tensor:
    """Percentage of Image Area (as a fraction): per-sample share of pixels strictly above an absolute threshold.

    ``maps``: N×H×W raw scores (a negative-audio map should be empty: pIA = 0 is ideal). ``threshold``: a float or N
    floats (e.g. a universal threshold, or the paired positive map's threshold — the companion paper's "ThrCIoU"
    variant reuses the positive map's raw median ``kth_smallest(pos_maps, H·W // 2)``). Juanola et al., ICASSP 2025.
    """
    maps = check_maps(maps)
    if isinstance(threshold, str):
        raise ValueError("pia needs an absolute threshold (a float or N floats), not a rank policy")
    check_policies([threshold], maps.shape[0], has_gt=False)
    flat = maps.reshape(maps.shape[0], -1)
    kernels = _kernels_for(flat)
    if kernels is not None:
        thresholds = absolute_thresholds(threshold, flat.shape[0], flat)
        counts = torch.from_numpy(kernels.count_above(_to_numpy(flat), _to_numpy(thresholds)))
    else:
        counts = torch.cat([_kept(part).sum(dim=1)
                            for rows in row_chunks(*flat.shape)
                            for part in _apply_policies(flat[rows], [_chunk_policy(threshold, rows)], None)])
    return counts.double() / flat.shape[1]
