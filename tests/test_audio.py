"""The front-end against scipy (the lineage's reference), and the waveform I/O error paths."""

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import spectrogram

from sslsan import audio


def scipy_reference(wave: np.ndarray, noverlap: int) -> np.ndarray:
    """The lineage's per-clip numpy pipeline, written out plainly."""
    _, _, power = spectrogram(wave.astype(np.float64), 16000, nperseg=512, noverlap=noverlap)
    return np.log(power + 1e-7) / 12.0


@pytest.mark.parametrize("preset, noverlap, shape", [("legacy", 274, (257, 200)), ("lvs", 353, (257, 299))])
def test_presets_match_scipy(preset, noverlap, shape):
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    waves = np.stack([
        rng.uniform(-1, 1, 48000),                      # broadband
        0.3 * np.sin(2 * np.pi * 440 * t) + 0.05,       # a tone with a DC offset (detrend matters)
        np.zeros(48000),                                # silence: every bin at the log floor
        rng.standard_normal(48000),                     # the evaluation's N(0, 1) noise
    ]).astype(np.float32)
    out = audio.LogSpectrogram(preset)(torch.from_numpy(waves))
    assert out.shape == (4, 1, *shape)
    assert audio.get_preset(preset).shape == (1, *shape)
    for got, wave in zip(out, waves):
        np.testing.assert_allclose(got[0].numpy(), scipy_reference(wave, noverlap), atol=2e-5)


def test_silence_sits_at_the_log_floor_and_noise_is_flat():
    front_end = audio.LogSpectrogram("legacy")
    silence = front_end(torch.zeros(1, 48000))
    assert torch.allclose(silence, torch.full_like(silence, np.log(1e-7) / 12))
    noise = front_end(torch.from_numpy(np.random.default_rng(1).standard_normal((1, 48000)).astype(np.float32)))
    # white noise of unit variance: PSD ≈ 2 / fs in every bin but DC/Nyquist
    assert abs(noise[0, 0, 1:-1].mean().item() - np.log(2 / 16000 + 1e-7) / 12) < 0.05


def test_mini_preset_shape_and_batching_is_per_sample():
    front_end = audio.LogSpectrogram("mini")
    waves = torch.randn(3, 48000) * 0.1
    batch = front_end(waves)
    assert batch.shape == (3, *front_end.config.shape) == (3, 1, 64, 64)
    one = front_end(waves[1:2])
    assert torch.allclose(batch[1:2], one, atol=1e-6)


def test_front_end_rejects_bad_shapes():
    front_end = audio.LogSpectrogram("legacy")
    with pytest.raises(ValueError, match="fewer than n_fft"):
        front_end(torch.zeros(1, 100))
    with pytest.raises(ValueError, match="shape"):
        front_end(torch.zeros(2, 2, 2, 48000))
    with pytest.raises(ValueError, match="unknown front-end preset"):
        audio.get_preset("nope")


def test_fit_length_crops_centre_and_tiles():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(audio.fit_length(wave, 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(audio.fit_length(wave, 4, offset=0), [0, 1, 2, 3])
    np.testing.assert_array_equal(audio.fit_length(wave[:3], 7), [0, 1, 2, 0, 1, 2, 0])
    with pytest.raises(ValueError):
        audio.fit_length(np.zeros((2, 5)), 3)


def test_load_audio_round_trip_mono_and_resampling(tmp_path):
    tone = audio.tone(440, 1.0)
    audio.save_audio(tmp_path / "a.wav", tone)
    np.testing.assert_allclose(audio.load_audio(tmp_path / "a.wav"), tone, atol=1 / 32768)
    stereo = np.stack([tone, -tone * 0], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, 16000)
    np.testing.assert_allclose(audio.load_audio(tmp_path / "stereo.wav"), tone / 2, atol=1e-4)
    soundfile.write(tmp_path / "hi.wav", audio.tone(440, 1.0, sample_rate=44100), 44100)
    resampled = audio.load_audio(tmp_path / "hi.wav")
    assert len(resampled) == 16000
    spectrum = np.abs(np.fft.rfft(resampled))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins for a 1 s clip


@pytest.mark.parametrize("case, message", [
    ("missing", "not found"),
    ("corrupt", "cannot decode"),
    ("empty", "no samples"),
    ("silent", "digital silence"),
    ("rate", "expected 16000 Hz"),
])
def test_load_audio_errors_name_the_file(tmp_path, case, message):
    path = tmp_path / f"{case}.wav"
    kwargs = {}
    if case == "corrupt":
        path.write_bytes(b"RIFF\x00\x00garbage that is not audio")
    elif case == "empty":
        soundfile.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif case == "silent":
        soundfile.write(path, np.zeros(1600, dtype=np.float32), 16000)
    elif case == "rate":
        soundfile.write(path, audio.tone(300, 0.5, 8000), 8000)
        kwargs = {"resample": False}
    with pytest.raises(audio.AudioFileError, match=message) as info:
        audio.load_audio(path, **kwargs)
    assert path.name in str(info.value)


def test_silent_audio_allowed_when_asked(tmp_path):
    soundfile.write(tmp_path / "s.wav", np.zeros(800, dtype=np.float32), 16000)
    assert audio.load_audio(tmp_path / "s.wav", allow_silent=True).max() == 0


def test_save_audio_leaves_no_temporary_file(tmp_path):
    audio.save_audio(tmp_path / "sub" / "x.wav", audio.tone(200, 0.1))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.wav"]
