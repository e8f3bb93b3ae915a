"""Training: outputs, reproducibility, exact resume, SaN modes, refusal to mix runs, DDP gradients."""

import json
import subprocess
import sys

import pytest
import torch

from sslsan.methods import SaNConfig
from sslsan.negatives import NoiseConfig
from sslsan.runs import TrainConfig, build_model, load_run, preset
from sslsan.train import train

from conftest import ROOT, clean_env


def tiny(**overrides) -> TrainConfig:
    base = dict(epochs=2, batch_size=8, dim=32, image_init="scratch", workers=0)
    base.update(overrides)
    return preset("mini-cpu", **base)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def initial_weights(config):
    """The weights a run of ``config`` starts from (what ``train`` builds after seeding)."""
    torch.manual_seed(config.seed)
    return weights(build_model(config))


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_training_writes_a_complete_run(synthetic_data, tmp_path):
    out = tmp_path / "run"
    before = initial_weights(tiny())
    model = train(tiny(), synthetic_data, out, progress=False, cache_dir=tmp_path / "cache")
    for name in ("config.json", "metrics.csv", "validation.json", "last.pt", "model.pt", "done.json"):
        assert (out / name).is_file(), name
    history = json.loads((out / "validation.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1] and all("val_loss" in h for h in history)
    rows = (out / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2 * (24 // 8)  # header + one row per step
    changed = weights(model)
    assert not same_weights(before, changed), "training did not change the weights"
    assert torch.equal(changed["image.trunk.0.weight"], before["image.trunk.0.weight"]), "frozen trunk moved"
    loaded, config = load_run(out)
    assert config == tiny() and same_weights(weights(loaded), changed)


@pytest.mark.slow
def test_same_seed_same_weights_and_exact_resume(synthetic_data, tmp_path):
    config = tiny(san=SaNConfig(kinds=("silence", "noise")))
    full = weights(train(config, synthetic_data, tmp_path / "a", progress=False))
    again = weights(train(config, synthetic_data, tmp_path / "b", progress=False))
    assert same_weights(full, again)
    train(config, synthetic_data, tmp_path / "c", progress=False, max_epochs=1)  # "killed" after epoch 1
    assert not (tmp_path / "c" / "model.pt").exists()
    resumed = weights(train(config, synthetic_data, tmp_path / "c", progress=False, resume=True))
    assert same_weights(full, resumed)
    steps = (tmp_path / "c" / "metrics.csv").read_text().strip().splitlines()
    assert len(steps) == 1 + 2 * 3  # no duplicated rows after the resume


@pytest.mark.slow
def test_a_run_folder_is_never_mixed_or_overwritten(synthetic_data, tmp_path):
    train(tiny(epochs=1), synthetic_data, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train(tiny(epochs=1, lr=1e-3), synthetic_data, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="finished run"):
        train(tiny(epochs=1), synthetic_data, tmp_path / "run", progress=False)
    train(tiny(epochs=2), synthetic_data, tmp_path / "started", progress=False, max_epochs=1)
    with pytest.raises(ValueError, match="--resume"):
        train(tiny(epochs=2), synthetic_data, tmp_path / "started", progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("san", [
    SaNConfig(mode="extra-negatives", kinds=("silence",)),
    SaNConfig(mode="replacement", ratio=0.25),
    SaNConfig(mode="penalty", kinds=("noise",), noise=NoiseConfig("pink", 0.1)),
])
def test_every_san_mode_trains(synthetic_data, tmp_path, san):
    train(tiny(epochs=1, san=san), synthetic_data, tmp_path / "run", progress=False)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    assert "neg_peak" in header


@pytest.mark.slow
def test_frozen_audio_stages_are_cached_and_stay_fixed(synthetic_data, tmp_path):
    """With the audio trunk frozen up to layer4, views are encoded once; training moves only layer4 + projections."""
    config = tiny(audio_train_from="layer4", audio_views=2, noise_bank=8, san=SaNConfig())
    cache = tmp_path / "cache"
    before = initial_weights(tiny(audio_train_from="layer4"))
    after = weights(train(config, synthetic_data, tmp_path / "run", cache_dir=cache, progress=False))
    assert len(list(cache.glob("audio-views-*.pt"))) == 1
    for name in after:
        moved = not torch.equal(before[name], after[name])
        if name.startswith("audio.trunk.") and int(name.split(".")[2]) < 7:
            assert not moved, f"{name} is frozen but changed"
        if name.startswith(("audio.trunk.7.", "audio.proj.", "image.proj.")) and name.endswith("weight"):
            assert moved, f"{name} should train"
    # a second run with the same frozen stages (here: same seed of a scratch trunk, another loss) reuses the views
    train(tiny(audio_train_from="layer4", audio_views=2, noise_bank=8), synthetic_data, tmp_path / "run2",
          cache_dir=cache, progress=False)
    assert len(list(cache.glob("audio-views-*.pt"))) == 1


def test_config_round_trips_through_json():
    config = tiny(san=SaNConfig(mode="penalty", noise=NoiseConfig("pink", 0.3)))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown training preset"):
        preset("huge")


@pytest.mark.slow
def test_ddp_on_two_gloo_processes_matches_single_process_gradients(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node"]
    for world in (1, 2):
        out = subprocess.run(torchrun + [str(world), str(ROOT / "tests" / "ddp_worker.py"),
                                         str(tmp_path / f"w{world}.pt")], capture_output=True, text=True,
                             env=clean_env(OMP_NUM_THREADS="1"), cwd=ROOT, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    single = torch.load(tmp_path / "w1.pt", weights_only=True)
    ddp = torch.load(tmp_path / "w2.pt", weights_only=True)
    assert torch.allclose(single["loss"], ddp["loss"], atol=1e-5)
    assert single["grads"].keys() == ddp["grads"].keys() and len(single["grads"]) > 100
    for name, grad in single["grads"].items():
        assert torch.allclose(grad, ddp["grads"][name], rtol=1e-3, atol=1e-6), name
