"""The losses of LVS, FNAC and SSL-TIE: hand-computed values, the properties their papers state, a toy problem they
solve, and a real training run (frozen trunk with cached image views, exact resume)."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslsan.data.image_views import valid_region, warp
from sslsan.methods import (Batch, FNACConfig, LVSConfig, SaNConfig, SSLTIEConfig, equivariance_loss, ezvsl_loss,
                            fnac_loss, get_method, lvs_loss, ssltie_loss)
from sslsan.runs import preset
from sslsan.train import train


def cells(*vectors) -> torch.Tensor:
    """One image map ``1×C×1×n`` from ``n`` cell vectors."""
    return torch.tensor(vectors, dtype=torch.float32).t().reshape(1, len(vectors[0]), 1, len(vectors))


def test_lvs_by_hand():
    # two images of two cells each, 2-d unit vectors; audio 0 = e1, audio 1 = e2
    image_maps = torch.cat([cells([1.0, 0.0], [0.0, 1.0]), cells([0.6, 0.8], [0.0, 1.0])])
    audio = torch.eye(2)
    config = LVSConfig(eps_pos=0.5, eps_neg=0.3, sharpness=0.1, temperature=0.5)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731

    def region(values, eps, positive=True):
        w = [sig((v - eps) / 0.1) if positive else 1 - sig((v - eps) / 0.1) for v in values]
        return sum(wi * v for wi, v in zip(w, values)) / sum(w)

    s = [[[1.0, 0.0], [0.0, 1.0]], [[0.6, 0.0], [0.8, 1.0]]]  # s[i][k] = cosines of image i's cells with audio k
    want = 0.0
    for i in range(2):
        scores = [region(s[i][k], 0.5) for k in range(2)] + [region(s[i][i], 0.3, positive=False)]
        logits = torch.tensor(scores) / 0.5
        want += -torch.log_softmax(logits, 0)[i] / 2
    assert torch.isclose(lvs_loss(image_maps, audio, config), want, atol=1e-6)


def test_lvs_negatives_are_easy_negative_columns():
    generator = torch.Generator().manual_seed(0)
    maps = F.normalize(torch.randn(4, 8, 2, 2, generator=generator), dim=1)
    audio = F.normalize(maps.mean((2, 3)), dim=1)  # a model that already matches its pairs
    negatives = audio.roll(1, 0)  # negatives that light up the images: a higher loss
    assert lvs_loss(maps, audio, negatives=negatives) > lvs_loss(maps, audio)


def test_lvs_background_is_a_hard_negative():
    """The same positive region with a brighter background costs more: the tri-map's point."""
    audio = torch.eye(3)[:2]
    other = (1 - 0.35**2) ** 0.5

    def images(background):  # image i: one cell on its own sound, one background cell
        return torch.cat([cells([1.0, 0.0, 0.0], [background, 0.0, other if background else 1.0]),
                          cells([0.0, 1.0, 0.0], [0.0, background, other if background else 1.0])])

    assert lvs_loss(images(0.35), audio) > lvs_loss(images(0.0), audio)


def test_fnac_is_ezvsl_during_warmup_and_its_regularisers_vanish_for_a_consistent_batch():
    generator = torch.Generator().manual_seed(1)
    maps = F.normalize(torch.randn(5, 8, 2, 2, generator=generator), dim=1)
    audio = F.normalize(torch.randn(5, 8, generator=generator), dim=1)
    config = FNACConfig(warmup_epochs=2)
    assert torch.isclose(fnac_loss(Batch(maps, audio, epoch=1), config), ezvsl_loss(maps, audio))
    assert fnac_loss(Batch(maps, audio, epoch=2), config) > ezvsl_loss(maps, audio)
    # one cell per image equal to its audio: every similarity matrix is the same softmax → regularisers are 0
    uniform = audio[:, :, None, None].expand(5, 8, 1, 1).contiguous()
    assert torch.isclose(fnac_loss(Batch(uniform, audio, epoch=2), FNACConfig(warmup_epochs=0)),
                         ezvsl_loss(uniform, audio), atol=1e-5)


def test_equivariance_is_zero_for_maps_that_transform_exactly():
    generator = torch.Generator().manual_seed(2)
    maps = torch.rand(3, 6, 6, generator=generator)
    transforms = torch.tensor([[0.0, 1.0, 1.0, 1.0], [90.0, 1.0, 0.0, 1.0], [30.0, 0.5, 1.0, 1.0]])
    assert equivariance_loss(maps, warp(maps, transforms), transforms) < 1e-10
    assert equivariance_loss(maps, maps, transforms) > 1e-3  # a map that ignores the transform pays


