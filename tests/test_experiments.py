"""The book's experiment plan: run naming and sharing, summaries, glue keys."""

from dataclasses import replace

import pytest

from sslsan import experiments
from sslsan.methods import SaNConfig


def test_identical_settings_share_one_run_folder():
    p = experiments.plan(smoke=True)
    pre = {"image": "img.pt", "audio": "aud.pt"}
    both = experiments.config_for(p, pre, experiments.SSL_SAN, 0)
    same = experiments.config_for(p, pre, experiments.ABLATIONS["which negatives"]["both"], 0)
    assert experiments.run_name(both) == experiments.run_name(same)
    assert experiments.run_name(both) != experiments.run_name(replace(both, seed=1))
    assert experiments.run_name(experiments.config_for(p, pre, None, 0)).startswith("ezvsl-s0-")
    silence = experiments.config_for(p, pre, SaNConfig(kinds=("silence",)), 0)
    assert experiments.run_name(silence) != experiments.run_name(both)


def test_full_plan_states_every_budget():
    full, smoke = experiments.plan(False), experiments.plan(True)
    assert full.seeds == (0, 1, 2) and len(smoke.seeds) == 1
    assert full.evaluation.seeds and len(full.evaluation.seeds) == 10
    assert full.base.frozen_trunk and full.base.image_size == 112
    assert smoke.base.epochs < full.base.epochs and smoke.data_preset == "tiny"
    for group in experiments.ABLATIONS.values():
        assert len(group) >= 2


def fake_report(value):
    row = {"positive": {"all": {"median": {"mean_ciou": value, "ciou@0.5": value, "auc": value}}},
           "negative": {"silence": {"pia": 1 - value}}}
    return {"rows": {"model": row, "centre_prior": row}}


def test_seed_table_gives_mean_and_spread():
    reports = {"a": [fake_report(0.2), fake_report(0.4)], "b": [fake_report(0.5)]}
    table, long = experiments.seed_table(reports, columns=["mean cIoU", "pIA silence", "pointing"])
    assert table.loc["a", "mean cIoU"] == "0.300 ± 0.141"
    assert table.loc["b", "pIA silence"] == "0.500 ± 0.000"
    assert table.loc["a", "pointing"].startswith("nan")  # a column the reports do not have
    assert len(long) == 3 * 3
    assert experiments.metric(reports["a"][0]["rows"]["model"], "positive/{part}/median/auc") == 0.2
    assert experiments.metric(reports["a"][0]["rows"]["model"], "negative/noise/pia") != experiments.metric(
        reports["a"][0]["rows"]["model"], "negative/noise/pia")  # nan: the row has no such number


def test_results_table_puts_references_first():
    reports = {"EZ-VSL": [(fake_report(0.3), {})]}
    table = experiments.results_table(reports, columns=["mean cIoU"])
    assert list(table.index) == ["centre prior", "EZ-VSL"]
    assert table.loc["centre prior", "mean cIoU"] == "0.300"


@pytest.mark.parametrize("parts, key", [(("ez", "P(pos>sil)"), "ez_p_pos_sil"),
                                        (("san", "unseen", "mean cIoU"), "san_unseen_mean_ciou"),
                                        (("ez", "R@1 a→i"), "ez_r_at_1_a2i")])
def test_glue_keys_are_plain_names(parts, key):
    assert experiments.glue_key(*parts) == key
