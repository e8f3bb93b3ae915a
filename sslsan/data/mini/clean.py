"""Cleaning IS3+-mini's raw material: recordings, rendered instruments, sprites, backgrounds and emoji.

- **Recordings**: decode, average to mono, resample to 16 kHz, drop when silent, broken or too short (four Tux
  Paint effects are digital silence), trim silent ends, cap at 20 s, peak-normalise. The instrument programs of
  two General MIDI soundfonts are rendered (:mod:`sslsan.data.mini.synth`) and cleaned the same way.
- **Sprites**: trim each PNG stamp to its alpha box (the alpha channel is the segmentation mask) and refuse stamps
  with no real transparency; one Noto Color Emoji glyph per class is rendered as a style-shift sprite.
- **Backgrounds**: decode, cut black letterbox bars, resize to a short side of 320 px.

An unusable file raises :class:`~sslsan.data.mini.fetch.DroppedAsset` with the reason.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from sslsan.audio import resample_wave
from sslsan.data.mini import classmap, synth
from sslsan.data.mini.classmap import CleanRules
from sslsan.data.mini.fetch import DEB_PACKAGES, SONICPI_KIT, SOUNDFONT_FILES, DroppedAsset, Drops, Log, Staging, \
    log_stderr

SAMPLE_RATE = 16_000
#: seed of the rendered instrument phrases; part of the asset version (change both together)
SYNTH_SEED = 20_251_125
SILENCE_DBFS = -60.0
SPRITE_MAX_SIDE = 320
BACKGROUND_SHORT_SIDE = 320
EMOJI_FONT_SIZE = 109  # the only size Noto Color Emoji's bitmap strikes come in


# ------------------------------------------------------------------------------------------------ audio


def _strip_id3(data: bytes) -> bytes:
    """Drop an ID3v2 tag from the front of an mp3: libsndfile cannot detect the format through a large one
    when reading from memory."""
    if data[:3] != b"ID3" or len(data) < 10:
        return data
    size = 0
    for byte in data[6:10]:  # "synchsafe" integer: 7 bits per byte
        size = (size << 7) | (byte & 0x7F)
    start = 10 + size + (10 if data[5] & 0x10 else 0)
    # some taggers write a wrong (zero) size: resume at the first MPEG frame sync (11 set bits) after it
    for position in range(start, len(data) - 1):
        if data[position] == 0xFF and data[position + 1] & 0xE0 == 0xE0:
            return data[position:]
    return data


def decode_audio(data: bytes, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Decode any container soundfile reads (wav, ogg/oga, flac, mp3) to mono float32 at ``sample_rate``.

    Returns the wave and the file's original rate. Undecodable data raises :class:`DroppedAsset`.
    """
    try:
        wave, rate = soundfile.read(io.BytesIO(_strip_id3(data)), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, ValueError) as err:
        raise DroppedAsset(f"cannot decode audio ({err})") from None
    if wave.shape[0] == 0:
        raise DroppedAsset("the file has no samples")
    wave = wave.mean(axis=1)
    if not np.all(np.isfinite(wave)):
        raise DroppedAsset("the audio contains NaN or infinite samples")
    return resample_wave(wave, rate, sample_rate), int(rate)


def sounding_frames(wave: np.ndarray, sample_rate: int, trim_db: float) -> tuple[np.ndarray, int]:
    """Indices of the 10 ms frames within ``trim_db`` of the loudest one, and the frame length in samples."""
    frame = sample_rate // 100
    frames = len(wave) // frame
    if not frames:
        return np.zeros(0, dtype=int), frame
    energy = np.sqrt(np.mean(np.square(wave[: frames * frame].reshape(frames, frame)), axis=1))
    return np.flatnonzero(energy > np.max(energy) * 10 ** (-trim_db / 20)), frame


