"""The verdict rule (sslsan.verdicts) on hand-computed cases, and the pretraining-seed grid's names and keys."""

import math

import pytest

from sslsan.verdicts import (BETTER, ONE_RUN, RULE, UNCLEAR, WORSE, Comparison, Rule, claim_verdict, compare,
                             interval_text, spread, spread_table, verdict_sentence)

# t quantiles from a table (two-sided 95 %): t_{0.975, 2} = 4.302653, t_{0.975, 3} = 3.182446
T2, T3 = 4.302652729911275, 3.182446305284263


def test_paired_interval_by_hand():
    # d = a − b = [1.0, 1.1, 0.9, 1.0]: mean 1, s² = (0 + .01 + .01 + 0) / 3, half-width = t₃ · s / √4
    a = {(0, 0): 2.0, (0, 1): 2.1, (1, 0): 1.9, (1, 1): 3.0}
    b = {(0, 0): 1.0, (0, 1): 1.0, (1, 0): 1.0, (1, 1): 2.0}
    c = compare(a, b, a="A", b="B", metric="m")
    half = T3 * math.sqrt(0.02 / 3) / 2
    assert c.n == 4 and c.mean == pytest.approx(1.0)
    assert (c.low, c.high) == pytest.approx((1 - half, 1 + half))
    assert c.verdict == BETTER
    assert compare(a, b, higher_is_better=False).verdict == WORSE
    assert compare(b, a).verdict == WORSE and compare(b, a, higher_is_better=False).verdict == BETTER


