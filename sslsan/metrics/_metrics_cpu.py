"""Numba kernels behind :mod:`sslsan.metrics.selection` for CPU tensors: exact rank selection, fused cIoU / pIA counts.

:mod:`.selection` calls these on float32/float64 numpy views of CPU tensors (rows = samples, ``N×M``, C-contiguous)
and keeps its torch code for every other device; both give identical numbers, those of :mod:`.definitions`
(``tests/test_metrics.py`` and ``tests/test_metrics_definitions.py`` run both). Importing this module requires numba;
:mod:`.selection` guards only that import. The selection itself is in :mod:`._cpu_select`.

Why a kernel: on a CPU, the vectorised torch path spends its time in whole-array temporaries (bool masks, casts, a
selection over all maps at once). Here each worker thread takes a block of samples and, per sample of a 224×224 map,
reads the map and its GT from memory once and then works on them while they stay in the core's cache:

1. one pass: the map's min and max (on the integer images of its floats, which vectorise and expose NaN and ±inf),
   the GT area and ΣGT;
2. a strided sample of the map gives each rank policy's threshold a window ``[a, b]`` (:mod:`._cpu_select`);
3. one vectorised pass sums, for both windows of a pair of rank policies, what lies above ``b`` (pixels, pixels on
   GT, ΣGT); a second one flags the 8-pixel blocks that touch a window and copies those few hundred values;
4. per policy: the threshold is the right candidate (a small selection), and candidates above it are added. The
   rank's position is checked (it must fall inside the window); if not, the exact histogram route takes over.

Smaller maps take the histogram route directly: select, then one counting pass per policy.

Threads: the compiled functions release the GIL (``nogil``) and a Python thread pool runs blocks of samples on them,
rather than numba's ``parallel=True``: the same speed here, about half the compile time, and no OpenMP threading layer
next to torch's (numba's ``omp`` layer kills forked children that use it).

Exactness: a rank policy keeps the pixels whose min-max normalised value ``f(v) = (v − min) / (max − min)``, computed
in the map's dtype as the lineage does, lies strictly above ``t = f(sort(map)[rank])``. ``f`` never decreases, so
``sort(f(map))[rank] = f(sort(map)[rank])``: selecting on the raw map and normalising one value gives the lineage's
threshold bit for bit. Pixels above the window count as kept only after checking ``f(b) > t`` (so that rounding in
``f`` cannot merge them with the threshold); pixels inside it are compared as ``f(v) > t``. Counts are exact (float32
counters below 2**24 pixels). Sums of GT values are float64, reassociated (i.e. vectorised): exact — hence
bit-identical to the torch path and to numpy — whenever every partial sum is representable, as for binary GT and
Flickr consensus maps (values 0, 0.5, 1); for arbitrary soft GT values, sums may differ from other summation orders in
the last bits.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# (_SORT_BELOW is not used here: it is named here for the tests, which read the kernel module's settings)
from ._cpu_select import (_BUCKETS, _SAMPLE_STRIDE, _SORT_BELOW, _finite_extrema, _kernel, _kth_in_place,  # noqa: F401
                          _sample_windows, _select)

_BLOCKS_PER_THREAD = 4  # samples are split into a few blocks per thread (balance); scratch is allocated per block
_FLAG_BLOCK = 8         # pixels per flag in the candidate pass: one AVX2 vector of float32
_CANDIDATE_BUCKETS = 256  # histogram size for selecting among a window's few hundred candidates
# The window route needs a sample worth the name, and float32 counters are exact below 2**24 pixels.
_WINDOW_MIN_PIXELS, _WINDOW_MAX_PIXELS = 4096, 1 << 24

MEDIAN, ADAPTIVE = 0, 1  # rank policy codes for ciou_sums (see sslsan.metrics.definitions.adaptive_rank_from_area)


# ----------------------------------------------------------------------------------------------- per-row counting


@_kernel(fastmath={"reassoc"})
def _row_stats(keys, g, shift, mask):
    """(min key, max key, GT area, ΣGT in float64) of one map (its float bits ``keys``, int32/int64) and its GT.

    ``key = bits ^ ((bits >> shift) & mask)`` orders like the floats (NaN beyond ±inf); integer min/max vectorise
    where float ones would not, and :func:`_decode` turns the keys back into floats.
    """
    first = keys[0] ^ ((keys[0] >> shift) & mask)
    low, high = first, first
    area = np.float32(0)
    total = 0.0
    for j in range(keys.size):
        key = keys[j] ^ ((keys[j] >> shift) & mask)
        low = min(low, key)
        high = max(high, key)
        area += np.float32(1) if g[j] > 0 else np.float32(0)
        total += np.float64(g[j])
    return low, high, area, total


@_kernel()
def _decode(key, shift, mask, bits, value):
    """The float whose key is ``key`` (``bits``/``value``: a 1-element integer array and its float view)."""
    bits[0] = key ^ ((key >> shift) & mask)
    return value[0]


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


@_kernel(fastmath={"reassoc"})
def _normalised_sums(row, lo, span, threshold, gt):
    """:func:`_masked_sums` for B = [(row − lo) / span > threshold], normalising on the fly in the row's dtype."""
    kept = 0
    kept_on_gt = 0
    intersection = 0.0
    for j in range(row.size):
        keep = (row[j] - lo) / span > threshold
        g = gt[j]
        kept += keep
        kept_on_gt += keep & (g > 0)
        intersection += np.float64(g) if keep else 0.0
    return kept, kept_on_gt, intersection


