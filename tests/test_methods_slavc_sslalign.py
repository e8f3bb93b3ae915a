"""The losses of SLAVC and SSL-Align: against straightforward loop implementations, hand-computed cases, the
properties their papers state, a toy problem they solve, and real training runs (momentum targets and two-view
batches through a killed-and-resumed run)."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslsan.methods import (Batch, SaNConfig, SLAVCConfig, SSLAlignConfig, aligned_image_features, ezvsl_loss,
                            get_method, slavc_logits, slavc_loss, sslalign_loss)
from sslsan.models import normalize_heads
from sslsan.runs import preset
from sslsan.train import train


def slavc_logits_by_loops(maps: torch.Tensor, audio: torch.Tensor, tau: float) -> torch.Tensor:
    """SLAVC's ℓ_nm written with plain loops and math.exp, heads split by hand."""
    half = maps.shape[1] // 2
    unit = lambda v: v / v.norm()  # noqa: E731
    n_images, n_audio, h, w = maps.shape[0], audio.shape[0], maps.shape[2], maps.shape[3]
    out = torch.zeros(n_images, n_audio)
    for n in range(n_images):
        cells = [(unit(maps[n, :half, y, x]), unit(maps[n, half:, y, x])) for y in range(h) for x in range(w)]
        heads = [(unit(audio[m, :half]), unit(audio[m, half:])) for m in range(n_audio)]
        for m in range(n_audio):
            total = 0.0
            for v1, v2 in cells:
                which = math.exp(float(v1 @ heads[m][0]) / tau) / sum(math.exp(float(v1 @ a1) / tau) for a1, _ in heads)
                where = math.exp(float(v2 @ heads[m][1]) / tau) / sum(math.exp(float(c2 @ heads[m][1]) / tau)
                                                                      for _, c2 in cells)
                total += which * where
            out[n, m] = math.log(total)
    return out


def two_heads(*shape, generator) -> torch.Tensor:
    return normalize_heads(torch.randn(*shape, generator=generator), 2)


def test_slavc_logits_match_a_loop_implementation():
    generator = torch.Generator().manual_seed(0)
    maps, audio = two_heads(3, 6, 2, 2, generator=generator), two_heads(5, 6, generator=generator)
    assert torch.allclose(slavc_logits(maps, audio, 0.2), slavc_logits_by_loops(maps, audio, 0.2), atol=1e-5)


def test_slavc_loss_by_hand_with_targets_and_negatives():
    generator = torch.Generator().manual_seed(1)
    maps, audio = two_heads(3, 6, 2, 1, generator=generator), two_heads(3, 6, generator=generator)
    target_maps, target_audio = two_heads(3, 6, 2, 1, generator=generator), two_heads(3, 6, generator=generator)
    negatives = two_heads(2, 6, generator=generator)
    tau = 0.3

    def ce(logits):  # mean over images n of −log softmax_m(ℓ_nm) at m = n
        return sum(-torch.log_softmax(logits[n], 0)[n] for n in range(3)) / 3

    online_image = ce(slavc_logits_by_loops(maps, torch.cat([target_audio, negatives]), tau))
    online_audio = ce(slavc_logits_by_loops(target_maps, torch.cat([audio, negatives]), tau))
    batch = Batch(maps, audio, target_maps=target_maps, target_audio=target_audio)
    got = slavc_loss(batch, SLAVCConfig(), negatives, tau=tau)
    assert torch.isclose(got, 0.5 * (online_image + online_audio), atol=1e-5)


def test_slavc_with_one_location_is_infonce_of_the_correspondence_head():
    """With one cell the localisation softmax is 1: ℓ = log-softmax of the first head's cosines."""
    generator = torch.Generator().manual_seed(2)
    maps, audio = two_heads(4, 8, 1, 1, generator=generator), two_heads(4, 8, generator=generator)
    first = F.normalize(maps[:, :4, 0, 0], dim=1) @ F.normalize(audio[:, :4], dim=1).t() / 0.1
    want = F.cross_entropy(first, torch.arange(4))
    assert torch.isclose(slavc_loss(Batch(maps, audio), tau=0.1), want, atol=1e-5)


def test_slavc_without_targets_uses_the_online_encoders():
    generator = torch.Generator().manual_seed(3)
    maps, audio = two_heads(4, 8, 2, 2, generator=generator), two_heads(4, 8, generator=generator)
    with_self = Batch(maps, audio, target_maps=maps, target_audio=audio)
    assert torch.equal(slavc_loss(Batch(maps, audio)), slavc_loss(with_self))


def test_slavc_negatives_that_light_up_the_image_raise_the_loss():
    """A negative that matches the images' cells costs more than one orthogonal to all of them.

    (Not "more than no negative": SLAVC's ℓ is not normalised over sounds, and an extra candidate also takes
    correspondence mass from the wrong sounds at cells that match none of them.)"""
    generator = torch.Generator().manual_seed(4)
    raw = torch.randn(4, 8, 2, 2, generator=generator)
    raw[:, 3], raw[:, 7] = 0, 0  # the cells live in the first three channels of each head
    maps = normalize_heads(raw, 2)
    audio = normalize_heads(raw.mean((2, 3)), 2)  # a model that matches its pairs
    orthogonal = normalize_heads(torch.eye(8)[[3, 7]].sum(0, keepdim=True).repeat(2, 1), 2)
    bright = audio.roll(1, 0)[:2]
    assert slavc_loss(Batch(maps, audio), negatives=orthogonal) < slavc_loss(Batch(maps, audio), negatives=bright)


