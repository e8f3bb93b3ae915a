"""Audio: reading waveforms and the log-spectrogram front-end.

The lineage (EZ-VSL, SLAVC, FNAC, SSL-Align, the negative-audio evaluation code) computes, per clip and in
numpy, ``scipy.signal.spectrogram(wave, 16000, nperseg=512, noverlap=274)`` → ``log(S + 1e-7)`` → ``/ 12``:
a 1×257×200 log power spectrogram for 3 s of 16 kHz audio. :class:`LogSpectrogram` computes the same numbers
in torch, on a whole batch, on the model's device (``legacy`` preset; the test suite checks it against scipy).

Silence, noise and real audio all go through this one front-end. (The companion paper's code skips the log for
silence and noise in some models, so their "spectrograms" are all zeros; we do not, and the book says why.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import gcd
import os
from pathlib import Path

import numpy as np
from scipy.signal import get_window, resample_poly
import soundfile
import torch
from torch import nn
import torchaudio

from sslsan.errors import DataError
from sslsan.io import atomic_path

SAMPLE_RATE = 16_000


class AudioFileError(DataError):
    """An audio file that cannot be used; the message names the file and the problem."""


# ----------------------------------------------------------------------------------------------- front-end


@dataclass(frozen=True)
class FrontEndConfig:
    """How a waveform becomes the encoder's input. All presets share one code path.

    ``window`` is a scipy window spec; ``detrend`` removes each frame's mean before windowing (scipy's default,
    which the lineage inherits); ``n_mels`` > 0 applies a mel filterbank to the power spectrum.
    The log is ``log(S + log_eps)`` and the result is ``(log S - norm_mean) / norm_std``.
    """

    name: str = "legacy"
    sample_rate: int = SAMPLE_RATE
    duration: float = 3.0
    n_fft: int = 512
    hop: int = 238
    window: tuple | str = ("tukey", 0.25)
    detrend: bool = True
    n_mels: int = 0
    log_eps: float = 1e-7
    norm_mean: float = 0.0
    norm_std: float = 12.0

    @property
    def num_samples(self) -> int:
        return int(round(self.duration * self.sample_rate))

    @property
    def num_frames(self) -> int:
        return 1 + (self.num_samples - self.n_fft) // self.hop

    @property
    def num_bins(self) -> int:
        return self.n_mels if self.n_mels else self.n_fft // 2 + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one clip's spectrogram: (1, bins, frames)."""
        return (1, self.num_bins, self.num_frames)


#: ``legacy``: EZ-VSL / SLAVC / FNAC (noverlap 274 → hop 238, 257×200 for 3 s);
#: ``lvs``: LVS / SSL-Align (noverlap 353 → hop 159, 257×299);
#: ``mini``: our CPU preset, 64 mel bands × 64 frames (64 ms windows every 46.5 ms), same log and scaling.
PRESETS: dict[str, FrontEndConfig] = {
    "legacy": FrontEndConfig(name="legacy", hop=512 - 274),
    "lvs": FrontEndConfig(name="lvs", hop=512 - 353),
    "mini": FrontEndConfig(name="mini", n_fft=1024, hop=744, window="hann", n_mels=64),
}


def get_preset(name: str, **overrides) -> FrontEndConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown front-end preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


