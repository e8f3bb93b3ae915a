"""The evaluation runner: report structure, reference rows, determinism, thresholds, caching, the CLI."""

import json

import numpy as np
import pytest
import torch

from sslsan.cli import main
from sslsan.evaluate import Conditions, EvalConfig, evaluate, fit_threshold, read_report, write_report
from sslsan.features import AudioEmbedder
from sslsan.reference_rows import ConditionMaps
from sslsan.runs import load_run

SEEDS = (1234, 2345)


@pytest.fixture(scope="module")
def report(synthetic_run, synthetic_data, tmp_path_factory):
    model, config = load_run(synthetic_run)
    result = evaluate(model, synthetic_data, EvalConfig(seeds=SEEDS), seed=config.seed,
                      audio_start=config.audio_start, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return result


@pytest.mark.slow
def test_report_has_protocol_first_and_every_row(report):
    data, arrays = report
    assert list(data) == ["protocol", "rows"]
    protocol = data["protocol"]
    for key in ("dataset", "split", "queries", "images", "negatives", "map", "policies", "device", "code"):
        assert key in protocol, key
    assert protocol["queries"] == 12 and protocol["images"] == 6 and protocol["negatives"]["seeds"] == list(SEEDS)
    assert set(data["rows"]) == {"model", "untrained", "centre_prior", "objectness", "gt_pooled"}
    model = data["rows"]["model"]
    assert model["negative"]["silence"]["draws"] == 1
    assert model["negative"]["noise"]["draws"] == model["negative"]["offscreen"]["draws"] == len(SEEDS)
    assert arrays["model/ciou_median"].shape == (12,)
    assert arrays["model/max_noise"].shape == (12 * len(SEEDS),)
    for block in model["positive"]["all"].values():
        if isinstance(block, dict):
            assert all(0.0 <= v <= 1.0 for v in block.values())
    assert set(model["retrieval"]) == {f"{d}@{k}" for d in ("a2i", "i2a") for k in (1, 5, 10)}
    assert set(model["threshold"]["per_kind"]) == {"silence", "noise", "offscreen"}
    assert model["threshold"]["value"] == max(model["threshold"]["per_kind"].values())


@pytest.mark.slow
def test_reference_rows_behave_as_references(report):
    rows = report[0]["rows"]
    ceiling = rows["gt_pooled"]["diagnostics"]["all"]
    assert ceiling["pointing"] >= 0.9 and ceiling["own_beats_other"] == 1.0
    prior = rows["centre_prior"]
    assert prior["diagnostics"]["all"]["both_found"] == 0.0
    assert prior["diagnostics"]["all"]["pair_correlation"] == pytest.approx(1.0)
    for row in ("centre_prior", "objectness"):  # audio-agnostic: negative maps are the positive maps
        for kind in ("silence", "noise", "offscreen"):
            assert rows[row]["negative"][kind]["map_iou_with_positive"] == pytest.approx(1.0)
            assert rows[row]["negative"][kind]["p_positive_max_higher"] == 0.0
    assert "negative" not in rows["gt_pooled"]


@pytest.mark.slow
def test_same_model_same_report(report, synthetic_run, synthetic_data, tmp_path):
    """Same model, same protocol, same cache → the same report, number for number; and it survives a round trip."""
    model, config = load_run(synthetic_run)
    cache = tmp_path / "cache"
    first = evaluate(model, synthetic_data, EvalConfig(seeds=SEEDS), seed=config.seed, references=("untrained",),
                     audio_start=config.audio_start, cache_dir=cache, progress=False)
    second = evaluate(model, synthetic_data, EvalConfig(seeds=SEEDS), seed=config.seed, references=("untrained",),
                      audio_start=config.audio_start, cache_dir=cache, progress=False)
    assert first[0]["rows"] == second[0]["rows"]
    assert first[0]["rows"]["untrained"] == report[0]["rows"]["untrained"]  # same seed → same untrained model
    write_report(*first, tmp_path / "r.json")
    back, back_arrays = read_report(tmp_path / "r.json")
    assert back == json.loads(json.dumps(first[0]))
    assert sorted(back_arrays) == sorted(first[1])
    np.testing.assert_array_equal(back_arrays["model/ciou_median"], first[1]["model/ciou_median"])


def conditions_with_maxima(maxima: dict) -> Conditions:
    def maps(values):
        out = torch.zeros(len(values), 2, 2)
        out[:, 0, 0] = torch.tensor(values)
        return ConditionMaps(out)

    return Conditions(maps([0.9] * 4), {kind: maps(v) for kind, v in maxima.items()})


def test_fit_threshold_hardest_kind_and_pooled():
    cond = conditions_with_maxima({"silence": [0.0, 0.1, 0.2, 0.3], "offscreen": [0.4, 0.5, 0.6, 0.7]})
    hardest = fit_threshold(cond, 0.75, "hardest")
    assert hardest["per_kind"] == pytest.approx({"silence": 0.225, "offscreen": 0.625})
    assert hardest["value"] == pytest.approx(0.625) and "offscreen" in hardest["statistic"]
    pooled = fit_threshold(cond, 0.75, "pooled")
    assert pooled["value"] == pytest.approx(np.quantile([0, .1, .2, .3, .4, .5, .6, .7], 0.75))
    with pytest.raises(ValueError, match="threshold_combine"):
        fit_threshold(cond, 0.75, "average")


@pytest.mark.slow
def test_cached_frozen_stages_give_the_same_embeddings(synthetic_run, tmp_path):
    model, config = load_run(synthetic_run)
    waves = torch.randn(5, 48000) * 0.1
    full = AudioEmbedder(model, torch.device("cpu"))("x", lambda: waves)
    cached = AudioEmbedder(model, torch.device("cpu"), config.audio_start, tmp_path)
    first = cached("x", lambda: waves)
    second = cached("x", lambda: pytest.fail("the cached prefix should have been reused"))
    assert torch.equal(first, second)
    assert torch.allclose(first, full, atol=0.05)  # the cache stores bfloat16


@pytest.mark.slow
def test_cli_writes_the_report(synthetic_run, synthetic_data, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = main(["evaluate", "--data", str(synthetic_data), "--run", str(synthetic_run), "--out", str(out),
                 "--seeds", "fixed", "--references", "centre_prior"])
    assert code == 0 and out.is_file() and out.with_suffix(".npz").is_file()
    data = json.loads(out.read_text())
    assert set(data["rows"]) == {"model", "centre_prior"}
    assert data["protocol"]["negatives"]["seeds"] == "the dataset's fixed negatives"
    assert "mean cIoU" in capsys.readouterr().out


def test_cli_errors_name_the_problem(tmp_path, synthetic_data, capsys):
    assert main(["evaluate", "--data", str(synthetic_data), "--run", str(tmp_path), "--out", "x.json"]) == 2
    assert "no config.json" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{}")
    assert main(["evaluate", "--data", str(tmp_path), "--run", str(tmp_path), "--out", "x.json"]) == 2
    assert "no dataset.json" in capsys.readouterr().err
