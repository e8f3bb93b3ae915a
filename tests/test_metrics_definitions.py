"""The readable definitions (sslsan.metrics.definitions), by hand, and the fast public API against them.

The fast route (rank selection, chunked torch, numba kernels) must give the definitions' numbers bit for bit, on
both CPU backends, for float32 and float64 maps of odd and even sizes, with ties, constant maps and empty GT.
"""

from __future__ import annotations

import pytest
import torch
from test_metrics import backend  # noqa: F401  (the fixture that runs a test once per CPU backend)

from sslsan import metrics as M
from sslsan.metrics import definitions as D


def random_case(n, size, seed, dtype):
    """Maps with the cases that stress a selection, and GT maps with values 0, 0.5, 1 (some empty)."""
    gen = torch.Generator().manual_seed(seed)
    h, w = size
    maps = torch.randn(n, h, w, generator=gen, dtype=torch.float64)
    grid = torch.randn(n // 2, 1, 7, 7, generator=gen, dtype=torch.float64)  # smooth, like a model's upsampled map
    maps[n // 2:] = torch.nn.functional.interpolate(grid, size=size, mode="bilinear", align_corners=True)[:, 0]
    maps[0::4] = (maps[0::4] * 2).round() / 2             # heavy ties
    maps[1] = -3.0                                         # constant
    maps[2] = torch.rand(h, w, generator=gen, dtype=torch.float64) ** 30  # crowded near 0
    maps[2, 0, 0] = 50.0                                   # ...with an outlier on top
    gt = torch.randint(0, 3, (n, h, w), generator=gen) / 2  # consensus pixels everywhere
    gt[1::3] = (gt[1::3] > 0.5).double()                   # binary boxes' kind of GT
    gt[3] = 0                                              # empty GT
    return maps.to(dtype).contiguous(), gt.to(dtype)


# Small maps take the CPU kernels' histogram route, maps of 4,096 pixels and more their sample-window route.
CASES = [(torch.float32, (13, 11)), (torch.float64, (13, 11)), (torch.float32, (32, 32)), (torch.float64, (1, 3)),
         (torch.float32, (224, 224)), (torch.float64, (71, 67)), (torch.float64, (7, 5))]


def assert_equal(fast, reference):
    assert fast.dtype == reference.dtype and fast.shape == reference.shape
    assert torch.equal(fast, reference)


# ----------------------------------------------------------------------------------------------- fast == definitions


@pytest.mark.parametrize("dtype,size", CASES)
def test_fast_ciou_and_policies_equal_the_definitions(dtype, size, backend):
    maps, gt = random_case(8, size, seed=sum(size), dtype=dtype)
    per_sample = maps.reshape(8, -1)[:, -1].clone()        # thresholds tied with a map value
    policies = ["median", "adaptive", 0.25, per_sample]
    for policy, fast in zip(policies, M.ciou_per_policy(maps, gt, policies)):
        assert_equal(fast, D.ciou(maps, gt, policy))
        assert_equal(M.ciou(maps, gt, policy), fast)
        assert_equal(M.binarize(maps, policy, gt), D.binarize(maps, policy, gt))
        for got, expected in zip(M.apply_policy(maps, policy, gt), D.apply_policy(maps, policy, gt)):
            assert_equal(got, expected)


@pytest.mark.parametrize("dtype,size", CASES)
def test_fast_pia_and_sweeps_equal_the_definitions(dtype, size, backend):
    maps, gt = random_case(6, size, seed=7 * sum(size), dtype=dtype)
    thresholds = torch.tensor([0.5, -1.0, 0.0, 0.5, 99.0])
    assert_equal(M.pia(maps, 0.5), D.pia(maps, 0.5))
    assert_equal(M.pia(maps, maps[:, 0, 0]), D.pia(maps, maps[:, 0, 0]))
    cious, pias = M.ciou_sweep(maps, gt, thresholds), M.pia_sweep(maps, thresholds)
    for j, t in enumerate(thresholds.tolist()):
        assert_equal(cious[:, j], D.ciou(maps, gt, t))
        assert_equal(pias[:, j], D.pia(maps, t))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kth_smallest_equals_the_sorted_value(dtype, backend):
    maps, _ = random_case(8, (9, 17), seed=3, dtype=dtype)
    ranks = torch.randint(0, 9 * 17, (8, 4), generator=torch.Generator().manual_seed(4))
    ranks[:, 0], ranks[:, 1] = 0, 9 * 17 - 1
    expected = torch.sort(maps.reshape(8, -1), dim=1).values.gather(1, ranks)
    assert_equal(M.kth_smallest(maps, ranks), expected)


def test_adaptive_ranks_are_the_definitions():
    _, gt = random_case(8, (13, 11), seed=5, dtype=torch.float32)
    area = (gt.reshape(8, -1) > 0).sum(dim=1)
    assert_equal(M.adaptive_ranks(gt), D.adaptive_rank_from_area(area, 13 * 11))
    assert_equal(D.adaptive_rank_from_area(area.float(), 13 * 11), D.adaptive_rank_from_area(area, 13 * 11))


def test_non_finite_maps_are_rejected_by_both(backend):
    maps, gt = random_case(4, (5, 5), seed=6, dtype=torch.float32)
    maps[2, 1, 1] = float("nan")
    for compute in (M.ciou, D.ciou):
        with pytest.raises(ValueError, match="NaN or infinite"):
            compute(maps, gt, "median")
    # absolute thresholds need no normalisation: NaN is simply never above the threshold, in both
    assert_equal(M.ciou(maps, gt, 0.1), D.ciou(maps, gt, 0.1))


# ----------------------------------------------------------------------------------------------- definitions by hand

RAMP = torch.tensor([[[0.0, 3.0, 6.0], [9.0, 12.0, 15.0]]])  # normalised: 0, 0.2, 0.4, 0.6, 0.8, 1


def test_minmax_normalize_by_hand():
    assert D.minmax_normalize(RAMP).flatten().tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert D.minmax_normalize(torch.full((2, 3), 7.0)).tolist() == [[0.0] * 3] * 2  # constant → zeros
    with pytest.raises(ValueError, match="NaN or infinite"):
        D.minmax_normalize(torch.tensor([[0.0, float("inf")]]))


def test_rank_rules_by_hand():
    assert D.median_rank(6) == 3 and D.median_rank(7) == 3
    assert D.adaptive_rank_from_area(torch.tensor([2, 0, 6]), 6).tolist() == [4, 3, 0]  # empty GT → 6 − 6 // 2


def test_policies_by_hand():
    gt = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.5]]])  # area 2 (a consensus pixel counts)
    scores, threshold = D.apply_policy(RAMP, "median")
    assert threshold.item() == pytest.approx(0.6)           # sorted index 6 // 2 = 3
    assert D.binarize(RAMP, "median").flatten().tolist() == [False] * 4 + [True] * 2
    assert D.apply_policy(RAMP, "adaptive", gt).threshold.item() == pytest.approx(0.8)  # 2nd largest
    assert D.binarize(RAMP, "adaptive", gt).flatten().tolist() == [False] * 5 + [True]  # k − 1 pixels
    assert D.binarize(RAMP, 9.0).flatten().tolist() == [False] * 4 + [True] * 2         # 9 is not above 9
    assert torch.equal(D.apply_policy(RAMP, 9.0).scores, RAMP.reshape(1, 6))


