"""Shared fixtures. Tests never download anything; heavy artefacts go to a per-session temporary SSLSAN_HOME."""

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
