"""Numba kernels behind :mod:`sslsan.metrics` for CPU tensors: exact rank selection and fused cIoU / pIA counting.

:mod:`sslsan.metrics` calls these on float32/float64 numpy views of CPU tensors (rows = samples, ``N×M``, C-contiguous)
and keeps its torch code for every other device; both give identical numbers (``tests/test_metrics.py`` runs both).
Importing this module requires numba; :mod:`sslsan.metrics` guards only that import.

Why a kernel: on a CPU, the vectorised torch path spends its time in whole-array temporaries (bool masks, casts, a
selection over all maps at once). Here each worker thread takes a block of samples and, per sample, does a few passes
over data that stays in its cache: min/max, the normalised map, a 2,048-bucket histogram that locates every wanted
rank, a gather of the few values in those buckets, a small sort, and one counting pass per threshold.

Threads: the compiled functions release the GIL (``nogil``) and a Python thread pool runs blocks of samples on them,
rather than numba's ``parallel=True``: the same speed here, about half the compile time, and no OpenMP threading layer
next to torch's (numba's ``omp`` layer kills forked children that use it).

Exactness: thresholds are order statistics of the min-max normalised map computed with the lineage's arithmetic,
``(S − min) / (max − min)`` in the map's dtype, so they are bit-identical to ``np.sort(normalized)[rank]``. Counts are
integers. Sums of GT values are float64, reassociated (i.e. vectorised): exact — hence bit-identical to the torch path
and to numpy — whenever every partial sum is representable, as for binary GT and Flickr consensus maps (values 0, 0.5,
1); for arbitrary soft GT values, sums may differ from other summation orders in the last bits.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from numba import njit

_BUCKETS = 2048      # histogram size: 16 KiB of counts, stays in L1; bucket ids fit in uint16
_SORT_BELOW = 128    # a bucket with at most this many values is insertion-sorted (else it is histogrammed again)
_BLOCKS_PER_THREAD = 4  # samples are split into a few blocks per thread (balance); scratch is allocated per block

MEDIAN, ADAPTIVE = 0, 1  # rank policy codes for ciou_sums (see sslsan.metrics.adaptive_ranks)

# Every njit function releases the GIL (so the pool's threads run in parallel) and is cached on disk.
_kernel = partial(njit, cache=True, nogil=True)


# ----------------------------------------------------------------------------------------------- per-row helpers


@_kernel()
def _extrema(row):
    """(min, max) of a 1-D array, NaN ignored unless ``row[0]`` is NaN (callers check NaN separately).

    Eight independent accumulators: a single running min is one long dependency chain that LLVM does not vectorise.
    """
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = row[0]
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = row[0]
    m = row.size - row.size % 8
    for j in range(0, m, 8):
        v0, v1, v2, v3 = row[j], row[j + 1], row[j + 2], row[j + 3]
        v4, v5, v6, v7 = row[j + 4], row[j + 5], row[j + 6], row[j + 7]
        a0 = v0 if v0 < a0 else a0
        a1 = v1 if v1 < a1 else a1
        a2 = v2 if v2 < a2 else a2
        a3 = v3 if v3 < a3 else a3
        a4 = v4 if v4 < a4 else a4
        a5 = v5 if v5 < a5 else a5
        a6 = v6 if v6 < a6 else a6
        a7 = v7 if v7 < a7 else a7
        b0 = v0 if v0 > b0 else b0
        b1 = v1 if v1 > b1 else b1
        b2 = v2 if v2 > b2 else b2
        b3 = v3 if v3 > b3 else b3
        b4 = v4 if v4 > b4 else b4
        b5 = v5 if v5 > b5 else b5
        b6 = v6 if v6 > b6 else b6
        b7 = v7 if v7 > b7 else b7
    lo = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
    hi = max(max(max(b0, b1), max(b2, b3)), max(max(b4, b5), max(b6, b7)))
    for j in range(m, row.size):
        v = row[j]
        lo = v if v < lo else lo
        hi = v if v > hi else hi
    return lo, hi


@_kernel()
def _has_nan(row):
    found = False
    for j in range(row.size):
        found |= row[j] != row[j]
    return found


@_kernel()
def _finite_extrema(row):
    """(min, max, ok): ok is False when the row holds NaN or its span ``max − min`` is not finite — the cases in which
    ``sslsan.metrics.minmax_normalize`` raises (the span is computed in the row's dtype, as there)."""
    lo, hi = _extrema(row)
    return lo, hi, np.isfinite(hi - lo) and not _has_nan(row)


@_kernel()
def _normalise(row, lo, span, out):
    """``out = (row − lo) / span`` in the row's dtype: the lineage's ``normalize_img`` arithmetic (``span > 0``)."""
    for j in range(row.size):
        out[j] = (row[j] - lo) / span


@_kernel()
def _bucket(value, lo, scale):
    """Histogram bucket of ``value`` in [lo, …]: non-decreasing in the value, so buckets are ordered like values."""
    b = np.int64((np.float64(value) - np.float64(lo)) * scale)
    return min(max(b, 0), _BUCKETS - 1)


@_kernel()
def _bucket_ids(values, lo, scale, ids):
    """``ids[j]`` = bucket of ``values[j]`` (a vectorised pass; the histogram and gather passes then only look up)."""
    for j in range(values.size):
        ids[j] = _bucket(values[j], lo, scale)


@_kernel()
def _histogram_ids(ids, counts):
    counts[:] = 0
    for j in range(ids.size):
        counts[ids[j]] += 1


@_kernel()
def _cumulate(counts):
    """``counts`` → inclusive cumulative counts, in place."""
    for b in range(1, counts.size):
        counts[b] += counts[b - 1]


@_kernel()
def _bucket_of_rank(cumulative, rank):
    """(bucket holding the 0-based ``rank``, number of values in lower buckets) from inclusive cumulative counts."""
    b = np.searchsorted(cumulative, rank, side="right")
    return b, (cumulative[b - 1] if b > 0 else 0)


@_kernel()
def _insertion_sort(values):
    """Sort a short array in place (numba's np.sort would do, but compiles several seconds slower)."""
    for j in range(1, values.size):
        v = values[j]
        i = j - 1
        while i >= 0 and values[i] > v:
            values[i + 1] = values[i]
            i -= 1
        values[i + 1] = v


@_kernel()
def _kth_in_place(values, n, k, counts, ids):
    """The ``k``-th smallest of ``values[:n]`` (which it reorders): re-histogram the bucket holding it until few
    values remain, then sort those. Every round drops the bucket of the minimum or of the maximum, so it ends.
    (More than one round only when many values share a bucket, e.g. a map whose one outlier squeezes the rest into
    the lowest bucket.)"""
    while n > _SORT_BELOW:
        lo, hi = _extrema(values[:n])
        if lo == hi:
            return lo
        scale = _BUCKETS / (np.float64(hi) - np.float64(lo))
        _bucket_ids(values[:n], lo, scale, ids)
        _histogram_ids(ids[:n], counts)
        _cumulate(counts)
        target, below = _bucket_of_rank(counts, k)
        kept = 0
        for j in range(n):
            if ids[j] == target:
                values[kept] = values[j]
                kept += 1
        n, k = kept, k - below
    _insertion_sort(values[:n])
    return values[k]


@_kernel()
def _select(row, lo, hi, ranks, out, counts, slots, ids, gathered, work):
    """``out[r] = sort(row)[ranks[r]]`` for every r, exactly; ``lo``/``hi``: the row's min and max.

    One histogram pass locates every rank's bucket, one pass gathers the values of those buckets (a few hundred on a
    224×224 map), and :func:`_kth_in_place` finishes on a copy of each. ``slots`` (``_BUCKETS`` ints, all −1 on entry
    and on exit) maps a bucket to its segment of ``gathered``; ``counts``: ``_BUCKETS`` ints; ``ids`` (uint16),
    ``gathered`` and ``work``: scratch as long as ``row``.
    """
    if lo == hi:
        out[:] = lo
        return
    scale = _BUCKETS / (np.float64(hi) - np.float64(lo))
    _bucket_ids(row, lo, scale, ids)
    _histogram_ids(ids, counts)
    _cumulate(counts)
    n_ranks = ranks.size
    buckets = np.empty(n_ranks, np.int64)
    below = np.empty(n_ranks, np.int64)
    starts = np.empty(n_ranks + 1, np.int64)   # segment starts in `gathered`, then the fill pointers
    sizes = np.empty(n_ranks, np.int64)
    segments = 0
    starts[0] = 0
    for r in range(n_ranks):
        buckets[r], below[r] = _bucket_of_rank(counts, ranks[r])
        b = buckets[r]
        if slots[b] < 0:
            slots[b] = segments
            sizes[segments] = counts[b] - (counts[b - 1] if b > 0 else 0)
            starts[segments + 1] = starts[segments] + sizes[segments]
            segments += 1
    fill = starts[:segments].copy()
    for j in range(row.size):
        s = slots[ids[j]]
        if s >= 0:
            gathered[fill[s]] = row[j]
            fill[s] += 1
    for r in range(n_ranks):
        s = slots[buckets[r]]
        size = sizes[s]
        work[:size] = gathered[starts[s]:starts[s] + size]
        out[r] = _kth_in_place(work, size, ranks[r] - below[r], counts, ids)
    for r in range(n_ranks):
        slots[buckets[r]] = -1


@_kernel(fastmath={"reassoc"})
def _gt_stats(gt):
    """(number of pixels with GT > 0, ΣGT in float64)."""
    area = 0
    total = 0.0
    for j in range(gt.size):
        g = gt[j]
        area += g > 0
        total += np.float64(g)
    return area, total


@_kernel(fastmath={"reassoc"})
def _masked_sums(scores, threshold, gt):
    """For B = [scores > threshold]: (ΣB, ΣB·[GT > 0], ΣB·GT in float64) — everything cIoU needs."""
    kept = 0
    kept_on_gt = 0
    intersection = 0.0
    for j in range(scores.size):
        keep = scores[j] > threshold
        g = gt[j]
        kept += keep
        kept_on_gt += keep & (g > 0)
        intersection += np.float64(g) if keep else 0.0
    return kept, kept_on_gt, intersection


@_kernel()
def _count_above(row, threshold):
    count = 0
    for j in range(row.size):
        count += row[j] > threshold
    return count


@_kernel()
def _policy_rank(kind, area, pixels):
    """Sorted index of a rank policy's threshold; the rule of ``sslsan.metrics.adaptive_ranks`` (empty GT: median)."""
    if kind == MEDIAN:
        return pixels // 2
    return pixels - (area if area > 0 else pixels // 2)


# ----------------------------------------------------------------------------------------------- entry points

_threads = 1


def use_threads(count: int) -> None:
    """Run the kernels on ``count`` threads (sslsan.metrics passes torch's thread count)."""
    global _threads
    _threads = max(1, int(count))


def _run_blocks(work: Callable[[int, int], None], n: int) -> None:
    """``work(start, stop)`` over blocks of the ``n`` samples, on up to ``use_threads`` threads (inline for one)."""
    threads = min(_threads, n)
    bounds = np.linspace(0, n, min(n, _BLOCKS_PER_THREAD * threads) + 1).astype(np.int64).tolist()
    blocks = list(zip(bounds[:-1], bounds[1:]))
    if threads == 1:
        for start, stop in blocks:
            work(start, stop)
        return
    with ThreadPoolExecutor(threads) as pool:
        for done in [pool.submit(work, start, stop) for start, stop in blocks]:
            done.result()  # re-raises a block's exception here


def kth_smallest(values: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out[i, r] = sort(values[i])[ranks[i, r]]``, exactly. values: N×M float32/float64; ranks: N×R int64 in [0, M).

    Returns (out N×R in the values' dtype, bad N bool: NaN or a non-finite span, where ``out`` is undefined).
    """
    out = np.empty(ranks.shape, values.dtype)
    bad = np.zeros(values.shape[0], np.bool_)
    _run_blocks(lambda start, stop: _kth_block(values, ranks, start, stop, out, bad), values.shape[0])
    return out, bad


def ciou_sums(maps: np.ndarray, gt: np.ndarray, rank_kinds: np.ndarray, absolute: np.ndarray):
    """The sums behind cIoU for every sample and policy column, in one fused pass per sample.

    maps, gt: N×M (same float dtype); rank_kinds: R codes (MEDIAN / ADAPTIVE) for columns 0…R−1, whose thresholds are
    order statistics of the min-max normalised map; absolute: N×A thresholds (maps' dtype) for columns R…R+A−1,
    compared with the raw map. Keeping B = [scores > threshold], returns kept (N×P int64): ΣB, kept_on_gt (N×P int64):
    ΣB·[GT > 0], intersection (N×P float64): ΣB·GT, gt_total (N float64): ΣGT, and bad (N bool): NaN or a non-finite
    span in a map (checked only when R > 0; that sample's other outputs are then undefined).
    """
    n, columns = maps.shape[0], rank_kinds.size + absolute.shape[1]
    outputs = (np.zeros((n, columns), np.int64), np.zeros((n, columns), np.int64), np.zeros((n, columns)),
               np.empty(n), np.zeros(n, np.bool_))
    _run_blocks(lambda start, stop: _ciou_block(maps, gt, rank_kinds, absolute, start, stop, *outputs), n)
    return outputs


def count_above(maps: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per sample, the number of values strictly above its threshold. maps: N×M; thresholds: N (maps' dtype)."""
    out = np.empty(maps.shape[0], np.int64)
    _run_blocks(lambda start, stop: _count_block(maps, thresholds, start, stop, out), maps.shape[0])
    return out


@_kernel()
def _kth_block(values, ranks, start, stop, out, bad):
    """Rows ``start…stop−1`` of :func:`kth_smallest` (with their own scratch)."""
    m = values.shape[1]
    counts, slots = np.empty(_BUCKETS, np.int64), np.full(_BUCKETS, -1, np.int64)
    ids, gathered, work = np.empty(m, np.uint16), np.empty(m, values.dtype), np.empty(m, values.dtype)
    for i in range(start, stop):
        lo, hi, ok = _finite_extrema(values[i])
        if ok:
            _select(values[i], lo, hi, ranks[i], out[i], counts, slots, ids, gathered, work)
        bad[i] = not ok


@_kernel()
def _ciou_block(maps, gt, rank_kinds, absolute, start, stop, kept, kept_on_gt, intersection, gt_total, bad):
    """Rows ``start…stop−1`` of :func:`ciou_sums` (with their own scratch)."""
    m = maps.shape[1]
    n_ranks = rank_kinds.size
    counts, slots = np.empty(_BUCKETS, np.int64), np.full(_BUCKETS, -1, np.int64)
    unit, gathered, work = np.empty(m, maps.dtype), np.empty(m, maps.dtype), np.empty(m, maps.dtype)
    ids = np.empty(m, np.uint16)
    ranks, thresholds = np.empty(n_ranks, np.int64), np.empty(n_ranks, maps.dtype)
    for i in range(start, stop):
        row, g = maps[i], gt[i]
        area, gt_total[i] = _gt_stats(g)
        for a in range(absolute.shape[1]):
            c = n_ranks + a
            kept[i, c], kept_on_gt[i, c], intersection[i, c] = _masked_sums(row, absolute[i, a], g)
        if n_ranks == 0:
            continue
        lo, hi, ok = _finite_extrema(row)
        bad[i] = not ok
        if not ok or lo == hi:
            continue  # (a constant map normalises to zeros: threshold 0, nothing strictly above, all sums 0)
        _normalise(row, lo, hi - lo, unit)
        for r in range(n_ranks):
            ranks[r] = _policy_rank(rank_kinds[r], area, m)
        # the normalised map spans exactly [0, 1]: (max − min) / (max − min) = 1
        _select(unit, 0.0, 1.0, ranks, thresholds, counts, slots, ids, gathered, work)
        for r in range(n_ranks):
            kept[i, r], kept_on_gt[i, r], intersection[i, r] = _masked_sums(unit, thresholds[r], g)


@_kernel()
def _count_block(maps, thresholds, start, stop, out):
    """Rows ``start…stop−1`` of :func:`count_above`."""
    for i in range(start, stop):
        out[i] = _count_above(maps[i], thresholds[i])
