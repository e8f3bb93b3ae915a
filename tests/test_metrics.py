"""sslsan.metrics against plain per-sample numpy references (loops, np.sort), hand-computed maps and scikit-learn.

The references below are written the way the lineage's evaluation code computes things, one sample at a time, so
that every vectorised metric is checked against an independent, obviously-correct implementation.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
import torch
from sklearn import metrics as skmetrics

from sslsan import metrics as M

T = [0.05 * i for i in range(21)]  # the lineage's thresholds, built the lineage's way


# ----------------------------------------------------------------------------------------------- references


def ref_normalize(value):
    vmin, vmax = value.min(), value.max()
    if not (vmax - vmin) == 0:
        value = (value - vmin) / (vmax - vmin)
    return value


def ref_ciou(pred_bin, gt):
    denominator = np.sum(gt) + np.sum(pred_bin * (gt == 0))
    return float(np.sum(pred_bin * gt) / denominator) if denominator > 0 else 0.0


def ref_binarize(score_map, gt, policy):
    pixels = score_map.size
    if policy == "median":
        pred = ref_normalize(score_map)
        return pred > np.sort(pred.flatten())[pixels // 2]
    if policy == "adaptive":
        pred = ref_normalize(score_map)
        k = int((gt > 0).sum()) or pixels // 2
        return pred > np.sort(pred.flatten())[pixels - k]
    return score_map > np.asarray(policy, dtype=score_map.dtype)


def ref_cious(maps, gts, policy):
    return np.array([ref_ciou(ref_binarize(m, g, policy).astype(np.float64), g) for m, g in zip(maps, gts)])


def ref_success_auc(values, at_least=True):
    values = np.asarray(values)
    curve = [np.mean(values >= t) if at_least else np.mean(values <= t) for t in T]
    return skmetrics.auc(T, curve)


def ref_precision_recall(has_source, cious, conf, thr):
    """SLAVC's calc_precision_recall, written out."""
    tp = fp = fn = 0
    for positive, ciou, c in zip(has_source, cious, conf):
        if not positive:
            fp += c >= thr
        elif c >= thr:
            tp += ciou >= 0.5
            fp += ciou < 0.5
        else:
            fn += 1
    return (1.0 if tp + fp == 0 else tp / (tp + fp)), (1.0 if tp + fn == 0 else tp / (tp + fn))


def ref_ap_f1(has_source, cious, conf, interpolated=True):
    thresholds = sorted(set(conf), reverse=True)
    pr = [ref_precision_recall(has_source, cious, conf, t) for t in thresholds]
    precision = [p for p, _ in pr]
    if interpolated:
        precision = [max(precision[i:]) for i in range(len(precision))]
    recall = [0.0] + [r for _, r in pr]
    ap = sum(precision[i] * (recall[i + 1] - recall[i]) for i in range(len(precision)))
    f1 = [2 * p * r / (p + r) if p + r > 0 else 0.0 for p, r in pr]
    return ap, max(f1)


# Every test that takes ``backend`` runs twice: on the torch path and on the numba kernels (CPU tensors), against the
# same references. Tests of the dispatch itself and of the two paths against each other are at the end.
BACKENDS = ["torch", pytest.param("numba", marks=pytest.mark.skipif(M._load_kernels()[0] is None,
                                                                    reason="numba is not installed"))]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Run the test with ``sslsan.metrics.CPU_BACKEND`` set to one implementation."""
    monkeypatch.setattr(M, "CPU_BACKEND", request.param)
    return request.param


def smooth_maps(n, size, seed, dtype=torch.float32):
    """7×7 maps upsampled bilinearly, like a model's output."""
    gen = torch.Generator().manual_seed(seed)
    grid = torch.randn(n, 1, 7, 7, generator=gen, dtype=torch.float64)
    out = torch.nn.functional.interpolate(grid, size=size, mode="bilinear", align_corners=True)[:, 0]
    return out.to(dtype).contiguous()


def box_gts(n, size, seed, consensus_every=3, empty_every=0):
    """Binary box GTs; every ``consensus_every``-th is a Flickr consensus map (0.5 pixels); optional empty GTs."""
    rng = np.random.default_rng(seed)
    h, w = size
    gts = np.zeros((n, h, w))
    for i in range(n):
        if empty_every and i % empty_every == empty_every - 1:
            continue
        y, x = rng.integers(0, h - 2), rng.integers(0, w - 2)
        gts[i, y:y + rng.integers(1, h - y + 1), x:x + rng.integers(1, w - x + 1)] = 1.0
        if consensus_every and i % consensus_every == 0:
            second = np.zeros((h, w))
            second[rng.integers(0, h):, rng.integers(0, w):] = 1.0
            gts[i] = np.minimum((2 * gts[i] + second) / 2, 1.0)
    return gts


# ----------------------------------------------------------------------------------------------- hand-computed cIoU

MAP_2x2 = torch.tensor([[[0.1, 0.4], [0.3, 0.2]]])  # normalised: [[0, 1], [2/3, 1/3]], sorted [0, 1/3, 2/3, 1]


def test_median_policy_by_hand(backend):
    # sorted index 4 // 2 = 2 → threshold 2/3 → strictly above keeps only the 0.4 pixel
    assert M.binarize(MAP_2x2, "median").tolist() == [[[False, True], [False, False]]]
    assert M.ciou(MAP_2x2, torch.tensor([[[0.0, 1.0], [0.0, 0.0]]]), "median").item() == 1.0
    assert M.ciou(MAP_2x2, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]]), "median").item() == 0.0   # 0 / (1 + 1)


def test_adaptive_policy_by_hand(backend):
    # GT area 2 → threshold = 2nd largest (2/3) → keeps 1 pixel (k − 1: the lineage's strict ">")
    gt = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert M.binarize(MAP_2x2, "adaptive", gt).tolist() == [[[False, True], [False, False]]]
    assert M.ciou(MAP_2x2, gt, "adaptive").item() == 0.5                                          # 1 / (2 + 0)
    # GT area 1 → threshold = the maximum → nothing is strictly above it
    assert not M.binarize(MAP_2x2, "adaptive", torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])).any()