def clean_wave(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, rules: CleanRules = CleanRules()) -> np.ndarray:
    """Reject silent or too-short audio; trim silent ends; cap the length; normalise the level.

    The level is peak −1 dBFS, or (``rules.loudness_dbfs``) that RMS over the sounding frames, so quiet birds and
    loud engines sound alike, with the peak limited to −1 dBFS.
    """
    wave = np.asarray(wave, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    level = 20 * np.log10(rms) if rms > 0 else -np.inf
    if level < SILENCE_DBFS:
        raise DroppedAsset(f"silent (RMS {level:.0f} dBFS)" if np.isfinite(level) else "digital silence")
    loud, frame = sounding_frames(wave, sample_rate, rules.trim_db)
    if len(loud):
        pad = 5  # keep 50 ms around the sound
        start = max(0, (loud[0] - pad) * frame)
        wave = wave[start: min(len(wave), (loud[-1] + 1 + pad) * frame)]
        loud = loud - start // frame
    if len(wave) < rules.min_seconds * sample_rate:
        raise DroppedAsset(f"too short ({len(wave) / sample_rate:.2f} s after trimming silence)")
    if len(loud) * frame < rules.min_sound_seconds * sample_rate:
        raise DroppedAsset(f"too little sound ({len(loud) * frame / sample_rate:.2f} s above −{rules.trim_db:.0f} dB "
                           f"of its peak; {rules.min_sound_seconds} s needed)")
    wave = wave[: int(rules.max_seconds * sample_rate)]
    peak_gain = 10 ** (-1 / 20) / np.max(np.abs(wave))
    if rules.loudness_dbfs is None:
        return (wave * peak_gain).astype(np.float32)
    sounding = np.concatenate([wave[i * frame:(i + 1) * frame] for i in loud if i * frame < len(wave)]) \
        if len(loud) else wave
    gain = 10 ** (rules.loudness_dbfs / 20) / max(float(np.sqrt(np.mean(np.square(sounding, dtype=np.float64)))), 1e-9)
    return (wave * min(gain, peak_gain)).astype(np.float32)


def clean_pool(raw: dict[str, bytes], log: Log = log_stderr, rules: CleanRules = CleanRules()
               ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Decode and clean raw recordings (source id → bytes); unusable ones are dropped with a logged reason."""
    drops = Drops(log)
    kept: dict[str, np.ndarray] = {}
    for source_id in sorted(raw):
        wave = drops.attempt(source_id, lambda: clean_wave(decode_audio(raw[source_id])[0], rules=rules))
        if wave is not None:
            kept[source_id] = wave
    return kept, drops.reasons


def render_synthetic(stage: Staging, source_ids: list[str], log: Log = log_stderr) -> dict[str, np.ndarray]:
    """Render every ``gm:`` and ``kit:`` source id (one soundfont load per font)."""
    module = synth.load_tinysoundfont(stage.tools)
    players: dict[str, synth.SoundfontPlayer] = {}
    out: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for source_id in sorted(source_ids):
        kind, *parts = source_id.split(":")
        if kind == "gm":
            font, bank, program = parts[0], int(parts[1]), int(parts[2])
            rng = np.random.default_rng([SYNTH_SEED, classmap.SOUNDFONTS.index(font), bank, program])
            events = synth.drum_events(rng) if bank == 128 else synth.melody_events(program, rng)
            if font not in players:
                players[font] = synth.SoundfontPlayer(module, stage.raw / DEB_PACKAGES[font].prefix /
                                                      SOUNDFONT_FILES[font])
            wave = players[font].render(bank, program, events)
        else:
            rng = np.random.default_rng([SYNTH_SEED, 999])
            hits = {role: [decode_audio(stage.read(f"sonicpi:{name}"))[0] for name in names]
                    for role, names in SONICPI_KIT.items()}
            wave = synth.render_sampled_kit(hits, synth.drum_events(rng), rng)
        out[source_id] = wave
    log(f"assets: rendered {len(out)} instrument recordings in {time.perf_counter() - started:.1f} s")
    return out


# ------------------------------------------------------------------------------------------------ images


def _open_image(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise DroppedAsset(f"cannot decode image ({err})") from None
    return image


def _resized(image: Image.Image, scale: float) -> Image.Image:
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)


def clean_sprite(data: bytes) -> Image.Image:
    """A stamp as an RGBA image trimmed to its alpha box; stamps without real transparency are refused."""
    image = _open_image(data)
    if "A" not in image.getbands() and image.mode != "P":
        raise DroppedAsset("the image has no alpha channel, so no mask")
    image = image.convert("RGBA")
    alpha = np.asarray(image)[..., 3]
    if (alpha < 16).mean() < 0.05 or (alpha > 240).mean() < 0.05:
        raise DroppedAsset("the alpha channel is not a cut-out mask (almost all opaque or transparent)")
    image = image.crop(Image.fromarray((alpha > 16).astype(np.uint8) * 255).getbbox())
    if max(image.size) > SPRITE_MAX_SIDE:
        image = _resized(image, SPRITE_MAX_SIDE / max(image.size))
    return image


def clean_background(data: bytes) -> Image.Image:
    """A background photo as RGB, black letterbox bars removed, short side :data:`BACKGROUND_SHORT_SIDE`."""
    image = _open_image(data).convert("RGB")
    pixels = np.asarray(image).mean(axis=2)
    rows = np.flatnonzero(pixels.mean(axis=1) > 12)
    cols = np.flatnonzero(pixels.mean(axis=0) > 12)
    if len(rows) < 64 or len(cols) < 64:
        raise DroppedAsset("the image is (almost) black")
    image = image.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
    return _resized(image, BACKGROUND_SHORT_SIDE / min(image.size))


def emoji_source_id(text: str) -> str:
    """The source id of an emoji sprite: ``emoji:`` and its code points in hex (``emoji:1F415``)."""
    return "emoji:" + "-".join(f"{ord(c):04X}" for c in text)


def render_emoji(font_path: Path, text: str) -> Image.Image:
    """One colour emoji glyph as a tightly cropped RGBA image (its alpha is the mask)."""
    font = ImageFont.truetype(str(font_path), EMOJI_FONT_SIZE)
    canvas = Image.new("RGBA", (EMOJI_FONT_SIZE * 2, EMOJI_FONT_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((EMOJI_FONT_SIZE // 4, EMOJI_FONT_SIZE // 4), text, font=font, embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    if box is None:
        raise DroppedAsset(f"the font has no glyph for {text!r}")
    return canvas.crop(box)