def test_ciou_by_hand():
    gt = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.5]]])
    assert D.ciou(RAMP, gt, "median").item() == 1.0          # predicted 12, 15: 1.5 / (1.5 + 0)
    assert D.ciou(RAMP, gt, 5.0).item() == pytest.approx(1.5 / (1.5 + 2))   # 6 and 9 fall off the object
    assert D.ciou(RAMP, gt, "adaptive").item() == pytest.approx(0.5 / 1.5)  # only 15, a consensus pixel
    assert D.ciou(RAMP, torch.zeros(1, 2, 3), 100.0).item() == 0.0          # 0/0 → 0
    sums = D.ciou_from_sums(torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0]), torch.tensor([2.0, 0.0]))
    assert sums.tolist() == [0.25, 0.0]


def test_success_curve_and_auc_by_hand():
    curve = D.success_curve(torch.tensor([0.25, 1.0]))     # 0.05 * 5 == 0.25: the 0.25 sample still succeeds
    assert curve[:7].tolist() == [1.0] * 6 + [0.5] and curve[-1].item() == 0.5
    # rates 1 on t ≤ 0.25, 0.5 after: 5 intervals at 1, one from 1 to 0.5, 14 at 0.5 → 0.05·(5 + 0.75 + 7)
    assert D.area_under_success(torch.tensor([0.25, 1.0])) == pytest.approx(0.6375)
    assert D.localization_summary(torch.tensor([0.25, 1.0])) == {
        "ciou@0.5": 0.5, "mean_ciou": 0.625, "auc": pytest.approx(0.6375)}
    # 0.05 * 6 is 0.30000000000000004, so a pIA of 0.3 already counts at the t = 0.3 step
    assert D.success_curve(torch.tensor([0.3], dtype=torch.float64), at_least=False)[5:8].tolist() == [0, 1, 1]