def test_absolute_policy_by_hand(backend):
    gt = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert M.binarize(MAP_2x2, 0.25).tolist() == [[[False, True], [True, False]]]
    assert M.ciou(MAP_2x2, gt, 0.25).item() == 1.0
    assert M.ciou(MAP_2x2, gt, 0.3).item() == 0.5  # 0.3 itself is not strictly above 0.3
    per_sample = M.ciou(torch.cat([MAP_2x2, MAP_2x2]), torch.cat([gt, gt]), torch.tensor([0.25, 0.35]))
    assert per_sample.tolist() == [1.0, 0.5]


def test_ties_at_the_threshold_are_dropped(backend):
    ties_low = torch.tensor([[[0.5, 0.5], [0.5, 0.9]]])   # normalised [0, 0, 0, 1]; threshold 0
    assert M.binarize(ties_low, "median").tolist() == [[[False, False], [False, True]]]
    ties_top = torch.tensor([[[0.9, 0.9], [0.1, 0.2]]])   # sorted [0, .125, 1, 1]; threshold 1: nothing above
    assert not M.binarize(ties_top, "median").any()
    gt = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])          # area 2 → 2nd largest is 1 as well
    assert not M.binarize(ties_top, "adaptive", gt).any()


def test_constant_maps_keep_nothing_under_rank_policies(backend):
    flat = torch.full((1, 4, 4), 0.3)
    gt = torch.zeros(1, 4, 4)
    gt[0, :2, :2] = 1
    for policy in ("median", "adaptive"):
        assert not M.binarize(flat, policy, gt).any()
        assert M.ciou(flat, gt, policy).item() == 0.0
    assert M.ciou(flat, gt, 0.2).item() == 4 / 16  # an absolute threshold below the constant keeps everything


def test_empty_gt(backend):
    maps = smooth_maps(3, (6, 6), seed=1)
    empty = torch.zeros(3, 6, 6)
    # adaptive falls back to k = H·W // 2, i.e. the median threshold
    assert torch.equal(M.binarize(maps, "adaptive", empty), M.binarize(maps, "median"))
    assert M.ciou(maps, empty, "median").tolist() == [0.0] * 3         # predictions, no GT: 0 / (0 + fp) = 0
    assert M.ciou(maps, empty, 1e9).tolist() == [0.0] * 3              # 0/0 is defined as 0


def test_flickr_consensus_map(backend):
    gt = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    top_row = torch.tensor([[[0.9, 0.8], [0.1, 0.2]]])
    right_column = torch.tensor([[[0.1, 0.8], [0.2, 0.9]]])
    assert M.ciou(top_row, gt, 0.5).item() == 1.0                        # 1.5 / (1.5 + 0)
    assert M.ciou(right_column, gt, 0.5).item() == pytest.approx(0.2)   # 0.5 / (1.5 + 1)
    # adaptive counts every pixel with GT > 0: area 2 → keeps the top pixel only (k − 1 = 1)
    assert M.binarize(top_row, "adaptive", gt).tolist() == [[[True, False], [False, False]]]
    assert M.ciou(top_row, gt, "adaptive").item() == pytest.approx(1 / 1.5)


def test_four_by_four_by_hand(backend):
    values = torch.arange(16, dtype=torch.float64).reshape(1, 4, 4)     # distinct values 0..15
    gt = torch.zeros(1, 4, 4, dtype=torch.float64)
    gt[0, 2:, :] = 1                                                    # the 8 largest values
    # median: threshold = sorted[8] = 8 → keeps 9..15 (7 pixels, all on GT) → 7 / 8
    assert M.ciou(values, gt, "median").item() == 7 / 8
    gt[0, 3, :] = 0                                                     # GT = values 8..11, area 4
    # adaptive: threshold = 4th largest = 12 → keeps 13, 14, 15 (off GT) → 0 / (4 + 3)
    assert M.ciou(values, gt, "adaptive").item() == 0.0


# ----------------------------------------------------------------------------------------------- random vs reference


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [(16, 16), (13, 11)])   # even and odd H·W
@pytest.mark.parametrize("kind", ["smooth", "quantised"])  # quantised: heavy ties everywhere
def test_ciou_matches_reference(dtype, size, kind, backend):
    n = 24
    if kind == "smooth":
        maps = smooth_maps(n, size, seed=2, dtype=dtype)
    else:
        maps = (torch.randint(0, 5, (n, *size), generator=torch.Generator().manual_seed(3)) / 4).to(dtype)
        maps[0] = 0.7  # and a constant map
    gts = box_gts(n, size, seed=4, empty_every=7)
    maps_np = maps.numpy()
    for policy in ("median", "adaptive", 0.25):
        got = M.ciou(maps, torch.from_numpy(gts).to(dtype), policy)
        assert got.dtype == torch.float64 and got.shape == (n,)
        np.testing.assert_array_equal(got.numpy(), ref_cious(maps_np, gts, policy), err_msg=str(policy))


def test_ciou_per_policy_equals_single_calls_and_survives_chunking(monkeypatch, backend):
    maps = smooth_maps(30, (9, 10), seed=5)
    gt = torch.from_numpy(box_gts(30, (9, 10), seed=6)).float()
    thresholds = torch.linspace(-0.5, 0.5, 30)
    policies = ["median", "adaptive", 0.1, thresholds]
    together = M.ciou_per_policy(maps, gt, policies)
    monkeypatch.setattr(M, "_CHUNK_PIXELS", 200)  # ~2 maps per chunk: per-sample thresholds must be sliced
    chunked = M.ciou_per_policy(maps, gt, policies)
    for policy, a, b in zip(policies, together, chunked):
        assert torch.equal(a, b)
        assert torch.equal(a, M.ciou(maps, gt, policy))
    assert torch.equal(M.pia(maps, thresholds), M.pia(maps[:], thresholds))