@_kernel(fastmath={"reassoc"})
def _above_sums(row, gt, b0, b1):
    """:func:`_masked_sums` above two thresholds at once (float32 counters: they vectorise best; exact below 2**24)."""
    one, zero = np.float32(1), np.float32(0)
    kept0 = kept1 = on0 = on1 = zero
    sum0 = sum1 = 0.0
    for j in range(row.size):
        v, g = row[j], gt[j]
        positive = one if g > 0 else zero
        above0 = one if v > b0 else zero
        above1 = one if v > b1 else zero
        kept0 += above0
        kept1 += above1
        on0 += above0 * positive
        on1 += above1 * positive
        sum0 += np.float64(g * above0)
        sum1 += np.float64(g * above1)
    return np.int64(kept0), np.int64(kept1), np.int64(on0), np.int64(on1), sum0, sum1


@_kernel()
def _window_candidates(row, gt, a0, b0, a1, b1, flags, values0, gt0, values1, gt1):
    """Copy the values in [a0, b0] (and their GT) to values0/gt0, those in [a1, b1] to values1/gt1; their counts.

    A conditional copy does not vectorise, so a first, vectorised loop flags the 8-pixel blocks that touch a window
    and only those blocks are copied from (``flags``: ``row.size // 8`` ints).
    """
    blocks = row.size // _FLAG_BLOCK
    for block in range(blocks):
        hit = np.int32(0)
        for j in range(block * _FLAG_BLOCK, (block + 1) * _FLAG_BLOCK):
            v = row[j]
            hit |= (np.int32(v >= a0) & np.int32(v <= b0)) | (np.int32(v >= a1) & np.int32(v <= b1))
        flags[block] = hit
    n0 = n1 = 0
    for block in range(blocks + 1):
        if block < blocks and not flags[block]:
            continue
        for j in range(block * _FLAG_BLOCK, min((block + 1) * _FLAG_BLOCK, row.size)):
            # write always, advance only on a hit: no branch to mispredict inside a flagged block
            v, g = row[j], gt[j]
            values0[n0], gt0[n0] = v, g
            values1[n1], gt1[n1] = v, g
            n0 += np.int32(v >= a0) & np.int32(v <= b0)
            n1 += np.int32(v >= a1) & np.int32(v <= b1)
    return n0, n1


@_kernel()
def _window_threshold_sums(rank, below, n, values, gt, b, above, lo, span, work, counts, ids):
    """(ok, kept, kept on GT, ΣGT) over a window's ``n`` candidates for the threshold t = f(sort(row)[rank]).

    ``below``: values under the window; ``above``: values over its top ``b``. ok is False — the caller must take the
    exact route — when the rank is not inside the window, or when f(b) = t, which would make the values above the
    window not all kept.
    """
    if not below <= rank < below + n:
        return False, 0, 0, 0.0
    work[:n] = values[:n]
    # a few hundred candidates: a small histogram (clearing and summing 2,048 counts would cost more than them)
    threshold = (_kth_in_place(work, n, rank - below, counts[:_CANDIDATE_BUCKETS], ids) - lo) / span
    if above > 0 and not (b - lo) / span > threshold:
        return False, 0, 0, 0.0
    kept = 0
    kept_on_gt = 0
    intersection = 0.0
    for j in range(n):
        if (values[j] - lo) / span > threshold:
            kept += 1
            kept_on_gt += gt[j] > 0
            intersection += np.float64(gt[j])
    return True, kept, kept_on_gt, intersection


@_kernel()
def _count_above(row, threshold):
    count = 0
    for j in range(row.size):
        count += row[j] > threshold
    return count


