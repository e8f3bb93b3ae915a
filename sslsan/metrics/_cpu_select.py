"""Exact order statistics of one row, in numba: the selection half of :mod:`._metrics_cpu`.

Two routes to ``sort(row)[rank]`` without sorting the row:

- **histogram** (:func:`_select`): up to 2,048 buckets between the row's min and max locate the bucket of every wanted
  rank; only the few values of those buckets are gathered and sorted (:func:`_kth_in_place`). One scattered pass
  over the row: exact for any data, the route for small maps and the fallback of the other one.
- **sample window** (:func:`_sample_windows`): the same selection on a strided sample of the row (every 17th value)
  gives, for each wanted rank, a value range ``[a, b]`` that very probably holds it. The caller then counts and
  gathers against ``[a, b]`` in vectorised passes and *checks* that the rank fell inside; if not, it falls back to
  the histogram. The sample only decides speed, never the result.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numba import njit

_BUCKETS = 2048      # full histogram size: 16 KiB of counts, stays in L1; bucket ids fit in uint16
_SORT_BELOW = 128    # a bucket with at most this many values is insertion-sorted (else it is histogrammed again)
# A prime stride, so that the sample does not alias with the map's width (a stride of 16 on a 224-pixel row would
# sample the same 14 columns of every row): on smooth maps the sample's quantiles are then within ~3 sample ranks of
# the map's (median), ~10 for 99 % of them.
_SAMPLE_STRIDE = 17
_WINDOW = 8          # sample ranks on each side of the estimate: the window holds ~2·8·17 ≈ 270 values (measured:
                     # narrower windows miss the rank more often, wider ones cost more copying)
_SAMPLE_BUCKETS = 512  # ~6 sample values a bucket: clearing and summing 2,048 counts would cost more than the sample

# Every njit function releases the GIL (so a thread pool's threads run in parallel) and is cached on disk.
_kernel = partial(njit, cache=True, nogil=True)


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
def _bucket(value, lo, scale, buckets):
    """Histogram bucket of ``value`` in [lo, …] (of ``buckets``): non-decreasing in the value, so buckets are ordered
    like values."""
    b = np.int64((np.float64(value) - np.float64(lo)) * scale)
    return min(max(b, 0), buckets - 1)


@_kernel()
def _bucket_ids(values, lo, scale, ids, buckets):
    """``ids[j]`` = bucket of ``values[j]`` (a vectorised pass; the histogram and gather passes then only look up)."""
    for j in range(values.size):
        ids[j] = _bucket(values[j], lo, scale, buckets)


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
    the lowest bucket.) The histogram has ``counts.size`` buckets (at least 2)."""
    while n > _SORT_BELOW:
        lo, hi = _extrema(values[:n])
        if lo == hi:
            return lo
        scale = counts.size / (np.float64(hi) - np.float64(lo))
        _bucket_ids(values[:n], lo, scale, ids, counts.size)
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
    224×224 map), and :func:`_kth_in_place` finishes on a copy of each. ``counts``: the histogram, one int per bucket
    (at most ``_BUCKETS``); ``slots`` (``_BUCKETS`` ints, all −1 on entry and on exit) maps a bucket to its segment of
    ``gathered``; ``ids`` (uint16), ``gathered`` and ``work``: scratch as long as ``row``.
    """
    if lo == hi:
        out[:] = lo
        return
    scale = counts.size / (np.float64(hi) - np.float64(lo))
    _bucket_ids(row, lo, scale, ids, counts.size)
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


@_kernel()
def _sample_windows(row, ranks, windows, scratch, sample_ranks, sample_values, counts, slots, ids, gathered, work):
    """``windows[r] = (a, b)``: sample values around the estimated position of ``ranks[r]`` in ``sort(row)``.

    ``scratch``: at least ``row.size // _SAMPLE_STRIDE + 1`` values; ``sample_ranks`` / ``sample_values``: 2·R;
    the rest as for :func:`_select`. Returns False if the sample holds NaN or ±inf (the caller has checked the row,
    so this only guards the selection against non-finite values).
    """
    size = 0
    for j in range(0, row.size, _SAMPLE_STRIDE):
        scratch[size] = row[j]
        size += 1
    sample = scratch[:size]
    lo, hi, ok = _finite_extrema(sample)
    if not ok:
        return False
    for r in range(ranks.size):
        estimate = ranks[r] * size // row.size
        sample_ranks[2 * r] = max(estimate - _WINDOW, 0)
        sample_ranks[2 * r + 1] = min(estimate + _WINDOW, size - 1)
    _select(sample, lo, hi, sample_ranks[:2 * ranks.size], sample_values, counts[:_SAMPLE_BUCKETS], slots, ids[:size],
            gathered, work)
    for r in range(ranks.size):
        windows[r, 0], windows[r, 1] = sample_values[2 * r], sample_values[2 * r + 1]
    return True
