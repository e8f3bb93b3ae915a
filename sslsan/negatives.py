"""Negative audio — audio for which no object in the image is the source — made on the fly, batched, on any device.

The companion paper's evaluation uses three kinds, and so do we (training and evaluation share this module):

- **silence**: an all-zero waveform;
- **noise**: white Gaussian noise N(0, 1) per sample (the evaluation code's choice: far louder than any recording
  scaled to [-1, 1]); other levels, pink noise and recorded ambience are options (:class:`NoiseConfig`);
- **offscreen**: a real recording of a class that is not in the image. In a training batch we take it from
  another pair whose class differs (:func:`offscreen_shuffle`); at test time IS3+-mini stores one fixed clip per query.

Random draws use explicit ``torch.Generator``s on the CPU and are then moved to the device, so the same seed gives
the same negatives on CPU and GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from sslsan.errors import UsageError

KINDS = ("silence", "noise", "offscreen")
NOISE_TYPES = ("white", "pink", "ambience")


@dataclass(frozen=True)
class NoiseConfig:
    """Which noise: ``white`` Gaussian with standard deviation ``std`` (1.0 = the companion paper's N(0, 1)),
    ``pink`` (1/f power, same RMS as white noise of that ``std``), or ``ambience`` (random crops of recorded
    scene sounds — rain, wind, sea… — passed in as a bank; ``std`` rescales their RMS when > 0, 0 keeps them as
    recorded)."""

    type: str = "white"
    std: float = 1.0

    def __post_init__(self):
        if self.type not in NOISE_TYPES:
            raise UsageError(f"noise type {self.type!r} is not one of {NOISE_TYPES}")
        if not 0 <= self.std < math.inf:  # (also refuses NaN)
            raise UsageError(f"noise std must be a finite number >= 0, got {self.std}")


def silence(n: int, num_samples: int, device=None) -> torch.Tensor:
    """``n×num_samples`` zeros."""
    return torch.zeros(n, num_samples, device=device)


def white_noise(n: int, num_samples: int, std: float = 1.0, generator: torch.Generator | None = None,
                device=None) -> torch.Tensor:
    """``n×num_samples`` i.i.d. N(0, std²) samples."""
    return (torch.randn(n, num_samples, generator=generator) * std).to(device)


def pink_noise(n: int, num_samples: int, std: float = 1.0, generator: torch.Generator | None = None,
               device=None) -> torch.Tensor:
    """``n×num_samples`` noise with power ∝ 1/f, each row rescaled to RMS ``std``."""
    spectrum = torch.fft.rfft(torch.randn(n, num_samples, generator=generator), dim=-1)
    freqs = torch.arange(spectrum.shape[-1], dtype=torch.float32)
    spectrum = spectrum / freqs.clamp(min=1.0).sqrt()  # amplitude ∝ f^-1/2 ⇒ power ∝ 1/f
    spectrum[:, 0] = 0
    wave = torch.fft.irfft(spectrum, n=num_samples, dim=-1)
    wave = wave / wave.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-12) * std
    return wave.to(device)


def ambience(n: int, num_samples: int, bank: Sequence[torch.Tensor], std: float = 0.0,
             generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``n`` random crops (tiled when short) of recordings in ``bank``; RMS set to ``std`` when ``std > 0``."""
    if not bank:
        raise ValueError("ambience noise needs a non-empty bank of recordings")
    picks = torch.randint(len(bank), (n,), generator=generator).tolist()
    rows = []
    for pick in picks:
        clip = bank[pick].flatten().float()
        if clip.numel() < num_samples:
            clip = clip.repeat(-(-num_samples // clip.numel()))
        start = int(torch.randint(clip.numel() - num_samples + 1, (1,), generator=generator))
        rows.append(clip[start : start + num_samples])
    wave = torch.stack(rows)
    if std > 0:
        wave = wave / wave.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-12) * std
    return wave.to(device)


def noise(n: int, num_samples: int, config: NoiseConfig = NoiseConfig(), generator: torch.Generator | None = None,
          device=None, bank: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """Noise of the configured type (see :class:`NoiseConfig`)."""
    if config.type == "white":
        return white_noise(n, num_samples, config.std, generator, device)
    if config.type == "pink":
        return pink_noise(n, num_samples, config.std, generator, device)
    return ambience(n, num_samples, bank, config.std, generator, device)


def seeded_noise(seeds: Sequence[int], num_samples: int, config: NoiseConfig = NoiseConfig(), device=None,
                 bank: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """One noise clip per seed (row i depends only on ``seeds[i]``): the fixed test-time negatives."""
    rows = [noise(1, num_samples, config, torch.Generator().manual_seed(int(seed)), bank=bank) for seed in seeds]
    return torch.cat(rows).to(device)


def offscreen_shuffle(waves: torch.Tensor, class_ids: torch.Tensor, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pair ``i`` of a batch, the audio of another pair ``j`` whose class differs: ``(waves[j], j)``.

    ``class_ids`` may hold several classes per pair (``B×M``, −1 = padding): then ``j``'s sounding class
    (column 0) must be absent from all of ``i``'s classes, as the companion protocol removes every class in the image.
    """
    classes = class_ids if class_ids.dim() == 2 else class_ids.unsqueeze(1)
    sounding = classes[:, 0].cpu()
    present = classes.cpu()
    # allowed[i, j]: j's sounding class is none of i's classes
    allowed = ~(present.unsqueeze(1) == sounding.view(1, -1, 1)).any(-1)
    if not bool(allowed.any(1).all()):
        bad = int((~allowed.any(1)).nonzero()[0])
        raise ValueError(f"pair {bad} of the batch has no other pair with a different class to use as offscreen")
    scores = torch.rand(allowed.shape, generator=generator).masked_fill(~allowed, -1.0)
    index = scores.argmax(1).to(waves.device)
    return waves[index], index


def make_negatives(kinds: Sequence[str], n: int, num_samples: int, noise_config: NoiseConfig = NoiseConfig(),
                   generator: torch.Generator | None = None, device=None,
                   bank: Sequence[torch.Tensor] = ()) -> tuple[torch.Tensor, list[str]]:
    """``n`` negative clips per kind in ``kinds`` (silence and/or noise), stacked: ``(len(kinds)·n)×num_samples``.

    Returns the waves and the kind of each row. (Offscreen clips need the batch: see :func:`offscreen_shuffle`.)
    """
    waves, labels = [], []
    for kind in kinds:
        if kind == "silence":
            waves.append(silence(n, num_samples, device))
        elif kind == "noise":
            waves.append(noise(n, num_samples, noise_config, generator, device, bank))
        else:
            raise ValueError(f"cannot make {kind!r} negatives without a batch; kinds are silence and noise")
        labels += [kind] * n
    return torch.cat(waves), labels