def test_binarize_matches_reference(backend):
    maps = smooth_maps(10, (8, 8), seed=7, dtype=torch.float64)
    gts = box_gts(10, (8, 8), seed=8)
    for policy in ("median", "adaptive", -0.1):
        got = M.binarize(maps, policy, torch.from_numpy(gts))
        expected = np.stack([ref_binarize(m, g, policy) for m, g in zip(maps.numpy(), gts)])
        np.testing.assert_array_equal(got.numpy(), expected)


def test_apply_policy_scores_and_thresholds(backend):
    scores, threshold = M.apply_policy(MAP_2x2, "median")
    assert scores.shape == (1, 4) and threshold.tolist() == pytest.approx([2 / 3])
    scores, threshold = M.apply_policy(MAP_2x2, 0.3)
    assert torch.equal(scores, MAP_2x2.reshape(1, 4)) and threshold.tolist() == pytest.approx([0.3])


def test_half_precision_maps_are_accepted(backend):
    maps = smooth_maps(4, (8, 8), seed=9)
    gt = torch.from_numpy(box_gts(4, (8, 8), seed=9)).float()
    half = maps.to(torch.bfloat16)
    assert torch.equal(M.ciou(half, gt, "median"), M.ciou(half.float(), gt, "median"))


# ----------------------------------------------------------------------------------------------- selection


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kth_smallest_matches_sort(dtype, backend):
    gen = torch.Generator().manual_seed(10)
    values = torch.cat([
        torch.randn(6, 300, generator=gen, dtype=torch.float64),
        torch.randint(-3, 3, (6, 300), generator=gen).double(),       # heavy ties, negative values
        torch.rand(2, 300, generator=gen, dtype=torch.float64) ** 40,  # almost everything crowded near 0
    ]).to(dtype)
    values[-1, 0] = 1e6                                               # one outlier squeezes the rest into a bucket
    ranks = torch.randint(0, 300, (14, 5), generator=gen)
    ranks[:, 0], ranks[:, 1] = 0, 299
    expected = np.take_along_axis(np.sort(values.numpy(), axis=1), ranks.numpy(), axis=1)
    np.testing.assert_array_equal(M.kth_smallest(values, ranks).numpy(), expected)
    np.testing.assert_array_equal(M.kth_smallest(values, ranks[:, 2]).numpy(), expected[:, 2])
    np.testing.assert_array_equal(M.kth_smallest(values, 150).numpy(), np.sort(values.numpy(), axis=1)[:, 150])