def test_interval_crossing_zero_is_no_clear_difference():
    # d = [1, 2, 3]: mean 2, s = 1, half-width t₂/√3 = 2.484 > 2
    c = compare([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert (c.low, c.high) == pytest.approx((2 - T2 / math.sqrt(3), 2 + T2 / math.sqrt(3)))
    assert c.low < 0 and c.verdict == UNCLEAR


def test_minimum_effect_and_confidence():
    a, b = [2.0, 2.1, 1.9, 2.0], [1.0, 1.0, 1.0, 1.0]  # interval [0.870, 1.130]
    assert compare(a, b, rule=Rule(min_effect=0.8)).verdict == BETTER
    assert compare(a, b, rule=Rule(min_effect=0.9)).verdict == UNCLEAR
    wide = compare(a, b, rule=Rule(confidence=0.999))
    assert wide.high - wide.low > compare(a, b).high - compare(a, b).low
    with pytest.raises(ValueError, match="confidence"):
        Rule(confidence=1.5)
    with pytest.raises(ValueError, match="min_effect"):
        Rule(min_effect=-1)


def test_only_shared_finite_pairs_count():
    a = {(0, 0): 1.0, (0, 1): 2.0, (1, 0): float("nan"), (2, 0): 9.0}
    b = {(0, 0): 0.0, (0, 1): 0.5, (1, 0): 0.0}
    c = compare(a, b)
    assert c.n == 2 and c.mean == pytest.approx(1.25)


def test_one_run_does_not_raise():
    c = compare([0.3], [0.2], a="SSL-SaN", b="EZ-VSL", metric="pIA silence")
    assert c.n == 1 and c.mean == pytest.approx(0.1)
    assert math.isnan(c.low) and math.isnan(c.high)
    assert c.verdict == UNCLEAR and c.basis == ONE_RUN
    assert interval_text(c) == "+0.100 (one run)"
    assert verdict_sentence(c) == ("SSL-SaN shows no clear difference from EZ-VSL on pIA silence: +0.100 "
                                   "(one run (no interval)).")


def test_nan_everywhere():
    c = compare([float("nan")], [0.2])
    assert c.n == 0 and c.verdict == UNCLEAR and interval_text(c) == "—"
    assert "—" in verdict_sentence(c)
    with pytest.raises(ValueError, match="paired"):
        compare([1.0, 2.0], [1.0])
    with pytest.raises(TypeError):
        compare({(0, 0): 1.0}, [1.0])


def test_sentence_and_claim():
    c = compare([2.0, 2.1, 1.9, 2.0], [1.0, 1.0, 1.0, 1.0], a="A", b="B", metric="m")
    assert verdict_sentence(c) == ("A is better than B on m: +1.000 [+0.870, +1.130] "
                                   "(paired 95% t-interval over 4 pairs).")
    unclear = Comparison("A", "B", "m", 0.1, -0.1, 0.3, 3, UNCLEAR, "")
    worse = Comparison("A", "B", "m", -1, -2, -0.5, 3, WORSE, "")
    assert claim_verdict([c, c]) == "supported"
    assert claim_verdict([c, unclear]) == "not shown"
    assert claim_verdict([c, worse]) == "contradicted"
    assert claim_verdict([]) == "not shown"


def test_spread_components_on_a_constructed_grid():
    # trunk 0: 1, 3 (mean 2, std √2); trunk 1: 5, 7 (mean 6, std √2); trunk means 2, 6 → std 2√2
    grid = {(0, 0): 1.0, (0, 1): 3.0, (1, 0): 5.0, (1, 1): 7.0}
    s = spread(grid)
    assert s.mean == pytest.approx(4.0) and s.n == 4
    assert s.total_std == pytest.approx(math.sqrt((9 + 1 + 1 + 9) / 3))
    assert s.pretrain_std == pytest.approx(2 * math.sqrt(2))
    assert s.within_std == pytest.approx(math.sqrt(2))
    one = spread({(0, 0): 1.0})
    assert one.mean == 1.0 and math.isnan(one.total_std) and math.isnan(one.pretrain_std) and math.isnan(one.within_std)
    table = spread_table({"A": grid, "B": {(0, 0): 1.0, (0, 1): float("nan")}})
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "std across trunks"] == pytest.approx(2 * math.sqrt(2)) and table.loc["B", "runs"] == 1


# ------------------------------------------------------------------ the pretraining-seed grid (experiments)

from sslsan import experiments  # noqa: E402

TRUNKS = {"image": "/x/image_trunk.pt", "audio": "/x/audio_trunk.pt"}


def test_run_name_unchanged_for_pretrain_seed_zero():
    config = experiments.config_for(experiments.plan(False), TRUNKS, experiments.SSL_SAN, 1)
    # the name the first book runs were stored under (computed before pretraining seeds existed)
    assert experiments.run_name(config) == "san-silence+noise-extra-negatives-r0.25-white1-s1-68a0d824"
    assert experiments.run_name(config, 0) == experiments.run_name(config)
    assert experiments.run_name(config, 2) == experiments.run_name(config) + "-p2"


def test_pretrained_folders_and_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSAN_HOME", str(tmp_path))
    p = experiments.plan(False)
    assert p.pretrain_seeds == (0, 1) and experiments.plan(True).pretrain_seeds == (0,)
    assert experiments.pretrained_dir(p, 0).name == "pretrained"
    assert experiments.pretrained_dir(p, 1).name == "pretrained-p1"
    assert experiments.pretrain_configs(p, 0) == (p.image_pretrain, p.audio_pretrain)
    image, audio = experiments.pretrain_configs(p, 1)
    assert image.seed == p.image_pretrain.seed + 1 and audio.seed == p.audio_pretrain.seed + 1


def _report(value):
    return {"rows": {"model": {"negative": {"silence": {"pia": value}}}}}


def test_grid_runs_keys_without_training(tmp_path, monkeypatch):
    p = experiments.replace(experiments.plan(True), pretrain_seeds=(0, 1), seeds=(0, 1))
    monkeypatch.setattr(experiments, "ensure_all_pretrained",
                        lambda p, data, progress=True: {k: {"image": f"i{k}", "audio": f"a{k}"}
                                                        for k in p.pretrain_seeds})
    made = []
    monkeypatch.setattr(experiments, "ensure_run", lambda p, config, data, progress=True, pretrain_seed=0:
                        made.append((config.image_init, config.seed, pretrain_seed)) or tmp_path / str(len(made)))
    runs = experiments.ensure_grid_runs(p, tmp_path, {"EZ-VSL": None, "SSL-SaN": experiments.SSL_SAN})
    assert list(runs) == ["EZ-VSL", "SSL-SaN"]
    assert list(runs["EZ-VSL"]) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert made[:4] == [("i0", 0, 0), ("i0", 1, 0), ("i1", 0, 1), ("i1", 1, 1)]


def test_grid_values_compare_and_best_setting():
    reports = {"A": {(0, 0): _report(0.50), (0, 1): _report(0.52), (1, 0): _report(0.40), (1, 1): _report(0.41)},
               "B": {(0, 0): _report(0.30), (0, 1): _report(0.31), (1, 0): _report(0.21), (1, 1): _report(0.20)},
               "C": {(0, 0): _report(0.60), (0, 1): _report(0.30), (1, 0): _report(0.50), (1, 1): _report(0.20)}}
    values = experiments.grid_values(reports, "pIA silence")
    assert values["A"] == {(0, 0): 0.50, (0, 1): 0.52, (1, 0): 0.40, (1, 1): 0.41}
    c = experiments.compare_grid(reports, "A", "B", "pIA silence")
    assert c.n == 4 and c.mean == pytest.approx(0.2025) and c.verdict == BETTER
    best, tied = experiments.best_setting(reports, "pIA silence")
    assert best == "A" and tied == ["C"]  # C's paired differences from A swing both ways; B is clearly worse
    assert experiments.best_setting(reports, "pIA silence", higher_is_better=False)[0] == "B"
    one = experiments.as_grid({"A": [_report(0.5)], "B": [_report(0.3)]}, experiments.plan(True))
    assert list(one["A"]) == [(0, 0)]
    assert experiments.compare_grid(one, "A", "B", "pIA silence").basis == ONE_RUN


def test_rule_in_words():
    assert "95% t-interval" in RULE.describe() and "excludes zero" in RULE.describe()
    assert "beyond ±0.02" in Rule(min_effect=0.02).describe()
