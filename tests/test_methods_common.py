"""What every registered method must do, checked for all of them: a training step with every SaN mode, a
validation batch without views or targets, a config that survives config.json, options from the command line."""

import argparse
from dataclasses import fields, replace

import pytest
import torch

from sslsan.cli.train import add_arguments, config_from_args
from sslsan.errors import UsageError
from sslsan.methods import METHODS, SAN_MODES, Batch, SaNConfig, get_method
from sslsan.negatives import NoiseConfig
from sslsan.runs import TrainConfig, build_model
from sslsan.train import NegativeSource, StepInputs, contrastive_step, momentum_encoders, update_momentum

BATCH = 8


def tiny_config(method: str, san: SaNConfig | None = None) -> TrainConfig:
    return TrainConfig(image_size=64, last_stride=1, front_end="mini", dim=32, amp=False, batch_size=BATCH,
                       method=method, san=san)


def step_inputs(method: str, generator: torch.Generator) -> StepInputs:
    images = torch.rand(BATCH, 3, 64, 64, generator=generator)
    inputs = StepInputs(torch.randn(BATCH, 48000, generator=generator) * 0.1, images=images)
    if get_method(method).image_views:
        inputs.images_aug = images.flip(-1)
        inputs.transforms = torch.tensor([[0.0, 1.0, 1.0, 1.0]]).repeat(BATCH, 1)  # the mirror, exactly
    if get_method(method).audio_views:
        inputs.audio_aug = inputs.audio * 0.5
    return inputs


@pytest.mark.parametrize("mode", (None,) + SAN_MODES)
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_a_step_with_every_san_mode(method, mode):
    san = None if mode is None else SaNConfig(mode=mode, ratio=0.25)
    config = tiny_config(method, san)
    torch.manual_seed(0)
    model = build_model(config)
    target = momentum_encoders(model, config)
    generator = torch.Generator().manual_seed(1)
    negatives = NegativeSource(48000, NoiseConfig(), torch.device("cpu"))
    loss, stats = contrastive_step(model, config, step_inputs(method, generator), negatives, generator,
                                   target=target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "the loss must reach the weights"
    assert ("neg_peak" in stats) == (san is not None)
    if target is not None:  # the momentum encoders move towards the online model, without gradients
        before = [t.clone() for t in target.parameters()]
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        update_momentum(target, model, 0.5)
        assert all(not torch.equal(b, t) for b, t in zip(before, target.parameters()))
        assert all(t.grad is None for t in target.parameters())


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_scores_a_validation_batch(method):
    """Validation batches hold only the pairs' maps and audio: every loss must work on them, at chance ≈ finite."""
    generator = torch.Generator().manual_seed(2)
    maps = torch.nn.functional.normalize(torch.randn(6, 16, 3, 3, generator=generator), dim=1)
    audio = torch.nn.functional.normalize(torch.randn(6, 16, generator=generator), dim=1)
    value = get_method(method).objective()(Batch(maps, audio))
    assert torch.isfinite(value)


@pytest.mark.parametrize("method", list(METHODS))
def test_method_config_survives_config_json(method):
    config = tiny_config(method, SaNConfig(mode="soft-area"))
    config = replace(config, method_config=get_method(method).config())
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_method_config_of_another_method_is_refused():
    class Other:
        pass

    with pytest.raises(UsageError, match="method_config of ezvsl"):
        TrainConfig(method="ezvsl", method_config=Other())


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--data", "d", "--out", "o", *argv])


def test_method_options_from_the_command_line():
    # a method with options takes them by name and type; every method accepts none
    for name, method in METHODS.items():
        assert config_from_args(parse("--method", name)).method_config is None
        typed = [f for f in fields(method.config) if f.type in ("float", "int", "bool", float, int, bool)]
        if typed:
            field = typed[0]
            text = {"float": "0.5", "int": "2", "bool": "true"}[getattr(field.type, "__name__", field.type)]
            config = config_from_args(parse("--method", name, "--method-option", f"{field.name}={text}"))
            assert str(getattr(config.method_config, field.name)).lower() in (text, "2", "0.5", "true")
            with pytest.raises(UsageError, match=field.name):
                config_from_args(parse("--method", name, "--method-option", f"{field.name}=not-a-number"))
    with pytest.raises(UsageError, match="KEY=VALUE"):
        config_from_args(parse("--method", "ezvsl", "--method-option", "nope=1"))
    config = config_from_args(parse("--san", "silence", "--san-mode", "soft-area", "--san-sharpness", "0.1"))
    assert config.san.mode == "soft-area" and config.san.sharpness == 0.1