@_kernel()
def _policy_rank(kind, area, pixels):
    """Sorted index of a rank policy's threshold: ``definitions.median_rank`` / ``adaptive_rank_from_area``."""
    if kind == MEDIAN:
        return pixels // 2
    return pixels - (area if area > 0 else pixels // 2)


# ----------------------------------------------------------------------------------------------- rank policies


@_kernel()
def _exact_rank_sums(row, gt, lo, hi, rank, select_scratch):
    """:func:`_masked_sums` of one rank policy by the histogram route: select sort(row)[rank], normalise, count."""
    counts, slots, ids, gathered, work, one_rank, one_value = select_scratch
    one_rank[0] = rank
    _select(row, lo, hi, one_rank, one_value, counts, slots, ids, gathered, work)
    span = hi - lo
    return _normalised_sums(row, lo, span, (one_value[0] - lo) / span, gt)


@_kernel()
def _rank_sums(row, gt, lo, hi, ranks, kept, kept_on_gt, intersection, select_scratch, window_scratch):
    """kept[r], kept_on_gt[r], intersection[r] of every rank policy (``ranks``: sorted indices) for one sample whose
    finite, non-constant map spans [lo, hi]. Pairs of policies share the window passes (an odd one out pairs with
    itself)."""
    counts, slots, ids, gathered, work, _, _ = select_scratch
    windows, sample, sample_ranks, sample_values, flags, values0, gt0, values1, gt1 = window_scratch
    m = row.size
    if not (_WINDOW_MIN_PIXELS <= m < _WINDOW_MAX_PIXELS
            and _sample_windows(row, ranks, windows, sample, sample_ranks, sample_values, counts, slots, ids,
                                gathered, work)):
        for r in range(ranks.size):
            kept[r], kept_on_gt[r], intersection[r] = _exact_rank_sums(row, gt, lo, hi, ranks[r], select_scratch)
        return
    span = hi - lo
    for p in range(0, ranks.size, 2):
        q = min(p + 1, ranks.size - 1)
        b0, b1 = windows[p, 1], windows[q, 1]
        above0, above1, on0, on1, sum0, sum1 = _above_sums(row, gt, b0, b1)
        n0, n1 = _window_candidates(row, gt, windows[p, 0], b0, windows[q, 0], b1, flags, values0, gt0, values1, gt1)
        for r, above, on, total, n, values, value_gt, b in ((p, above0, on0, sum0, n0, values0, gt0, b0),
                                                           (q, above1, on1, sum1, n1, values1, gt1, b1)):
            ok, k, o, s = _window_threshold_sums(ranks[r], m - above - n, n, values, value_gt, b, above, lo, span,
                                                 work, counts, ids)
            if ok:
                kept[r], kept_on_gt[r], intersection[r] = above + k, on + o, total + s
            else:
                kept[r], kept_on_gt[r], intersection[r] = _exact_rank_sums(row, gt, lo, hi, ranks[r], select_scratch)


# ----------------------------------------------------------------------------------------------- entry points

_threads = 1


def use_threads(count: int) -> None:
    """Run the kernels on ``count`` threads (the caller passes torch's thread count)."""
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


def _float_keys(maps: np.ndarray):
    """The maps' float bits as integers, and the shift and mask that make them order like the floats."""
    if maps.dtype == np.float32:
        return maps.view(np.int32), np.int32(31), np.int32(0x7FFFFFFF)
    return maps.view(np.int64), np.int64(63), np.int64(0x7FFFFFFFFFFFFFFF)


def kth_smallest(values: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``out[i, r] = sort(values[i])[ranks[i, r]]``, exactly. values: N×M float32/float64; ranks: N×R int64 in [0, M).

    Returns (out N×R in the values' dtype, bad N bool: NaN or a non-finite span, where ``out`` is undefined).
    """
    out = np.empty(ranks.shape, values.dtype)
    bad = np.zeros(values.shape[0], np.bool_)
    _run_blocks(lambda start, stop: _kth_block(values, ranks, start, stop, out, bad), values.shape[0])
    return out, bad


def ciou_sums(maps: np.ndarray, gt: np.ndarray, rank_kinds: np.ndarray, absolute: np.ndarray):
    """The sums behind cIoU for every sample and policy column, in a few fused passes per sample.

    maps, gt: N×M (same float dtype); rank_kinds: R codes (MEDIAN / ADAPTIVE) for columns 0…R−1, whose thresholds are
    order statistics of the min-max normalised map; absolute: N×A thresholds (maps' dtype) for columns R…R+A−1,
    compared with the raw map. Keeping B = [scores > threshold], returns kept (N×P int64): ΣB, kept_on_gt (N×P int64):
    ΣB·[GT > 0], intersection (N×P float64): ΣB·GT, gt_total (N float64): ΣGT, and bad (N bool): NaN or a non-finite
    span in a map (checked only when R > 0; that sample's other outputs are then undefined).
    """
    n, columns = maps.shape[0], rank_kinds.size + absolute.shape[1]
    outputs = (np.zeros((n, columns), np.int64), np.zeros((n, columns), np.int64), np.zeros((n, columns)),
               np.empty(n), np.zeros(n, np.bool_))
    keys, shift, mask = _float_keys(maps)
    _run_blocks(lambda start, stop: _ciou_block(maps, keys, gt, rank_kinds, absolute, shift, mask, start, stop,
                                                *outputs), n)
    return outputs


def count_above(maps: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per sample, the number of values strictly above its threshold. maps: N×M; thresholds: N (maps' dtype)."""
    out = np.empty(maps.shape[0], np.int64)
    _run_blocks(lambda start, stop: _count_block(maps, thresholds, start, stop, out), maps.shape[0])
    return out


@_kernel()
def _select_scratch(m, dtype_like):
    """Scratch for :func:`_select`: counts, slots (all −1), bucket ids, two value buffers, one rank, one value."""
    return (np.empty(_BUCKETS, np.int64), np.full(_BUCKETS, -1, np.int64), np.empty(m, np.uint16),
            np.empty(m, dtype_like.dtype), np.empty(m, dtype_like.dtype), np.empty(1, np.int64),
            np.empty(1, dtype_like.dtype))


@_kernel()
def _kth_block(values, ranks, start, stop, out, bad):
    """Rows ``start…stop−1`` of :func:`kth_smallest` (with their own scratch)."""
    counts, slots, ids, gathered, work, _, _ = _select_scratch(values.shape[1], values)
    for i in range(start, stop):
        lo, hi, ok = _finite_extrema(values[i])
        if ok:
            _select(values[i], lo, hi, ranks[i], out[i], counts, slots, ids, gathered, work)
        bad[i] = not ok


@_kernel()
def _ciou_block(maps, keys, gt, rank_kinds, absolute, shift, mask, start, stop, kept, kept_on_gt, intersection,
                gt_total, bad):
    """Rows ``start…stop−1`` of :func:`ciou_sums` (with their own scratch)."""
    m, n_ranks = maps.shape[1], rank_kinds.size
    select_scratch = _select_scratch(m, maps)
    window_scratch = (np.empty((n_ranks, 2), maps.dtype), np.empty(m // _SAMPLE_STRIDE + 1, maps.dtype),
                      np.empty(2 * n_ranks, np.int64), np.empty(2 * n_ranks, maps.dtype),
                      np.empty(m // _FLAG_BLOCK, np.int32), np.empty(m, maps.dtype), np.empty(m, gt.dtype),
                      np.empty(m, maps.dtype), np.empty(m, gt.dtype))
    ranks = np.empty(n_ranks, np.int64)
    bits = np.empty(1, keys.dtype)
    value = bits.view(maps.dtype)
    for i in range(start, stop):
        row, g = maps[i], gt[i]
        low, high, area, gt_total[i] = _row_stats(keys[i], g, shift, mask)
        for a in range(absolute.shape[1]):
            c = n_ranks + a
            kept[i, c], kept_on_gt[i, c], intersection[i, c] = _masked_sums(row, absolute[i, a], g)
        if n_ranks == 0:
            continue
        lo, hi = _decode(low, shift, mask, bits, value), _decode(high, shift, mask, bits, value)
        bad[i] = not np.isfinite(hi - lo)  # NaN decodes to NaN, so this also catches NaN
        if bad[i] or lo == hi:
            continue  # (a constant map normalises to zeros: threshold 0, nothing strictly above, all sums 0)
        for r in range(n_ranks):
            ranks[r] = _policy_rank(rank_kinds[r], np.int64(area), m)
        _rank_sums(row, g, lo, hi, ranks, kept[i, :n_ranks], kept_on_gt[i, :n_ranks], intersection[i, :n_ranks],
                   select_scratch, window_scratch)


@_kernel()
def _count_block(maps, thresholds, start, stop, out):
    """Rows ``start…stop−1`` of :func:`count_above`."""
    for i in range(start, stop):
        out[i] = _count_above(maps[i], thresholds[i])
