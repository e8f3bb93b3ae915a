import numpy as np
import pytest
import torch

from sslsan import negatives as neg


def test_silence_is_zeros():
    assert torch.count_nonzero(neg.silence(3, 100)) == 0


def test_white_noise_level_and_reproducibility():
    a = neg.white_noise(4, 48000, 1.0, torch.Generator().manual_seed(1))
    b = neg.white_noise(4, 48000, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert abs(a.std().item() - 1.0) < 0.01 and abs(a.mean().item()) < 0.01
    quiet = neg.white_noise(2, 48000, 0.1, torch.Generator().manual_seed(1))
    assert abs(quiet.std().item() - 0.1) < 0.002


def test_pink_noise_has_falling_spectrum_and_requested_rms():
    wave = neg.pink_noise(8, 32768, 0.5, torch.Generator().manual_seed(0))
    assert torch.allclose(wave.pow(2).mean(-1).sqrt(), torch.full((8,), 0.5), atol=1e-4)
    power = torch.fft.rfft(wave, dim=-1).abs().pow(2).mean(0)
    low, high = power[10:100].mean(), power[5000:10000].mean()
    assert low > 20 * high  # 1/f: about 100x between these bands


def test_ambience_crops_come_from_the_bank():
    bank = [torch.arange(1000.0), torch.arange(10.0) + 5000]
    out = neg.ambience(6, 200, bank, std=0.0, generator=torch.Generator().manual_seed(0))
    for row in out:
        diffs = torch.diff(row)
        assert ((diffs == 1) | (diffs == -9)).all()  # contiguous (or tiled) pieces of one recording
    scaled = neg.ambience(3, 200, bank, std=0.2, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(scaled.pow(2).mean(-1).sqrt(), torch.full((3,), 0.2), atol=1e-5)
    with pytest.raises(ValueError, match="bank"):
        neg.ambience(1, 10, [])


def test_seeded_noise_rows_depend_only_on_their_seed():
    a = neg.seeded_noise([5, 6, 7], 1000)
    b = neg.seeded_noise([7, 5], 1000)
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])
    assert not torch.equal(a[0], a[1])


def test_offscreen_shuffle_never_returns_a_class_of_the_image():
    waves = torch.arange(6.0).view(6, 1).repeat(1, 4)
    classes = torch.tensor([0, 0, 1, 1, 2, 2])
    for seed in range(20):
        out, index = neg.offscreen_shuffle(waves, classes, torch.Generator().manual_seed(seed))
        assert (classes[index] != classes).all()
        assert torch.equal(out, waves[index])
    # two classes per image: both are excluded (the companion protocol for IS3)
    multi = torch.tensor([[0, 1], [1, 2], [2, 0], [3, -1]])
    for seed in range(20):
        _, index = neg.offscreen_shuffle(torch.zeros(4, 2), multi, torch.Generator().manual_seed(seed))
        for i, j in enumerate(index.tolist()):
            assert int(multi[j, 0]) not in multi[i].tolist()


def test_offscreen_shuffle_fails_clearly_when_impossible():
    with pytest.raises(ValueError, match="no other pair"):
        neg.offscreen_shuffle(torch.zeros(3, 2), torch.tensor([4, 4, 4]))


def test_make_negatives_stacks_kinds():
    waves, kinds = neg.make_negatives(["silence", "noise"], 2, 300, generator=torch.Generator().manual_seed(0))
    assert waves.shape == (4, 300) and kinds == ["silence", "silence", "noise", "noise"]
    assert torch.count_nonzero(waves[:2]) == 0 and waves[2:].std() > 0.5
    with pytest.raises(ValueError, match="offscreen"):
        neg.make_negatives(["offscreen"], 1, 10)
    with pytest.raises(ValueError, match="noise type"):
        neg.NoiseConfig(type="brown")