def test_warp_moves_cells_as_the_transform_says():
    x = torch.zeros(1, 4, 4)
    x[0, 0, 3] = 1.0  # top-right cell
    assert warp(x, torch.tensor([[0.0, 1.0, 1.0, 1.0]]))[0].argmax() == 0  # mirror → top-left
    assert warp(x, torch.tensor([[90.0, 1.0, 0.0, 1.0]]))[0].argmax() == 15  # quarter turn → next corner
    assert torch.allclose(warp(x, torch.tensor([[0.0, 1.0, 0.0, 1.0]])), x)  # the identity
    half = valid_region(torch.tensor([[0.0, 0.5, 0.0, 1.0]]), 8)[0]  # zoom 0.5: the map fills the centre only
    assert half[0, 0] == 0 and half[4, 4] == 1


def test_ssltie_without_views_is_lvs_and_with_views_adds_both_terms():
    generator = torch.Generator().manual_seed(3)
    maps = F.normalize(torch.randn(4, 8, 4, 4, generator=generator), dim=1)
    audio = F.normalize(torch.randn(4, 8, generator=generator), dim=1)
    config = SSLTIEConfig()
    assert torch.isclose(ssltie_loss(Batch(maps, audio), config), lvs_loss(maps, audio, config.lvs))
    mirror = torch.tensor([[0.0, 1.0, 1.0, 1.0]]).repeat(4, 1)
    exact = Batch(maps, audio, image_maps_aug=maps.flip(-1), view_params=mirror)  # maps that mirror exactly
    want = 0.5 * (lvs_loss(maps, audio, config.lvs) + lvs_loss(maps.flip(-1), audio, config.lvs))
    assert torch.isclose(ssltie_loss(exact, config), want, atol=1e-6)
    wrong = Batch(maps, audio, image_maps_aug=maps, view_params=mirror)
    assert ssltie_loss(wrong, config) > lvs_loss(maps, audio, config.lvs)


@pytest.mark.parametrize("method", ["lvs", "fnac", "ssltie"])
def test_a_few_steps_on_a_toy_problem_lower_the_loss(method):
    """Four classes of image cells and sounds; learnable projections of both: the loss must fall."""
    generator = torch.Generator().manual_seed(4)
    prototypes = torch.randn(4, 16, generator=generator)
    labels = torch.arange(8) % 4
    image_in = prototypes[labels][:, :, None, None] + 0.1 * torch.randn(8, 16, 3, 3, generator=generator)
    audio_in = prototypes[labels] + 0.1 * torch.randn(8, 16, generator=generator)
    image_proj, audio_proj = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
    optimizer = torch.optim.Adam([*image_proj.parameters(), *audio_proj.parameters()], lr=1e-2)
    mirror = torch.tensor([[0.0, 1.0, 1.0, 1.0]]).repeat(8, 1)
    objective = get_method(method).objective(tau=0.1)

    def loss():
        maps = F.normalize(torch.einsum("bchw,dc->bdhw", image_in, image_proj.weight), dim=1)
        batch = Batch(maps, F.normalize(audio_proj(audio_in), dim=1), epoch=5)
        if get_method(method).image_views:
            batch.image_maps_aug, batch.view_params = maps.flip(-1), mirror
        return objective(batch)

    first = loss().item()
    for _ in range(60):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < first - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lvs", "fnac", "ssltie"])
def test_methods_train_with_a_frozen_trunk_and_resume_exactly(method, synthetic_data, tmp_path):
    """SSL-TIE with a frozen trunk trains on cached image views; a killed run resumes to the same weights (FNAC:
    with its dropout masks)."""
    config = preset("mini-cpu", epochs=2, batch_size=8, dim=32, image_init="scratch", workers=0, method=method,
                    image_views=2, san=SaNConfig(mode="soft-area"))
    full = train(config, synthetic_data, tmp_path / "a", progress=False, cache_dir=tmp_path / "cache")
    train(config, synthetic_data, tmp_path / "b", progress=False, cache_dir=tmp_path / "cache", max_epochs=1)
    resumed = train(config, synthetic_data, tmp_path / "b", progress=False, cache_dir=tmp_path / "cache",
                    resume=True)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))
    if method == "ssltie":
        assert any(p.name.startswith("image-views-") for p in (tmp_path / "cache").iterdir())
