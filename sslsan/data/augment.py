"""Audio augmentation: one recording → many different clips, reproducibly.

Audio variety is the measured bottleneck of IS3+-mini (a handful of recordings per class), so every clip the
dataset writes is a fresh view of its source recording, and the trainer can draw new views on the fly::

    augment = AudioAugment(AugmentConfig())
    clip = augment(recording_wave, np.random.default_rng((seed, epoch, index)))   # 3 s, float32

The steps, in order: speed change (resampling, which also shifts pitch, ±12 %), a crop of the clip length
(short recordings are repeated with random gaps, as a bark repeats; long ones are cropped where there is sound),
a random equaliser band (peaking or shelving biquad, ±9 dB), a random peak level (−12 … −1 dBFS) and a faint
noise floor (40–60 dB below the clip). All draws come from the ``rng`` passed in, so the same generator state
gives the same clip.

Re-augmenting the *same* recording is self-supervision (what the paper's crops and jitter do). Drawing another
recording of the same class would be label supervision, which the paper does not use: the dataset stores each
training entry's own ``recording`` for exactly this reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np
from scipy.signal import lfilter, resample_poly

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AugmentConfig:
    """What :class:`AudioAugment` varies. A range ``(a, a)`` (or probability 0) switches a step off."""

    clip_seconds: float | None = 3.0  # None: keep the (speed-changed) length
    sample_rate: int = SAMPLE_RATE
    speed: tuple[float, float] = (0.88, 1.12)
    eq_probability: float = 0.8
    eq_gain_db: tuple[float, float] = (-9.0, 9.0)
    eq_frequency_hz: tuple[float, float] = (120.0, 5000.0)
    peak_dbfs: tuple[float, float] = (-12.0, -1.0)
    noise_below_db: tuple[float, float] = (40.0, 60.0)  # noise floor this far below the clip's RMS
    repeat_gap_seconds: tuple[float, float] = (0.0, 0.5)  # silence between repeats of a short recording


#: the light treatment of evaluation clips: a crop, a level and a faint noise floor; the recording as it is
EVAL_AUGMENT = AugmentConfig(speed=(1.0, 1.0), eq_probability=0.0, peak_dbfs=(-6.0, -1.0),
                             noise_below_db=(50.0, 60.0))


class AudioAugment:
    """``AudioAugment(config)(wave, rng) -> wave``: a random view of a mono 16 kHz recording."""

    def __init__(self, config: AugmentConfig = AugmentConfig()):
        self.config = config

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"expected a non-empty mono waveform, got shape {wave.shape}")
        speed = float(rng.uniform(*cfg.speed))
        if cfg.clip_seconds is not None:
            length = int(round(cfg.clip_seconds * cfg.sample_rate))
            # crop a little more than needed before resampling: cheaper than resampling 20 s
            wave = crop_or_repeat(wave, int(np.ceil(length * speed)) + 32, rng, cfg)
            wave = change_speed(wave, speed)[:length]
            wave = np.pad(wave, (0, length - len(wave)))
        else:
            wave = change_speed(wave, speed)
        if rng.random() < cfg.eq_probability:
            wave = random_equaliser(wave, rng, cfg)
        peak = float(np.max(np.abs(wave)))
        if peak > 0:
            wave = wave * (10 ** (rng.uniform(*cfg.peak_dbfs) / 20) / peak)
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
        noise_db = rng.uniform(*cfg.noise_below_db)
        wave = wave + rng.standard_normal(len(wave)) * (max(rms, 1e-4) * 10 ** (-noise_db / 20))
        return np.clip(wave, -1.0, 1.0).astype(np.float32)


def change_speed(wave: np.ndarray, speed: float) -> np.ndarray:
    """Play ``wave`` ``speed`` times faster (shorter and higher); band-limited polyphase resampling."""
    if abs(speed - 1.0) < 1e-3:
        return wave
    up, down = 100, int(round(100 * speed))
    g = gcd(up, down)
    return resample_poly(wave.astype(np.float64), up // g, down // g).astype(np.float32)


def crop_or_repeat(wave: np.ndarray, length: int, rng: np.random.Generator,
                   config: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """A ``length``-sample window of ``wave``.

    Shorter recordings are repeated with random silent gaps from a random start (a dog barks again rather than
    falling silent). Longer ones are cropped at a random offset, preferring windows that carry sound: up to four
    offsets are tried and the first with at least 30 % of the recording's RMS is kept (else the loudest).
    """
    if len(wave) < length:
        pieces, total = [], 0
        while total < length + len(wave):
            gap = np.zeros(int(rng.uniform(*config.repeat_gap_seconds) * config.sample_rate), dtype=np.float32)
            pieces += [wave, gap]
            total += len(wave) + len(gap)
        tiled = np.concatenate(pieces)
        start = int(rng.integers(0, len(wave)))
        return tiled[start:start + length]
    overall = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    best, best_rms = 0, -1.0
    for _ in range(4):
        start = int(rng.integers(0, len(wave) - length + 1))
        window_rms = float(np.sqrt(np.mean(np.square(wave[start:start + length], dtype=np.float64))))
        if window_rms >= 0.3 * overall:
            return wave[start:start + length]
        if window_rms > best_rms:
            best, best_rms = start, window_rms
    return wave[best:best + length]


def random_equaliser(wave: np.ndarray, rng: np.random.Generator, config: AugmentConfig = AugmentConfig()
                     ) -> np.ndarray:
    """One random biquad (RBJ cookbook): a low shelf, high shelf or peaking band, boosting or cutting."""
    kind = ("lowshelf", "highshelf", "peaking")[int(rng.integers(3))]
    low, high = config.eq_frequency_hz
    frequency = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    gain_db = float(rng.uniform(*config.eq_gain_db))
    q = float(rng.uniform(0.5, 2.0))
    b, a = biquad(kind, frequency, gain_db, q, config.sample_rate)
    return lfilter(b, a, wave).astype(np.float32)


def biquad(kind: str, frequency: float, gain_db: float, q: float, sample_rate: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(b, a)`` of an RBJ-cookbook peaking or shelving filter, normalised so ``a[0] = 1``."""
    amplitude = 10 ** (gain_db / 40)
    omega = 2 * np.pi * frequency / sample_rate
    cos, alpha = np.cos(omega), np.sin(omega) / (2 * q)
    if kind == "peaking":
        b = [1 + alpha * amplitude, -2 * cos, 1 - alpha * amplitude]
        a = [1 + alpha / amplitude, -2 * cos, 1 - alpha / amplitude]
    else:
        root = 2 * np.sqrt(amplitude) * alpha
        sign = 1 if kind == "lowshelf" else -1
        b = [amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cos + root),
             sign * 2 * amplitude * ((amplitude - 1) - sign * (amplitude + 1) * cos),
             amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cos - root)]
        a = [(amplitude + 1) + sign * (amplitude - 1) * cos + root,
             -sign * 2 * ((amplitude - 1) + sign * (amplitude + 1) * cos),
             (amplitude + 1) + sign * (amplitude - 1) * cos - root]
        if kind not in ("lowshelf", "highshelf"):
            raise ValueError(f"unknown filter kind {kind!r}")
    b, a = np.asarray(b), np.asarray(a)
    return b / a[0], a / a[0]