def test_interactive_summary_by_hand():
    cious = torch.tensor([0.9, 0.5, 0.2, 0.8, 0.6])
    got = D.interactive_summary(cious, ["a", "a", "b", "b", "c"])     # worst per image: a 0.5, b 0.2, c 0.6
    assert got["iiou"] == pytest.approx(2 / 3)
    assert got["iauc"] == pytest.approx(D.area_under_success(torch.tensor([0.5, 0.2, 0.6])))
    assert D.group_min(cious, torch.tensor([1, 1, 0, 0, 2]), 3).tolist() == pytest.approx([0.2, 0.5, 0.6])


def test_pointing_by_hand():
    gt = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]], [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert D.pointing_hits(torch.cat([RAMP, RAMP]), gt).tolist() == [True, False]  # the peak is the last pixel


def test_negative_audio_by_hand():
    assert D.pia(RAMP, 4.0).item() == pytest.approx(4 / 6)
    assert D.pia(torch.cat([RAMP, -RAMP]), torch.tensor([14.0, -1.0])).tolist() == pytest.approx([1 / 6, 1 / 6])
    with pytest.raises(ValueError, match="absolute threshold"):
        D.pia(RAMP, "median")
    # pIA ≤ t from t = 0.1 on for 0.1 (success rate 0, then 1): 0.05·0.5 + 18·0.05 = 0.925 (a float32 0.1 is a
    # little larger than 0.05 * 2 and only counts from t = 0.15 on)
    assert D.auc_n(torch.tensor([0.1], dtype=torch.float64)) == pytest.approx(0.925)
    assert D.auc_n(torch.tensor([0.1])) == pytest.approx(0.875)
    first = torch.tensor([[[True, True, False]]])
    assert D.binary_map_iou(first, torch.tensor([[[False, True, True]]])).item() == pytest.approx(1 / 3)


def test_f_scores_by_hand():
    assert D.harmonic_mean(0.25, 0.75) == pytest.approx(0.375)
    assert D.harmonic_mean(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.5])).tolist() == [1.0, 0.0]
    scores = D.negative_f_scores(torch.tensor([1.0, 1.0]), {"silence": torch.tensor([0.0, 0.0])})
    assert scores["silence"] == {"f_loc": 1.0, "f_auc": pytest.approx(1.0)}
    assert scores["pooled"] == scores["silence"]
    with pytest.raises(ValueError, match="at least one"):
        D.negative_f_scores(torch.tensor([1.0]), {})