def test_kth_smallest_rejects_bad_input(backend):
    with pytest.raises(ValueError, match="ranks must lie"):
        M.kth_smallest(torch.rand(2, 5), 5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        M.kth_smallest(torch.tensor([[0.0, float("nan"), 1.0]]), 1)
    with pytest.raises(ValueError, match="one row per sample"):
        M.kth_smallest(torch.rand(2, 5), torch.tensor([1, 2, 3]))


def test_adaptive_ranks():
    gt = torch.zeros(3, 4, 4)
    gt[0, :2, :] = 1      # area 8
    gt[1, 0, 0] = 0.5     # a consensus pixel still counts as area
    assert M.adaptive_ranks(gt).tolist() == [16 - 8, 16 - 1, 16 - 8]   # empty GT → k = 16 // 2


# ----------------------------------------------------------------------------------------------- summaries


def test_localization_summary_matches_reference_and_sklearn():
    cious = torch.rand(200, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    got = M.localization_summary(cious)
    values = cious.numpy()
    assert got["ciou@0.5"] == np.mean(values >= 0.5)
    assert got["mean_ciou"] == pytest.approx(np.mean(values), abs=1e-15)
    assert got["auc"] == pytest.approx(ref_success_auc(values), abs=1e-15)
    assert set(got) == {"ciou@0.5", "mean_ciou", "auc"}


def test_success_thresholds_are_the_lineages_bit_for_bit():
    # 0.15 < 0.05 * 3 in floating point: a cIoU of exactly 3/20 does not reach the t = 0.15 step, as in the lineage
    assert M.SUCCESS_THRESHOLDS[3] == 0.05 * 3 > 0.15
    assert list(M.SUCCESS_THRESHOLDS) == T == np.linspace(0, 1, 21).tolist()
    assert M.success_curve(torch.tensor([0.6], dtype=torch.float64))[12].item() == 0.0   # 0.6 < 0.05 * 12
    curve = M.success_curve(torch.tensor([0.15], dtype=torch.float64))
    assert curve[3].item() == 0.0 and curve[2].item() == 1.0
    auc = M.localization_summary(torch.tensor([0.15], dtype=torch.float64))["auc"]
    assert auc == pytest.approx(ref_success_auc([0.15]), abs=1e-15)


def test_summary_by_hand():
    got = M.localization_summary(torch.tensor([0.0, 1.0]))
    # success rate 1 at t = 0, 0.5 for every t > 0: 0.05·(1 + 0.5)/2 + 19 · 0.05·0.5 = 0.0375 + 0.475
    assert got == {"ciou@0.5": 0.5, "mean_ciou": 0.5, "auc": pytest.approx(0.5125)}
    assert M.localization_summary(torch.ones(3))["auc"] == pytest.approx(1.0)
    assert M.localization_summary(torch.zeros(3))["auc"] == pytest.approx(0.025)  # only t = 0 succeeds


def test_interactive_summary():
    cious = torch.tensor([0.6, 0.4, 0.7, 0.9])
    by_name = M.interactive_summary(cious, ["cat_dog_1_cat", "cat_dog_1_cat", "b", "b"])
    by_int = M.interactive_summary(cious, torch.tensor([3, 3, 8, 8]))
    assert by_name == by_int
    assert by_name["iiou"] == 0.5                           # image "b" (min 0.7) succeeds, the other (min 0.4) not
    assert by_name["iauc"] == pytest.approx(ref_success_auc([0.4, 0.7]), abs=1e-15)


def test_interactive_summary_random_vs_reference():
    gen = torch.Generator().manual_seed(12)
    cious = torch.rand(60, generator=gen, dtype=torch.float64)
    ids = [f"img{int(i)}" for i in torch.randint(0, 25, (60,), generator=gen)]
    worst = {}
    for name, value in zip(ids, cious.tolist()):
        worst[name] = min(worst.get(name, 1.0), value)
    got = M.interactive_summary(cious, ids)
    assert got["iiou"] == np.mean(np.array(list(worst.values())) >= 0.5)
    assert got["iauc"] == pytest.approx(ref_success_auc(list(worst.values())), abs=1e-15)


# ----------------------------------------------------------------------------------------------- negative audio


def test_pia_by_hand_and_reference(backend):
    maps = torch.tensor([[[0.1, 0.6], [0.6, 0.7]], [[0.9, 0.9], [0.9, 0.9]]])
    assert M.pia(maps, 0.6).tolist() == [0.25, 1.0]                     # 0.6 is not strictly above 0.6
    assert M.pia(maps, torch.tensor([0.0, 0.95])).tolist() == [1.0, 0.0]
    random = smooth_maps(20, (11, 9), seed=13)
    expected = [np.sum(m > np.float32(0.3)) / m.size for m in random.numpy()]
    np.testing.assert_array_equal(M.pia(random, 0.3).numpy(), expected)
    with pytest.raises(ValueError, match="absolute threshold"):
        M.pia(random, "median")


def test_auc_n():
    pias = torch.rand(100, generator=torch.Generator().manual_seed(14), dtype=torch.float64)
    assert M.auc_n(pias) == pytest.approx(ref_success_auc(pias.numpy(), at_least=False), abs=1e-15)
    assert M.auc_n(torch.zeros(5)) == pytest.approx(1.0)                 # every negative map empty: ideal
    assert M.auc_n(torch.ones(5)) == pytest.approx(0.025)                # only t = 1 counts them


def test_sweeps_equal_one_threshold_at_a_time(backend):
    maps = smooth_maps(12, (10, 10), seed=15)
    gt = torch.from_numpy(box_gts(12, (10, 10), seed=16)).float()
    thresholds = torch.tensor([0.3, -0.2, 0.0, 0.3, 2.0, -5.0])           # unsorted, repeated, out of range
    sweep = M.ciou_sweep(maps, gt, thresholds)
    assert sweep.shape == (12, 6)
    for j, t in enumerate(thresholds.tolist()):
        assert torch.equal(sweep[:, j], M.ciou(maps, gt, t))
        assert torch.equal(M.pia_sweep(maps, thresholds)[:, j], M.pia(maps, t))


def test_binary_map_iou_conventions():
    empty = torch.zeros(1, 2, 2, dtype=torch.bool)
    some = torch.tensor([[[True, False], [False, False]]])
    more = torch.tensor([[[True, True], [False, False]]])
    assert M.binary_map_iou(empty, empty).item() == 1.0
    assert M.binary_map_iou(some, empty).item() == 0.0
    assert M.binary_map_iou(empty, some).item() == 0.0
    assert M.binary_map_iou(some, more).item() == 0.5


def test_harmonic_mean_and_f_scores():
    assert M.harmonic_mean(0.5, 1.0) == pytest.approx(2 / 3)
    assert M.harmonic_mean(0.0, 0.0) == 0.0
    assert M.harmonic_mean(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]
    cious = torch.tensor([0.5, 1.0])
    pias = {"silence": torch.tensor([0.0, 0.0]), "noise": torch.tensor([0.5, 1.0])}
    scores = M.negative_f_scores(cious, pias)
    mean_ciou, auc = 0.75, M.localization_summary(cious)["auc"]
    assert scores["silence"]["f_loc"] == pytest.approx(2 * mean_ciou / (mean_ciou + 1))
    assert scores["noise"]["f_loc"] == pytest.approx(2 * mean_ciou * 0.25 / (mean_ciou + 0.25))
    assert scores["pooled"]["f_loc"] == pytest.approx(2 * mean_ciou * 0.625 / (mean_ciou + 0.625))
    assert scores["silence"]["f_auc"] == pytest.approx(2 * auc * 1.0 / (auc + 1.0))
    pooled_auc_n = (M.auc_n(pias["silence"]) + M.auc_n(pias["noise"])) / 2
    assert scores["pooled"]["f_auc"] == pytest.approx(2 * auc * pooled_auc_n / (auc + pooled_auc_n))


# ----------------------------------------------------------------------------------------------- universal thresholds


def test_map_extrema():
    maps = smooth_maps(5, (6, 7), seed=17)
    extrema = M.map_extrema(maps)
    np.testing.assert_array_equal(extrema["max"].numpy(), maps.numpy().max(axis=(1, 2)))
    np.testing.assert_array_equal(extrema["min"].numpy(), maps.numpy().min(axis=(1, 2)))


def test_threshold_from_negative_maxima():
    maxima = torch.rand(37, generator=torch.Generator().manual_seed(18), dtype=torch.float64)
    q3 = M.threshold_from_negative_maxima(maxima)
    assert q3.value == pytest.approx(np.quantile(maxima.numpy(), 0.75)) and q3.n == 37
    assert q3.statistic == "q0.75(negative maxima)"
    top = M.threshold_from_negative_maxima(maxima, quantile=1.0)
    assert top.value == maxima.max().item() and top.statistic == "max(negative maxima)"
    # by construction the q-quantile of negative maxima empties (pIA = 0) at least that share of negative maps
    assert (maxima <= q3.value).double().mean() >= 0.75


def test_f_optimal_threshold_known_optimum():
    gt = torch.zeros(4, 6, 6)
    gt[:, 1:4, 2:5] = 1
    positives = 0.2 + 0.6 * gt          # 0.8 on the object, 0.2 elsewhere
    negatives = torch.full((4, 6, 6), 0.5)
    fitted = M.f_optimal_threshold(positives, gt, negatives, candidates=torch.linspace(0, 1, 101))
    assert 0.5 <= fitted.value < 0.8 and fitted.score == pytest.approx(1.0)
    assert fitted.value == pytest.approx(0.5)  # ties go to the lowest threshold
    assert fitted.statistic == "f_optimal" and fitted.n == 8


def test_f_optimal_threshold_is_the_brute_force_argmax(backend):
    positives = smooth_maps(6, (8, 8), seed=19)
    gt = torch.from_numpy(box_gts(6, (8, 8), seed=20)).float()
    negatives = smooth_maps(6, (8, 8), seed=21) - 0.5
    candidates = torch.linspace(-1.5, 1.5, 31)
    fitted = M.f_optimal_threshold(positives, gt, negatives, candidates)
    f = [M.harmonic_mean(M.ciou(positives, gt, t).mean().item(), 1 - M.pia(negatives, t).mean().item())
         for t in candidates.tolist()]
    assert fitted.value == pytest.approx(candidates[int(np.argmax(f))].item())
    assert fitted.score == pytest.approx(max(f))
    assert M.f_optimal_threshold(positives, gt, negatives).n == 12  # default candidates run


# ----------------------------------------------------------------------------------------------- extended sets


def test_map_confidence_matches_slavc():
    maps = smooth_maps(6, (9, 9), seed=22)   # 81 pixels: SLAVC's -n//4 takes the top 21 = ceil(81 / 4)
    expected = []
    for m in maps.numpy():
        scores = (m - (-1.0)) / (1.0 - (-1.0))
        expected.append(np.sort(scores.flatten())[-scores.size // 4:].mean())
    np.testing.assert_allclose(M.map_confidence(maps).numpy(), expected, rtol=1e-6)
    assert M.map_confidence(torch.ones(1, 4, 4), score_range=(0.0, 2.0)).item() == 0.5


def test_ap_equals_sklearn_when_every_positive_is_well_localised():
    gen = torch.Generator().manual_seed(23)
    has_source = torch.rand(80, generator=gen) < 0.5
    confidences = torch.randint(0, 30, (80,), generator=gen) / 30  # ties
    cious = torch.ones(80)
    plain = M.extended_summary(confidences, cious, has_source, interpolated=False)
    assert plain["ap"] == pytest.approx(skmetrics.average_precision_score(has_source, confidences), abs=1e-12)
    precision, recall, _ = skmetrics.precision_recall_curve(has_source, confidences)
    envelope = np.maximum.accumulate(precision[:-1])  # sklearn lists thresholds lowest first
    interpolated = M.extended_summary(confidences, cious, has_source)
    assert interpolated["ap"] == pytest.approx(np.sum(-np.diff(recall) * envelope), abs=1e-12)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-300)
    assert interpolated["max_f1"] == pytest.approx(f1.max(), abs=1e-12)


def test_ap_and_f1_match_the_slavc_loop_with_mislocalised_positives():
    gen = torch.Generator().manual_seed(24)
    has_source = torch.rand(60, generator=gen) < 0.6
    cious = torch.rand(60, generator=gen)
    confidences = torch.randint(0, 20, (60,), generator=gen).double() / 20
    for interpolated in (True, False):
        ap, f1 = ref_ap_f1(has_source.tolist(), cious.tolist(), confidences.tolist(), interpolated)
        got = M.extended_summary(confidences, cious, has_source, interpolated=interpolated)
        assert got["ap"] == pytest.approx(ap, abs=1e-12) and got["max_f1"] == pytest.approx(f1, abs=1e-12)
    curve = M.detection_pr_curve(confidences, cious, has_source)
    assert torch.all(torch.diff(curve.recall) >= 0) and torch.all(torch.diff(curve.thresholds) < 0)


def test_extended_summary_by_hand():
    # ranked: positive well localised (0.9), negative (0.8), positive mislocalised (0.7), positive well (0.6)
    confidences = torch.tensor([0.9, 0.8, 0.7, 0.6])
    has_source = torch.tensor([True, False, True, True])
    cious = torch.tensor([0.8, 0.0, 0.2, 0.6])
    curve = M.detection_pr_curve(confidences, cious, has_source)
    # c=0.9: TP1 FN2 → P 1, R 1/3;  c=0.8: TP1 FP1 FN2 → 1/2, 1/3;  c=0.7: TP1 FP2 FN1 → 1/3, 1/2;  c=0.6: 2/4, 2/2
    assert curve.precision.tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.5])
    assert curve.recall.tolist() == pytest.approx([1 / 3, 1 / 3, 0.5, 1.0])
    got = M.extended_summary(confidences, cious, has_source)
    assert got["ap"] == pytest.approx(1 / 3 * 1.0 + (0.5 - 1 / 3) * 0.5 + 0.5 * 0.5)
    assert got["max_f1"] == pytest.approx(2 / 3) and got["f1_threshold"] == pytest.approx(0.6)


# ----------------------------------------------------------------------------------------------- collapse


def two_object_scene():
    """Two images, two queries each; object A on the left, object B on the right."""
    left, right = torch.zeros(4, 4), torch.zeros(4, 4)
    left[:, :2], right[:, 2:] = 1, 1
    own = torch.stack([left, right, left, right])
    other = torch.stack([right, left, right, left])
    good, lazy = torch.zeros(4, 4, 4), torch.zeros(4, 4, 4)
    good[0, 1, 0], good[1, 1, 3] = 1.0, 1.0      # image 0: each query points at its own object
    lazy[2, 1, 0], lazy[3, 1, 0] = 1.0, 0.9      # image 1: both queries point at the left object
    return good + lazy, own, other, ["img0", "img0", "img1", "img1"]


def test_pointing_and_both_found():
    maps, own, other, ids = two_object_scene()
    assert M.pointing_hits(maps, own).tolist() == [True, True, True, False]
    assert M.both_found(maps, own, ids, other).tolist() == [True, False]
    overlap = torch.ones(1, 2, 2)  # a peak on a pixel of both objects does not count
    assert M.both_found(torch.rand(1, 2, 2), overlap, [0], overlap).tolist() == [False]
    assert M.both_found(torch.rand(1, 2, 2), overlap, [0]).tolist() == [True]


def test_pointing_ties_take_the_first_pixel():
    maps = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert M.pointing_hits(maps, torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])).tolist() == [True]
    assert M.pointing_hits(maps, torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])).tolist() == [False]