def test_slavc_config_is_checked():
    with pytest.raises(ValueError, match="heads"):
        SLAVCConfig(heads=3)
    with pytest.raises(ValueError, match="momentum"):
        SLAVCConfig(momentum=1.0)


def test_aligned_image_features_by_hand():
    # one image of two cells (e1 and e2), its audio (0.8, 0.6): softmax weights of cosines 0.8 and 0.6 at τ = 0.1
    maps = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 1, 2)
    audio = torch.tensor([[0.8, 0.6]])
    w = math.exp(8) / (math.exp(8) + math.exp(6))
    want = torch.tensor([w, 1 - w]) / math.hypot(w, 1 - w)
    assert torch.allclose(aligned_image_features(maps, audio, 0.1)[0], want, atol=1e-6)


def test_sslalign_with_one_location_is_ezvsl_twice_weighted():
    """With one cell, g_i is the cell itself: alignment = localisation, L = (1 + λ) L_EZ-VSL."""
    generator = torch.Generator().manual_seed(5)
    maps = F.normalize(torch.randn(4, 8, 1, 1, generator=generator), dim=1)
    audio = F.normalize(torch.randn(4, 8, generator=generator), dim=1)
    negatives = F.normalize(torch.randn(2, 8, generator=generator), dim=1)
    got = sslalign_loss(Batch(maps, audio), SSLAlignConfig(alignment_weight=0.5), negatives, tau=0.1)
    assert torch.isclose(got, 1.5 * ezvsl_loss(maps, audio, 0.1, negatives), atol=1e-6)


def test_sslalign_averages_every_view_combination():
    generator = torch.Generator().manual_seed(6)
    unit = lambda *s: F.normalize(torch.randn(*s, generator=generator), dim=1)  # noqa: E731
    maps, maps_aug, audio, audio_aug = unit(4, 8, 2, 2), unit(4, 8, 2, 2), unit(4, 8), unit(4, 8)
    single = lambda m, a: sslalign_loss(Batch(m, a))  # noqa: E731
    same = Batch(maps, audio, image_maps_aug=maps, audio_aug=audio)
    assert torch.isclose(sslalign_loss(same), single(maps, audio), atol=1e-6)  # identical views: nothing changes
    views = Batch(maps, audio, image_maps_aug=maps_aug, audio_aug=audio_aug)
    want = sum(single(m, a) for m in (maps, maps_aug) for a in (audio, audio_aug)) / 4
    assert torch.isclose(sslalign_loss(views), want, atol=1e-6)


@pytest.mark.parametrize("method", ["slavc", "sslalign"])
def test_a_few_steps_on_a_toy_problem_lower_the_loss(method):
    """Four classes of image cells and sounds; learnable projections of both: the loss must fall."""
    generator = torch.Generator().manual_seed(4)
    prototypes = torch.randn(4, 16, generator=generator)
    labels = torch.arange(8) % 4
    image_in = prototypes[labels][:, :, None, None] + 0.1 * torch.randn(8, 16, 3, 3, generator=generator)
    audio_in = prototypes[labels] + 0.1 * torch.randn(8, 16, generator=generator)
    image_proj, audio_proj = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
    optimizer = torch.optim.Adam([*image_proj.parameters(), *audio_proj.parameters()], lr=1e-2)
    objective = get_method(method).objective(tau=0.1)

    def loss():
        maps = normalize_heads(torch.einsum("bchw,dc->bdhw", image_in, image_proj.weight), 2)
        audio = normalize_heads(audio_proj(audio_in), 2)
        batch = Batch(maps, audio)
        if method == "sslalign":
            batch.image_maps_aug, batch.audio_aug = maps.flip(-1), audio
        return objective(batch)

    first = loss().item()
    for _ in range(60):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < first - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("method", ["slavc", "sslalign"])
def test_methods_train_with_a_frozen_trunk_and_resume_exactly(method, synthetic_data, tmp_path):
    """SLAVC's momentum encoders and SSL-Align's image and audio views survive a killed run: same weights."""
    config = preset("mini-cpu", epochs=2, batch_size=8, dim=32, image_init="scratch", workers=0, method=method,
                    image_views=2, audio_views=3, san=SaNConfig(mode="extra-negatives"))
    full = train(config, synthetic_data, tmp_path / "a", progress=False, cache_dir=tmp_path / "cache")
    train(config, synthetic_data, tmp_path / "b", progress=False, cache_dir=tmp_path / "cache", max_epochs=1)
    resumed = train(config, synthetic_data, tmp_path / "b", progress=False, cache_dir=tmp_path / "cache",
                    resume=True)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))
    if method == "slavc":  # the momentum encoders are saved with the run and have moved
        state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
        assert "target" in state
        moved = [not torch.equal(state["target"][k], v) for k, v in full.state_dict().items()
                 if k.endswith("proj.weight")]
        assert moved and all(moved)