class LogSpectrogram(nn.Module):
    """Batched log power spectrogram, numerically the lineage's scipy pipeline for the ``legacy`` preset.

    Input: waveforms ``(B, N)`` or ``(B, 1, N)`` with ``N >= n_fft``. Output: ``(B, 1, bins, frames)``.
    Matches ``scipy.signal.spectrogram(x, fs, window, nperseg=n_fft, noverlap=n_fft-hop)`` (one-sided PSD,
    'density' scaling, constant detrend), then ``(log(S + eps) - mean) / std``.
    """

    def __init__(self, config: FrontEndConfig | str = "legacy"):
        super().__init__()
        self.config = get_preset(config) if isinstance(config, str) else config
        cfg = self.config
        window = torch.as_tensor(get_window(cfg.window, cfg.n_fft, fftbins=True), dtype=torch.float64)
        # PSD 'density' scaling; one-sided spectra double every bin but DC (and Nyquist for even n_fft)
        scale = torch.full((cfg.n_fft // 2 + 1,), 2.0 / (cfg.sample_rate * float((window**2).sum())))
        scale[0] /= 2
        if cfg.n_fft % 2 == 0:
            scale[-1] /= 2
        self.register_buffer("window", window.float(), persistent=False)
        self.register_buffer("scale", scale.float(), persistent=False)
        if cfg.n_mels:
            fbanks = torchaudio.functional.melscale_fbanks(
                cfg.n_fft // 2 + 1, 0.0, cfg.sample_rate / 2, cfg.n_mels, cfg.sample_rate, norm="slaney",
                mel_scale="slaney",
            )
            self.register_buffer("mel", fbanks.float(), persistent=False)
        else:
            self.mel = None

    def power(self, wave: torch.Tensor) -> torch.Tensor:
        """One-sided power spectral density, ``(B, freq, frames)`` (mel bands if configured)."""
        cfg = self.config
        if wave.dim() == 3:
            wave = wave.squeeze(1)
        if wave.dim() != 2:
            raise ValueError(f"expected waveforms of shape (B, N) or (B, 1, N), got {tuple(wave.shape)}")
        if wave.shape[-1] < cfg.n_fft:
            raise ValueError(f"waveforms have {wave.shape[-1]} samples, fewer than n_fft={cfg.n_fft}")
        frames = wave.float().unfold(-1, cfg.n_fft, cfg.hop)  # B × T × n_fft
        if cfg.detrend:
            frames = frames - frames.mean(-1, keepdim=True)
        spectrum = torch.fft.rfft(frames * self.window, dim=-1)
        psd = (spectrum.real**2 + spectrum.imag**2) * self.scale  # B × T × F
        if self.mel is not None:
            psd = psd @ self.mel
        return psd.transpose(1, 2)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        log_power = torch.log(self.power(wave) + cfg.log_eps)
        return ((log_power - cfg.norm_mean) / cfg.norm_std).unsqueeze(1)


# ----------------------------------------------------------------------------------------------- waveforms


def fit_length(wave: np.ndarray, num_samples: int, offset: int | None = None) -> np.ndarray:
    """Crop or tile a 1-D waveform to ``num_samples``.

    Longer clips are cropped at ``offset`` (default: centred, as EZ-VSL takes the middle 3 s). Shorter clips are
    tiled (repeated) from their start, as the lineage does, so a short bark becomes a regular train of barks rather
    than a bark followed by digital silence.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono 1-D waveform, got shape {wave.shape}")
    if len(wave) == 0:
        raise ValueError("cannot fit an empty waveform")
    if len(wave) < num_samples:
        wave = np.tile(wave, -(-num_samples // len(wave)))
        offset = 0 if offset is None else offset
    if offset is None:
        offset = (len(wave) - num_samples) // 2
    offset = int(np.clip(offset, 0, len(wave) - num_samples))
    return wave[offset : offset + num_samples]


def load_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, *, resample: bool = True, allow_silent: bool = False
) -> np.ndarray:
    """Read an audio file as float32 mono in [-1, 1] at ``sample_rate``.

    Stereo is averaged to mono (as the lineage does). A file at another rate is resampled when ``resample`` is
    true and rejected otherwise. Missing, unreadable, empty, non-finite and (unless ``allow_silent``) all-zero
    files raise :class:`AudioFileError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: audio file not found")
    check_wav_length(path)
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as err:  # corrupt or unsupported container
        raise AudioFileError(f"{path}: cannot decode audio ({err})") from err
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file has no samples")
    wave = data.mean(axis=1)
    if not np.all(np.isfinite(wave)):
        raise AudioFileError(f"{path}: the audio contains NaN or infinite samples")
    if file_rate != sample_rate:
        if not resample:
            raise AudioFileError(f"{path}: sample rate is {file_rate} Hz, expected {sample_rate} Hz")
        wave = resample_wave(wave, file_rate, sample_rate)
    if not allow_silent and float(np.abs(wave).max()) == 0.0:
        raise AudioFileError(f"{path}: the audio is digital silence (all samples are zero)")
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def wav_data_sizes(head: bytes, file_size: int) -> tuple[int, int] | None:
    """``(bytes the data chunk declares, bytes the file holds after its start)`` of a RIFF/WAVE file from its first
    bytes ``head``; ``None`` for other formats, or when the header leaves the length open (streaming writers
    put 0 or 0xFFFFFFFF there)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position = 12
    while position + 8 <= len(head):
        chunk, size = head[position : position + 4], int.from_bytes(head[position + 4 : position + 8], "little")
        if chunk == b"data":
            if size in (0, 0xFFFFFFFF):
                return None
            return size, file_size - (position + 8)
        position += 8 + size + (size & 1)  # chunks are padded to an even size
    return None


def check_wav_length(path: Path, head_bytes: int = 1 << 16) -> None:
    """Refuse a WAV file whose data is cut short: libsndfile then silently reads only the frames that are there
    (a truncated copy or download would become a shorter clip, tiled to length without a word)."""
    with open(path, "rb") as handle:
        head = handle.read(head_bytes)
    sizes = wav_data_sizes(head, path.stat().st_size)
    if sizes is not None and sizes[1] < sizes[0]:
        raise AudioFileError(f"{path}: cut short: its header declares {sizes[0]} bytes of audio, the file holds "
                             f"{max(0, sizes[1])} (a damaged or partial copy)")


def resample_wave(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling (polyphase, Kaiser window) of a 1-D waveform."""
    if source_rate == target_rate:
        return np.asarray(wave, dtype=np.float32)
    g = gcd(int(source_rate), int(target_rate))
    return resample_poly(np.asarray(wave, dtype=np.float64), target_rate // g, source_rate // g).astype(np.float32)


def save_audio(path: str | os.PathLike, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a mono 16-bit PCM wav atomically (a temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), np.clip(np.asarray(wave, dtype=np.float32), -1, 1), sample_rate,
                        subtype="PCM_16", format="WAV")


def tone(frequency: float, duration: float = 1.0, sample_rate: int = SAMPLE_RATE, amplitude: float = 0.5) -> np.ndarray:
    """A pure sine tone, handy for demonstrations and tests."""
    t = np.arange(int(round(duration * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
