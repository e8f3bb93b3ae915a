import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sslsan import config
from sslsan.errors import UsageError


@pytest.mark.parametrize("value, expected", [(None, False), ("", False), ("0", False), ("1", True), ("true", True),
                                             ("Yes", True), ("off", False), (True, True), (False, False)])
def test_is_smoke_parses_values(monkeypatch, value, expected):
    monkeypatch.delenv(config.SMOKE_ENV, raising=False)
    assert config.is_smoke(value) is expected


def test_is_smoke_reads_the_environment(monkeypatch):
    monkeypatch.setenv(config.SMOKE_ENV, "1")
    assert config.is_smoke() is True
    assert config.is_smoke(False) is False  # an explicit parameter wins


def test_is_smoke_rejects_garbage(monkeypatch):
    monkeypatch.setenv(config.SMOKE_ENV, "maybe")
    with pytest.raises(ValueError, match="SSLSAN_SMOKE"):
        config.is_smoke()


def test_announce_prints_the_banner_only_in_smoke(capsys):
    config.announce(False)
    assert capsys.readouterr().out == ""
    config.announce(True)
    assert "SMOKE RUN" in capsys.readouterr().out


def test_cache_root_and_work_dirs(monkeypatch, tmp_path):
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    assert config.cache_root() == tmp_path / "home"
    assert config.work_dir(True) != config.work_dir(False)
    monkeypatch.delenv(config.HOME_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_root() == tmp_path / "xdg" / "sslsan"


def test_display_path_is_never_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    shown = config.display_path(tmp_path / "home" / "work" / "run1")
    assert shown == os.path.join("$SSLSAN_HOME", "work", "run1")
    assert not Path(config.display_path("/somewhere/else/file.txt")).is_absolute()


def test_seed_everything_is_reproducible():
    a = config.seed_everything(3)
    x1, t1 = a.random(4), torch.rand(4)
    b = config.seed_everything(3)
    x2, t2 = b.random(4), torch.rand(4)
    np.testing.assert_array_equal(x1, x2)
    assert torch.equal(t1, t2)


def test_quiet_hides_bars_when_asked_or_when_tqdm_disable_is_set(monkeypatch):
    from sslsan.config import quiet

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert quiet(False) and not quiet(True)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert quiet(True)
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert not quiet(True)


def test_describe_device_names_the_precision(monkeypatch):
    text = config.describe_device("cpu", amp=False)
    assert text.startswith("cpu (") and text.endswith("float32") and "threads" in text
    monkeypatch.setattr(config, "bf16_is_fast", lambda device: True)
    assert config.describe_device("cpu").endswith("bfloat16 autocast")
    assert config.describe_device("cpu", amp=False).endswith("float32")  # asked for float32: float32


def test_named_streams_never_share_a_key():
    """Every (stream, epoch, rank, chunk) a run draws from gives a different generator — in particular rank 1's
    negatives are not the view-choice stream (they were, when streams were numbers written at each call)."""
    seen = {}
    for epoch in range(3):
        for rank in range(4):
            keys = [(config.Stream.NEGATIVES, 0, rank)] + ([(s, 0, 0) for s in config.Stream
                                                            if s is not config.Stream.NEGATIVES] if rank == 0 else [])
            if epoch == 0 and rank == 0:
                keys += [(config.Stream.NOISE_BANK, i, 0) for i in range(64, 512, 64)]
            for stream, index, r in keys:
                draw = tuple(torch.randint(2**31, (4,), generator=config.stream_generator(
                    7, stream, epoch, rank=r, index=index)).tolist())
                assert draw not in seen, (stream, epoch, r, index, seen.get(draw))
                seen[draw] = (stream, epoch, r, index)


def test_stream_generators_are_reproducible_and_keep_their_keys():
    first = torch.rand(3, generator=config.stream_generator(3, config.Stream.ORDER, 2))
    assert torch.equal(first, torch.rand(3, generator=config.stream_generator(3, config.Stream.ORDER, 2)))
    # rank 0 keeps the key [seed, epoch, stream] that runs made before the streams had names
    legacy = torch.Generator().manual_seed(int(np.random.SeedSequence([3, 2, 0]).generate_state(1)[0]))
    assert torch.equal(first, torch.rand(3, generator=legacy))
    with pytest.raises(ValueError):
        config.stream_generator(3, config.Stream.ORDER, index=64)


def test_pick_device_refuses_devices_that_do_not_exist():
    assert config.pick_device("cpu").type == "cpu"
    with pytest.raises(UsageError, match="not a device name"):
        config.pick_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no such CUDA device"):
            config.pick_device("cuda:0")
