"""Precision as an explicit, recorded option, and how far the float32 and bfloat16 paths of one recipe differ.

Measured on the synthetic fixture (mini-cpu recipe, dim 32, batch 8, same seed and weights; Xeon with AMX, torch
2.11), float32 vs bfloat16 autocast:
  * frozen-trunk image features: relative L2 difference 0.8 %; audio embeddings 0.8 %;
  * first training loss (same weights, same batch): 3.58 vs 3.46, 3.2 % apart — the contrastive logits are cosines
    divided by τ = 0.03, so a 0.8 % feature difference becomes ~0.1 nat;
  * after that the trajectories diverge: per-step losses differ by up to 0.83 nat within two epochs, the mean loss
    of the first 3 steps by 9.7 %, of 6 steps by 2.3 %.
So a change of precision is a change of trajectory, comparable to a change of seed: results must record it (and
the verdicts must not rest on one trajectory). The tolerances below are about 3× the measured differences.
"""

import json

import numpy as np
import pytest
import torch

from sslsan.config import (PRECISIONS, amp_option, autocast, bf16_is_fast, describe_device, precision_key,
                           precision_name, requested_precision)
from sslsan.errors import UsageError
from sslsan.pretrain import PretrainConfig, stored_precision
from sslsan.runs import build_model, preset
from sslsan.train import train

FEATURE_TOLERANCE = 0.03  # relative L2 (measured 0.008)
FIRST_LOSS_TOLERANCE = 0.10  # relative (measured 0.032)
MEAN_LOSS_TOLERANCE = 0.30  # relative, mean of the first 3 steps (measured 0.097)


def test_requested_precision_spellings_and_errors():
    assert PRECISIONS == ("float32", "bfloat16")
    assert [requested_precision(v) for v in (True, "auto", False, "float32", "bfloat16")] == [
        "auto", "auto", "float32", "float32", "bfloat16"]
    for bad in ("bf16", "fp32", 1, None):
        with pytest.raises(UsageError, match="precision"):
            requested_precision(bad)
    with pytest.raises(UsageError, match="amp"):
        preset("mini-cpu", amp="bf16")
    with pytest.raises(UsageError, match="precision"):
        PretrainConfig(amp="half")
    assert [amp_option(p) for p in ("auto", "float32", "bfloat16")] == [True, False, "bfloat16"]


def test_precision_name_and_key():
    auto = "bfloat16" if bf16_is_fast("cpu") else "float32"
    assert precision_name("cpu", True) == precision_name("cpu", "auto") == auto
    assert precision_name("cpu", False) == "float32" and precision_name("cpu", "bfloat16") == "bfloat16"
    assert precision_key("bfloat16") == "" and precision_key("float32") == "-fp32"
    with pytest.raises(UsageError):
        precision_key("auto")
    assert describe_device("cpu", "float32").endswith("float32")
    assert describe_device("cpu", "bfloat16").endswith("bfloat16 autocast")
    assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", "bfloat16"):
        assert torch.is_autocast_enabled("cpu")
    with autocast("cpu", "float32"):
        assert not torch.is_autocast_enabled("cpu")


def test_trunks_saved_before_precision_was_recorded():
    assert stored_precision({"precision": "float32", "device": "cpu (x), bfloat16 autocast"}) == "float32"
    assert stored_precision({"device": "cpu (Xeon, 2 threads), bfloat16 autocast"}) == "bfloat16"
    assert stored_precision({"device": "cpu (Xeon, 2 threads), float32"}) == "float32"


def test_run_names_separate_precisions():
    from sslsan import experiments

    trunks = {"image": "/x/image_trunk.pt", "audio": "/x/audio_trunk.pt"}
    config = experiments.config_for(experiments.plan(False), trunks, None, 0)
    assert experiments.run_name(config, precision="bfloat16") == experiments.run_name(config)
    assert experiments.run_name(config, precision="float32") == experiments.run_name(config) + "-fp32"
    # one request, several spellings: one name
    for a, b in ((True, "auto"), (False, "float32")):
        assert experiments.run_name(experiments.replace(config, amp=a)) == experiments.run_name(
            experiments.replace(config, amp=b))
    assert experiments.pretrained_dir(experiments.plan(False), 1, "float32").name == "pretrained-p1-fp32"


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_features_agree_across_precisions():
    torch.manual_seed(0)
    model = build_model(preset("mini-cpu", dim=32, image_init="scratch", audio_init="scratch")).eval()
    images, waves = torch.rand(4, 3, 112, 112), torch.randn(4, 48_000) * 0.1
    with torch.no_grad():
        image32, audio32 = model.image.features(images).float(), model.audio(waves).float()
        with autocast("cpu", "bfloat16"):
            image16, audio16 = model.image.features(images).float(), model.audio(waves).float()
    assert 0 < _relative(image16, image32) < FEATURE_TOLERANCE
    assert 0 < _relative(audio16, audio32) < FEATURE_TOLERANCE


def _step_losses(out) -> np.ndarray:
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().strip().splitlines()]
    column = rows[0].index("loss")
    return np.array([float(r[column]) for r in rows[1:]])


@pytest.mark.slow
def test_training_losses_agree_and_precision_is_recorded(synthetic_data, tmp_path):
    losses = {}
    for precision in PRECISIONS:
        out = tmp_path / precision
        config = preset("mini-cpu", epochs=1, batch_size=8, dim=32, image_init="scratch", workers=0,
                        amp=amp_option(precision))
        train(config, synthetic_data, out, progress=False, cache_dir=tmp_path / f"cache-{precision}")
        assert json.loads((out / "done.json").read_text())["precision"] == precision
        assert json.loads((out / "config.json").read_text())["precision"] == precision
        losses[precision] = _step_losses(out)
    full, half = losses["float32"], losses["bfloat16"]
    assert len(full) == len(half) == 3
    assert abs(half[0] - full[0]) / full[0] < FIRST_LOSS_TOLERANCE
    assert abs(half.mean() - full.mean()) / full.mean() < MEAN_LOSS_TOLERANCE


def test_cli_precision_option(tmp_path):
    from sslsan.cli import build_parser
    from sslsan.cli.train import config_from_args

    parser = build_parser()
    base = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    assert config_from_args(parser.parse_args(base)).amp is True  # the preset's default
    assert config_from_args(parser.parse_args(base + ["--precision", "float32"])).amp is False
    assert config_from_args(parser.parse_args(base + ["--precision", "bfloat16"])).amp == "bfloat16"
    assert config_from_args(parser.parse_args(base + ["--precision", "auto"])) == config_from_args(
        parser.parse_args(base))
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--precision", "fp16"])
    pretrain = parser.parse_args(["pretrain", "--data", str(tmp_path), "--out", str(tmp_path), "--precision",
                                  "float32"])
    assert pretrain.precision == "float32"


def test_feature_caches_are_keyed_by_precision(synthetic_data, tmp_path):
    from sslsan.data.is3 import read_queries
    from sslsan.features import image_trunk_features, precision_part

    assert precision_part("cpu", "bfloat16") == () and precision_part("cpu", "float32") == ("float32",)
    torch.manual_seed(0)
    model = build_model(preset("mini-cpu", dim=32, image_init="scratch"))
    queries = read_queries(synthetic_data, "train")[:4]
    cache = tmp_path / "cache"
    for amp in ("float32", "bfloat16", "float32"):
        image_trunk_features(model, synthetic_data, queries, 112, torch.device("cpu"), cache, amp=amp, progress=False)
    assert len(list(cache.iterdir())) == 2  # one cache per precision; the second float32 call found its own