def test_pair_correlation_matches_numpy():
    maps = smooth_maps(6, (5, 5), seed=25, dtype=torch.float64)
    ids = torch.tensor([2, 0, 1, 2, 0, 1])
    got = M.pair_correlation(maps, ids)
    flat = maps.numpy().reshape(6, -1)
    expected = [np.corrcoef(flat[1], flat[4])[0, 1], np.corrcoef(flat[2], flat[5])[0, 1],
                np.corrcoef(flat[0], flat[3])[0, 1]]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    same = torch.stack([maps[0], maps[0]])
    assert M.pair_correlation(same, [0, 0]).item() == pytest.approx(1.0)
    assert math.isnan(M.pair_correlation(torch.stack([maps[0], torch.zeros(5, 5, dtype=torch.float64)]), [0, 0]))
    # images without exactly two queries have no pair: NaN, and the summary skips them
    lone = M.pair_correlation(maps[:4], ["a", "a", "a", "b"])
    assert torch.isnan(lone).all()
    assert M.pair_correlation(maps[:5], ["x", "y", "y", "z", "z"])[1:].tolist() == pytest.approx(
        [np.corrcoef(flat[1], flat[2])[0, 1], np.corrcoef(flat[3], flat[4])[0, 1]])


def test_object_preference_and_max_beats():
    maps, own, other, ids = two_object_scene()
    margin = M.object_preference(maps, own, other)
    assert margin.tolist() == pytest.approx([1 / 8, 1 / 8, 1 / 8, -0.9 / 8])
    assert math.isnan(M.object_preference(maps[:1], own[:1], torch.zeros(1, 4, 4)).item())
    negative = torch.full((4, 4, 4), 0.95)
    assert M.max_beats(maps, negative).tolist() == [True, True, True, False]
    assert M.max_beats(maps.amax(dim=(1, 2)), negative.amax(dim=(1, 2))).tolist() == [True, True, True, False]


