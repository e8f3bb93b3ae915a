import math

import pytest
import torch
import torch.nn.functional as F

from sslsan.methods import Batch, SaNConfig, ezvsl_loss, get_method, max_hinge, mil_logits, san_loss, soft_area
from sslsan.models import AVModel, ModelConfig


def unit(*shape, dim=1, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=dim)


def test_mil_logits_is_max_over_locations():
    image_maps = unit(3, 8, 2, 2)
    audio = unit(4, 8, seed=1)
    expected = torch.empty(3, 4)
    for i in range(3):
        for k in range(4):
            expected[i, k] = max(float(image_maps[i, :, y, x] @ audio[k]) for y in range(2) for x in range(2)) / 0.03
    assert torch.allclose(mil_logits(image_maps, audio, 0.03), expected, atol=1e-4)


@pytest.mark.parametrize("batch", [8, 32])
def test_loss_of_an_untrained_model_is_about_log_batch(batch):
    torch.manual_seed(0)
    model = AVModel(ModelConfig(dim=64, image_size=112, last_stride=1, front_end="mini")).eval()
    with torch.no_grad():
        loss = ezvsl_loss(*model(torch.rand(batch, 3, 112, 112), torch.randn(batch, 48000) * 0.1))
    assert abs(loss.item() - math.log(batch)) < 0.1 * math.log(batch)


def test_loss_is_symmetric_in_the_modalities():
    # with a 1×1 image grid the two modalities play interchangeable roles
    image, audio = unit(6, 16), unit(6, 16, seed=1)
    a = ezvsl_loss(image.view(6, 16, 1, 1), audio)
    b = ezvsl_loss(audio.view(6, 16, 1, 1), image)
    assert torch.allclose(a, b, atol=1e-6)


def test_loss_matches_the_two_cross_entropies_written_out():
    image_maps, audio = unit(5, 8, 3, 3), unit(5, 8, seed=2)
    logits = mil_logits(image_maps, audio, 0.03)
    i2a = -torch.log_softmax(logits, 1).diagonal().mean()
    a2i = -torch.log_softmax(logits, 0).diagonal().mean()
    assert torch.allclose(ezvsl_loss(image_maps, audio), (i2a + a2i) / 2, atol=1e-5)


def test_extra_negatives_raise_the_loss_only_through_the_image_to_audio_term():
    image_maps, audio, negatives = unit(5, 8, 3, 3), unit(5, 8, seed=1), unit(3, 8, seed=2)
    base = ezvsl_loss(image_maps, audio)
    with_neg = ezvsl_loss(image_maps, audio, negatives=negatives)
    assert with_neg > base
    logits = mil_logits(image_maps, audio, 0.03)
    neg_logits = mil_logits(image_maps, negatives, 0.03)
    i2a = -(logits.diagonal() - torch.logsumexp(torch.cat([logits, neg_logits], 1), 1)).mean()
    a2i = -torch.log_softmax(logits, 0).diagonal().mean()
    assert torch.allclose(with_neg, (i2a + a2i) / 2, atol=1e-5)


