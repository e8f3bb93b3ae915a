"""The pretraining stage: crops, augmentation, and a tiny end-to-end run on the `tiny` IS3+-mini preset."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sslsan.pretrain import (AUDIO_PRETRAIN, IMAGE_PRETRAIN, augment_images, background_crop, mix_batch,
                             object_crop, run_pretraining, spec_augment)
from sslsan.runs import build_model, preset


def test_object_crop_is_centred_on_the_box_and_stays_inside():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[40:60, 40:60] = 255  # a white 20-px object in the middle
    crop = object_crop(image, (40, 40, 60, 60), context=2.0, size=40)
    assert crop.shape == (40, 40, 3)
    assert crop[10:30, 10:30].mean() > 240 and crop[:5].mean() < 15  # object in the middle half, border dark
    corner = object_crop(image, (0, 0, 10, 10), context=3.0, size=30)  # shifted inside the image, not padded
    assert corner.shape == (30, 30, 3)


def test_background_crop_never_touches_the_object():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    image[10:40, 10:40] = 255
    rng = np.random.default_rng(0)
    for _ in range(20):
        crop = background_crop(image, (10, 10, 40, 40), 16, rng)
        assert crop is not None and crop.max() < 50
    assert background_crop(image, (0, 0, 100, 100), 16, rng) is None  # no room left


def test_image_augmentation_is_batched_reproducible_and_in_range():
    images = torch.randint(0, 256, (6, 3, 40, 40), dtype=torch.uint8)
    a = augment_images(images, 32, torch.Generator().manual_seed(1), grayscale=0.5)
    b = augment_images(images, 32, torch.Generator().manual_seed(1), grayscale=0.5)
    assert a.shape == (6, 3, 32, 32) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    grey = augment_images(images, 32, torch.Generator().manual_seed(1), grayscale=1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1], atol=1e-6) and torch.allclose(grey[:, 1], grey[:, 2], atol=1e-6)


def test_spec_augment_masks_bands_and_spans_with_the_clip_mean():
    torch.manual_seed(0)
    spec = torch.randn(16, 1, 64, 64)
    out = spec_augment(spec, masks=2)
    changed = out != spec
    assert 0.02 < changed.float().mean() < 0.5
    means = spec.mean(dim=(2, 3), keepdim=True).expand_as(spec)
    assert torch.allclose(out[changed], means[changed])


def test_mix_batch_mixes_inputs_and_targets_with_the_same_weight():
    rng = np.random.default_rng(0)
    inputs = torch.randn(32, 3, 5, 5)
    labels = torch.arange(32) % 4
    targets = torch.nn.functional.one_hot(labels, 4).float()
    mixed, soft = mix_batch(inputs, targets, 0.4, rng)
    assert mixed.shape == inputs.shape and soft.shape == targets.shape
    assert torch.allclose(soft.sum(1), torch.ones(32))
    # Recover each sample's weight and partner from the mixed input, then check the target used the same ones.
    again = np.random.default_rng(0)
    weight = torch.from_numpy(again.beta(0.4, 0.4, size=32).astype(np.float32))
    partner = torch.from_numpy(again.permutation(32))
    for i in range(32):
        expected = weight[i] * inputs[i] + (1 - weight[i]) * inputs[partner[i]]
        assert torch.allclose(mixed[i], expected, atol=1e-6)
        own, other = labels[i], labels[partner[i]]
        assert soft[i, own] >= (weight[i] if own != other else 1.0) - 1e-6
    assert (soft.max(1).values < 0.999).any()  # some targets really are mixtures
    assert not torch.equal(mixed, inputs)


@pytest.mark.slow
def test_pretraining_runs_reports_and_is_reused(tiny, tmp_path):
    image = replace(IMAGE_PRETRAIN, steps=3, batch_size=8)
    audio = replace(AUDIO_PRETRAIN, steps=3, batch_size=8, mixup=0.4)  # soft targets through both classifiers
    assert image.mixup > 0
    done = run_pretraining(tiny, tmp_path, ("image", "audio"), image, audio, progress=False)
    for kind in ("image", "audio"):
        report = json.loads(done[kind].with_suffix(".json").read_text())
        assert report["history"][-1]["step"] == 3 and 0 <= report["history"][-1]["val_accuracy"] <= 1
        assert (tmp_path / f"{kind}_head.pt").is_file()
    assert "unseen_test_accuracy" in json.loads(done["audio"].with_suffix(".json").read_text())
    stamp = done["image"].stat().st_mtime_ns
    again = run_pretraining(tiny, tmp_path, ("image",), image, audio, progress=False)
    assert again["image"].stat().st_mtime_ns == stamp  # same config: loaded, not retrained
    config = preset("mini-cpu", image_init=str(done["image"]), audio_init=str(done["audio"]))
    model = build_model(config)  # the trunks load into the audio-visual model (stride changes, shapes do not)
    trunk = torch.load(done["image"], weights_only=True)
    assert torch.equal(model.image.trunk.state_dict()["0.weight"], trunk["0.weight"])