def test_collapse_summary():
    maps, own, other, ids = two_object_scene()
    summary = M.collapse_summary(maps, own, ids, other, negative_maps=torch.full((4, 4, 4), 0.95))
    assert summary["pointing"] == 0.75 and summary["both_found"] == 0.5
    assert summary["own_beats_other"] == 0.75 and summary["pos_max_beats_neg"] == 0.75
    assert -1.0 <= summary["pair_correlation"] <= 1.0
    assert set(M.collapse_summary(maps, own)) == {"pointing"}


# ----------------------------------------------------------------------------------------------- embeddings


def test_embedding_geometry_by_hand():
    visual = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    audio = torch.tensor([[2.0, 0.0], [0.0, 3.0]])             # same directions: cos = 1 after normalising
    negative = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])        # orthogonal: cos = 0
    got = M.embedding_geometry(visual, audio, negative)
    assert got == {"magnitude": pytest.approx(0.0), "alignment": pytest.approx(1.0),
                   "separability": pytest.approx(1.0)}
    flipped = M.embedding_geometry(visual, -audio, visual)     # audio opposite, negatives identical to images
    assert flipped["alignment"] == pytest.approx(-1.0) and flipped["separability"] == pytest.approx(-2.0)
    assert flipped["magnitude"] == pytest.approx(math.sqrt(2.0))  # ‖(-.5,-.5) − (.5,.5)‖


def ref_recall(queries, gallery, q_labels, g_labels, k):
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    hits = 0
    for i in range(len(q)):
        ranked = np.argsort(-(g @ q[i]), kind="stable")[:k]
        hits += any(g_labels[j] == q_labels[i] for j in ranked)
    return hits / len(q)


def test_retrieval_recall_matches_reference():
    gen = torch.Generator().manual_seed(26)
    audio, image = torch.randn(30, 8, generator=gen), torch.randn(25, 8, generator=gen)
    audio_labels = [f"class{int(i)}" for i in torch.randint(0, 6, (30,), generator=gen)]
    image_labels = [f"class{int(i)}" for i in torch.randint(0, 6, (25,), generator=gen)]
    got = M.retrieval_recall(audio, image, (1, 5, 10), audio_labels, image_labels)
    for k in (1, 5, 10):
        assert got[f"a2i@{k}"] == pytest.approx(ref_recall(audio.numpy(), image.numpy(), audio_labels, image_labels, k))
        assert got[f"i2a@{k}"] == pytest.approx(ref_recall(image.numpy(), audio.numpy(), image_labels, audio_labels, k))
    int_labels = M.retrieval_recall(audio, image, (1, 5), torch.tensor([int(s[5:]) for s in audio_labels]),
                                    torch.tensor([int(s[5:]) for s in image_labels]))
    assert int_labels == {key: got[key] for key in int_labels}