def test_max_hinge_by_hand():
    image_maps = torch.zeros(2, 2, 1, 2)
    image_maps[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    image_maps[0, :, 0, 1] = torch.tensor([0.0, 1.0])
    image_maps[1, :, 0, 0] = torch.tensor([0.6, 0.8])
    image_maps[1, :, 0, 1] = torch.tensor([-1.0, 0.0])
    negatives = torch.tensor([[1.0, 0.0]])
    # peaks: image0 → 1.0, image1 → 0.6; margin 0.5 → relu: 0.5, 0.1
    assert torch.isclose(max_hinge(image_maps, negatives, margin=0.5), torch.tensor(0.3))
    paired = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # image0 with (0,1) → 1.0; image1 with (1,0) → 0.6
    assert torch.isclose(max_hinge(image_maps, paired, margin=0.0, paired=True), torch.tensor(0.8))


def test_san_modes_are_plug_ins_around_the_base_loss():
    image_maps, audio, negatives = unit(6, 8, 2, 2), unit(6, 8, seed=1), unit(2, 8, seed=2)
    objective, batch = get_method("ezvsl").objective(), Batch(image_maps, audio)
    extra = SaNConfig(mode="extra-negatives")
    assert torch.allclose(san_loss(objective, batch, negatives, extra),
                          ezvsl_loss(image_maps, audio, negatives=negatives))
    penalty = SaNConfig(mode="penalty", weight=2.0, margin=0.1)
    assert torch.allclose(san_loss(objective, batch, negatives, penalty),
                          ezvsl_loss(image_maps, audio) + 2.0 * max_hinge(image_maps, negatives, 0.1))
    area = SaNConfig(mode="soft-area", weight=0.5, margin=0.2, sharpness=0.05)
    assert torch.allclose(san_loss(objective, batch, negatives, area),
                          ezvsl_loss(image_maps, audio, negatives=negatives)
                          + 0.5 * soft_area(image_maps, negatives, 0.2, 0.05))
    replaced = torch.tensor([True, False, False, True, False, False])
    replace = SaNConfig(mode="replacement", ratio=0.34)
    got = san_loss(objective, batch, negatives, replace, replaced=replaced)
    keep = ~replaced
    want = ezvsl_loss(image_maps[keep], audio[keep], negatives=negatives) + \
        max_hinge(image_maps[replaced], negatives, 0.0, paired=True)
    assert torch.allclose(got, want)
    with pytest.raises(ValueError, match="replaced"):
        san_loss(objective, batch, negatives, replace)


def test_soft_area_by_hand():
    # one image of two cells: cosines with the negative 1.0 and -1.0; threshold 0, sharpness 0.5
    image_maps = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).t().reshape(1, 2, 1, 2)
    negatives = torch.tensor([[1.0, 0.0]])
    want = (torch.sigmoid(torch.tensor(2.0)) + torch.sigmoid(torch.tensor(-2.0))) / 2  # = 0.5
    assert torch.isclose(soft_area(image_maps, negatives, 0.0, 0.5), want)
    # a sharper sigmoid approaches the hard area: one of the two cells is above 0.5
    assert torch.isclose(soft_area(image_maps, negatives, 0.5, 1e-3), torch.tensor(0.5), atol=1e-4)
    image_maps[0, :, 0, 1] = torch.tensor([0.9, 0.43589])  # both cells above 0.5 now
    assert torch.isclose(soft_area(image_maps, negatives, 0.5, 1e-3), torch.tensor(1.0), atol=1e-4)


@pytest.mark.parametrize("kwargs, message", [({"mode": "nope"}, "mode"), ({"kinds": ("offscreen",)}, "kinds"),
                                             ({"kinds": ()}, "kinds"), ({"ratio": 0}, "ratio")])
def test_san_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SaNConfig(**kwargs)


def test_a_few_steps_on_a_separable_toy_problem_drive_the_loss_down():
    """Images carry their class in one cell, audio carries it in a vector: learnable projections solve it."""
    torch.manual_seed(0)
    classes, dim = 8, 32
    prototypes = torch.randn(classes, dim)
    image_proj, audio_proj = torch.nn.Linear(dim, 16), torch.nn.Linear(dim, 16)
    optimizer = torch.optim.Adam([*image_proj.parameters(), *audio_proj.parameters()], lr=1e-2)
    losses = []
    for _ in range(60):
        labels = torch.randperm(classes)  # one image per class in each batch
        cells = torch.randn(classes, 4, dim) * 0.3  # background cells
        cells[torch.arange(classes), torch.randint(4, (classes,))] += prototypes[labels]
        sounds = prototypes[labels] + 0.3 * torch.randn(classes, dim)
        image_maps = F.normalize(image_proj(cells), dim=-1).permute(0, 2, 1).reshape(classes, 16, 2, 2)
        audio = F.normalize(audio_proj(sounds), dim=-1)
        loss = ezvsl_loss(image_maps, audio, tau=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > math.log(classes) * 0.8
    assert sum(losses[-10:]) / 10 < 0.3 * losses[0]
