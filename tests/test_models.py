import math

import pytest
import torch

from sslsan.models import (AVModel, AudioEncoder, ImageEncoder, ModelConfig, load_state, localization_maps,
                           similarity_maps, upsample)


@pytest.mark.parametrize("size, last_stride, grid", [(224, 2, 7), (112, 1, 7), (128, 1, 8)])
def test_image_encoder_grid_and_norm(size, last_stride, grid):
    encoder = ImageEncoder(dim=64, last_stride=last_stride).eval()
    with torch.no_grad():
        maps = encoder(torch.rand(2, 3, size, size))
    assert maps.shape == (2, 64, grid, grid)
    assert torch.allclose(maps.norm(dim=1), torch.ones(2, grid, grid), atol=1e-5)
    assert ModelConfig(image_size=size, last_stride=last_stride).map_size == grid


@pytest.mark.parametrize("preset", ["legacy", "mini"])
def test_audio_encoder_embeds_waveforms(preset):
    encoder = AudioEncoder(dim=32, front_end=preset).eval()
    with torch.no_grad():
        emb = encoder(torch.randn(3, 48000) * 0.1)
    assert emb.shape == (3, 32)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)


def test_similarity_diagonal_is_the_localisation_map():
    image_maps = torch.nn.functional.normalize(torch.randn(4, 16, 7, 7), dim=1)
    audio = torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    full = similarity_maps(image_maps, audio)
    assert full.shape == (4, 4, 7, 7)
    diag = localization_maps(image_maps, audio)
    assert torch.allclose(full[torch.arange(4), torch.arange(4)], diag, atol=1e-6)
    assert diag.abs().max() <= 1 + 1e-6  # cosines


def test_upsample_keeps_corners_and_range():
    maps = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    up = upsample(maps, 5)
    assert up.shape == (1, 5, 5)
    assert up[0, 0, 0] == 0 and up[0, -1, -1] == 3 and up[0, 0, -1] == 1  # align_corners=True
    assert up.min() >= 0 and up.max() <= 3


def test_model_forward_with_cached_features_matches_images():
    model = AVModel(ModelConfig(dim=32, image_size=112, last_stride=1, front_end="mini")).eval()
    images, waves = torch.rand(2, 3, 112, 112), torch.randn(2, 48000) * 0.1
    with torch.no_grad():
        a = model(images, waves)
        b = model(None, waves, image_features=model.image.features(images))
        maps = model.localize(images, waves)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)
    assert maps.shape == (2, 224, 224)


def test_checkpoints_round_trip_with_weights_only(tmp_path):
    model = AVModel(ModelConfig(dim=16, image_size=112, last_stride=1, front_end="mini"))
    torch.save(model.state_dict(), tmp_path / "m.pt")
    other = AVModel(ModelConfig(dim=16, image_size=112, last_stride=1, front_end="mini"))
    other.load_state_dict(load_state(tmp_path / "m.pt"))
    for (name, x), (_, y) in zip(model.state_dict().items(), other.state_dict().items()):
        assert torch.equal(x, y), name


def test_load_state_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_state(tmp_path / "nothing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_state(tmp_path / "bad.pt")