def test_retrieval_recall_exact_pairs():
    image = torch.eye(4)  # cos(audio i, image j) = audio[i, j] / ‖audio i‖
    audio = torch.tensor([[1.0, 0.1, 0, 0], [0, 0.05, 1, 0], [0, 0, 1, 0.1], [0, 0, 0, 1]])
    got = M.retrieval_recall(audio, image, ks=(1, 2))
    # a2i: audio 1 ranks image 2 (0.999) before its own image 1 (0.050); the others find theirs first
    assert got["a2i@1"] == 0.75 and got["a2i@2"] == 1.0
    # i2a: image 1 prefers audio 0 (0.0995 > 0.0499), image 2 prefers audio 1 (0.9988 > 0.9950)
    assert got["i2a@1"] == 0.5 and got["i2a@2"] == 1.0
    with pytest.raises(ValueError, match="as many audios as images"):
        M.retrieval_recall(audio, image[:3])


# ----------------------------------------------------------------------------------------------- validation, devices


def test_clear_errors(backend):
    maps = torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match="N×H×W"):
        M.ciou(torch.rand(4, 4), torch.rand(4, 4), "median")
    with pytest.raises(ValueError, match="gt must have the maps' shape"):
        M.ciou(maps, torch.rand(2, 4, 5), "median")
    with pytest.raises(ValueError, match="needs the GT"):
        M.binarize(maps, "adaptive")
    with pytest.raises(ValueError, match="policy must be"):
        M.ciou(maps, maps, "mean")
    with pytest.raises(ValueError, match="2 entries"):
        M.ciou(maps, maps, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="floating-point"):
        M.ciou(maps.long(), maps, 0.5)
    with pytest.raises(ValueError, match="non-empty"):
        M.localization_summary(torch.tensor([]))
    with pytest.raises(ValueError, match="image_ids must have 2"):
        M.interactive_summary(torch.rand(2), ["a"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    maps = smooth_maps(16, (32, 32), seed=27)
    gt = torch.from_numpy(box_gts(16, (32, 32), seed=28)).float()
    for policy in ("median", "adaptive", 0.2):
        assert torch.equal(M.ciou(maps.cuda(), gt.cuda(), policy).cpu(), M.ciou(maps, gt, policy))
    assert torch.equal(M.pia(maps.cuda(), 0.1).cpu(), M.pia(maps, 0.1))
    assert torch.equal(M.kth_smallest(maps.cuda(), 100).cpu(), M.kth_smallest(maps, 100))


def test_tiny_maps_many_samples_and_grad_inputs(backend):
    maps = torch.rand(3000, 1, 2, generator=torch.Generator().manual_seed(29), requires_grad=True)
    gt = torch.zeros(3000, 1, 2)
    gt[:, 0, 1] = 1
    got = M.ciou(maps, gt, "median")   # sorted index 1 of 2 = the max: nothing strictly above
    assert got.abs().sum().item() == 0.0
    expected = (maps[:, 0, 1] > 0.5).double() / (1 + (maps[:, 0, 0] > 0.5).double())
    assert torch.equal(M.ciou(maps, gt, 0.5), expected.detach())
    np.testing.assert_array_equal(M.kth_smallest(maps, 0).numpy(), maps.detach().amin(dim=(1, 2)).numpy())


# ----------------------------------------------------------------------------------------------- the two CPU paths


needs_numba = pytest.mark.skipif(M._load_kernels()[0] is None, reason="numba is not installed")


def hard_maps(n, size, seed, dtype):
    """Smooth maps plus the cases that stress an exact selection (n ≥ 8)."""
    gen = torch.Generator().manual_seed(seed)
    maps = smooth_maps(n, size, seed, torch.float64)
    noise = lambda: torch.rand(size, generator=gen, dtype=torch.float64)  # noqa: E731
    maps[1] = torch.randint(0, 4, size, generator=gen) / 3              # four levels: ties at every threshold
    maps[2] = 0.25                                                       # constant
    maps[3] = noise() * 1e-3                                             # an outlier puts every other value
    maps[3, 0, 0] = 1e3                                                  # into the lowest bucket
    maps[4] = torch.randint(0, 3, size, generator=gen) * 1e-3           # ...and the same with ties in that bucket
    maps[4, -1, -1] = -1e3
    maps[5] = noise() ** 40                                              # crowded near 0
    maps[6] = -1e4 * maps[6]                                             # negative and large
    maps[7] = 1.0
    maps[7, 0, :] = 0.0                                                  # two values only
    return maps.to(dtype).contiguous()


def on_both_paths(monkeypatch, compute):
    """``compute()`` under the torch path and under the numba kernels."""
    results = []
    for backend in ("torch", "numba"):
        monkeypatch.setattr(M, "CPU_BACKEND", backend)
        results.append(compute())
    return results


def assert_same(a, b):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [(13, 11), (64, 64), (224, 224)])
def test_paths_agree_with_each_other_and_the_lineage(monkeypatch, dtype, size):
    n = 12
    maps = hard_maps(n, size, seed=30, dtype=dtype)
    gts = box_gts(n, size, seed=31, consensus_every=3, empty_every=5)
    gt = torch.from_numpy(gts).to(dtype)
    pixels = size[0] * size[1]
    gen = torch.Generator().manual_seed(32)
    ranks = torch.randint(0, pixels, (n, 3), generator=gen)
    ranks[:, 0], ranks[:, 1] = 0, pixels - 1
    values_as_thresholds = maps.reshape(n, -1)[:, pixels // 3]           # thresholds tied with a map value
    policies = [0.0, "adaptive", values_as_thresholds, "median", 0.3]

    torch_path, numba_path = on_both_paths(monkeypatch, lambda: (
        M.ciou_per_policy(maps, gt, policies),
        [M.apply_policy(maps, policy, gt) for policy in ("median", "adaptive", 0.1)],
        M.binarize(maps, "adaptive", gt),
        M.kth_smallest(maps, ranks),
        M.pia(maps, values_as_thresholds),
        M.pia(maps, 0.3),
    ))
    assert_same(torch_path, numba_path)
    for policy, got in zip(policies, numba_path[0]):
        if isinstance(policy, str):
            np.testing.assert_array_equal(got.numpy(), ref_cious(maps.numpy(), gts, policy), err_msg=policy)
    if pixels == 64 * 64:  # the outlier maps really put more values in one bucket than are sorted outright
        unit = M.minmax_normalize(maps[3:5]).reshape(2, -1).double().numpy()
        largest_bucket = [np.bincount(np.minimum(row * 2048, 2047).astype(int)).max() for row in unit]
        assert min(largest_bucket) > M._load_kernels()[0]._SORT_BELOW


@needs_numba
def test_paths_agree_on_random_maps_many_seeds(monkeypatch):
    for seed in range(5):
        gen = torch.Generator().manual_seed(100 + seed)
        h, w = (int(v) for v in torch.randint(1, 40, (2,), generator=gen))
        maps = torch.randn(7, h, w, generator=gen)
        if seed % 2:
            maps = (maps * 2).round() / 2                                # ties
        gt = (torch.randint(0, 3, (7, h, w), generator=gen) / 2)         # 0, 0.5, 1: consensus pixels everywhere
        gt[0] = 0                                                        # and one empty GT
        ranks = torch.randint(0, h * w, (7, 2), generator=gen)
        torch_path, numba_path = on_both_paths(monkeypatch, lambda: (
            M.ciou_per_policy(maps, gt, ["median", "adaptive", -0.2]), M.kth_smallest(maps, ranks),
            M.pia(maps, 0.1)))
        assert_same(torch_path, numba_path)


@needs_numba
def test_non_finite_maps_on_both_paths(monkeypatch):
    gt = torch.zeros(2, 4, 4)
    gt[:, :2] = 1
    for bad_value, where in ((math.nan, (1, 2, 3)), (math.nan, (1, 0, 0)), (math.inf, (0, 1, 1)),
                             (-math.inf, (1, 3, 3))):
        maps = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(33))
        maps[where] = bad_value
        for backend in ("torch", "numba"):
            monkeypatch.setattr(M, "CPU_BACKEND", backend)
            for call in (lambda: M.ciou(maps, gt, "median"), lambda: M.ciou_per_policy(maps, gt, [0.5, "adaptive"]),
                         lambda: M.kth_smallest(maps, 3), lambda: M.apply_policy(maps, "median")):
                with pytest.raises(ValueError, match="NaN or infinite"):
                    call()
        # absolute thresholds compare as numpy does (NaN is never above a threshold), on both paths alike
        assert_same(*on_both_paths(monkeypatch, lambda: (M.ciou(maps, gt, 0.5), M.pia(maps, 0.5))))


@needs_numba
def test_auto_uses_the_kernels_for_cpu_float_maps(monkeypatch):
    def torch_path_called(*args, **kwargs):
        raise AssertionError("the torch path ran")

    for name in ("_select", "_ciou_from_mask", "_kept"):
        monkeypatch.setattr(M, name, torch_path_called)
    maps = smooth_maps(3, (8, 8), seed=34, dtype=torch.float64)
    gt = torch.from_numpy(box_gts(3, (8, 8), seed=35))
    assert M.CPU_BACKEND == "auto"
    M.ciou_per_policy(maps, gt, ["median", "adaptive", 0.2])
    M.kth_smallest(maps, 5)
    M.pia(maps, 0.2)
    M.binarize(maps, "adaptive", gt)


@needs_numba
def test_kernels_use_torchs_thread_count_and_threads_agree(monkeypatch):
    kernels = M._load_kernels()[0]
    maps = hard_maps(9, (30, 30), seed=38, dtype=torch.float32)
    gt = torch.from_numpy(box_gts(9, (30, 30), seed=39)).float()
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 3):  # one thread runs inline; three split 9 samples into 9 blocks on a pool
            torch.set_num_threads(threads)
            results.append((M.ciou_per_policy(maps, gt, ["median", "adaptive", 0.1]), M.kth_smallest(maps, 7),
                            M.pia(maps, 0.1)))
            assert kernels._threads == threads
    finally:
        torch.set_num_threads(previous)
    assert_same(*results)


def test_unknown_backend_is_an_error(monkeypatch):
    monkeypatch.setattr(M, "CPU_BACKEND", "fast")
    with pytest.raises(ValueError, match="CPU_BACKEND"):
        M.pia(torch.rand(1, 2, 2), 0.5)


def load_metrics_copy(monkeypatch, name):
    """A fresh copy of the sslsan.metrics package (under another name, so the real package is untouched)."""
    spec = importlib.util.spec_from_file_location(name, M.__file__, submodule_search_locations=M.__path__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_without_numba_the_torch_path_serves_cpu_tensors(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    fallback = load_metrics_copy(monkeypatch, "metrics_without_numba")
    assert fallback._load_kernels()[0] is None
    maps = smooth_maps(4, (9, 9), seed=36)
    gt = torch.from_numpy(box_gts(4, (9, 9), seed=37)).float()
    monkeypatch.setattr(M, "CPU_BACKEND", "torch")
    assert torch.equal(fallback.ciou(maps, gt, "adaptive"), M.ciou(maps, gt, "adaptive"))
    assert torch.equal(fallback.pia(maps, 0.1), M.pia(maps, 0.1))
    fallback.CPU_BACKEND = "numba"
    with pytest.raises(ImportError, match="numba could not be imported"):
        fallback.pia(maps, 0.1)


@needs_numba
def test_errors_other_than_numbas_import_are_not_swallowed(monkeypatch):
    broken = load_metrics_copy(monkeypatch, "metrics_with_broken_kernels")
    # numba imports, the copy's kernel module does not
    monkeypatch.setitem(sys.modules, "metrics_with_broken_kernels._metrics_cpu", None)
    with pytest.raises(ImportError, match="_metrics_cpu"):
        broken.pia(torch.rand(1, 2, 2), 0.5)
    broken.CPU_BACKEND = "torch"
    assert broken.pia(torch.ones(1, 2, 2), 0.5).tolist() == [1.0]
