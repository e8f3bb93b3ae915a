"""Instrument recordings rendered from General MIDI soundfonts, for audio variety.

Real instrument recordings in the packages are few (2–7 per class), and the measured bottleneck of IS3+-mini is
audio variety. Each GM program of each soundfont is a different set of sampled instruments, so rendering many
programs gives many independent *recording groups* per instrument class. A rendered recording is a short random
phrase (notes, durations, velocities and chords drawn from a seeded generator) or, for drum kits, a random
groove.

Synthesis uses the PyPI package ``tinysoundfont`` (MIT; TinySoundFont compiled in, no system library). It is
*not* a dependency of sslsan: its wheel declares ``pyaudio`` (only needed for live playback, and without Linux
wheels), so the asset builder downloads the pinned wheel like any other asset and imports it from there
(:func:`load_tinysoundfont`).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sslsan.data.mini.classmap import PROGRAM_RANGES, SFX_PROGRAMS


@dataclass(frozen=True)
class NoteEvent:
    """A note: start and length in seconds, MIDI key and velocity; ``role`` names drum-kit parts."""

    start: float
    length: float
    key: int
    velocity: int
    role: str = ""


def melody_events(program: int, rng: np.random.Generator, seconds: float = 8.0) -> list[NoteEvent]:
    """A random phrase for a melodic program: notes inside its range, varied lengths and velocities, some chords.

    Sound-effect programs (sea shore, telephone, helicopter, applause) hold a few long notes instead.
    """
    low, high = PROGRAM_RANGES.get(program, (48, 84))
    events: list[NoteEvent] = []
    time = 0.0
    if program in SFX_PROGRAMS:
        while time < seconds - 1.0:
            length = float(rng.uniform(1.5, 3.5))
            events.append(NoteEvent(time, length, int(rng.integers(low, high + 1)), int(rng.integers(70, 121))))
            time += length + float(rng.uniform(0.0, 0.4))
        return events
    key = int(rng.integers(low, high + 1))
    while time < seconds - 0.3:
        length = float(rng.choice([0.15, 0.25, 0.35, 0.5, 0.7, 1.0]))
        velocity = int(rng.integers(45, 121))
        key = int(np.clip(key + rng.integers(-7, 8), low, high))  # mostly stepwise, like a melody
        events.append(NoteEvent(time, length * 0.95, key, velocity))
        if rng.random() < 0.2:  # a chord: a third and a fifth above, slightly strummed
            for step, interval in enumerate((int(rng.choice([3, 4])), 7)):
                if key + interval <= high:
                    events.append(NoteEvent(time + 0.02 * (step + 1), length * 0.95, key + interval, velocity))
        time += length + (float(rng.uniform(0.05, 0.4)) if rng.random() < 0.25 else 0.0)
    return events


#: GM keys of the drum-kit parts a groove uses
DRUM_KEYS = {"kick": 36, "snare": 38, "hat": 42, "open_hat": 46, "tom_low": 45, "tom_mid": 47, "tom_high": 50,
             "crash": 49, "ride": 51}


def drum_events(rng: np.random.Generator, seconds: float = 8.0) -> list[NoteEvent]:
    """A random groove: kick and snare backbeat with variations, hi-hat or ride, tom fills and crashes."""
    tempo = float(rng.uniform(80, 150))
    step = 60.0 / tempo / 4  # sixteenth notes
    timekeeper = "ride" if rng.random() < 0.3 else "hat"
    events: list[NoteEvent] = []
    steps = int(seconds / step)
    for index in range(steps):
        beat, time = index % 16, index * step
        bar_end = index % 64 >= 60
        if index % 64 == 0:
            events.append(NoteEvent(time, 1.0, DRUM_KEYS["crash"], int(rng.integers(90, 127)), "crash"))
        if bar_end and rng.random() < 0.7:
            tom = str(rng.choice(["tom_high", "tom_mid", "tom_low"]))
            events.append(NoteEvent(time, 0.3, DRUM_KEYS[tom], int(rng.integers(70, 120)), tom))
            continue
        if beat in (0, 8) or (beat in (6, 10, 14) and rng.random() < 0.25):
            events.append(NoteEvent(time, 0.3, DRUM_KEYS["kick"], int(rng.integers(85, 127)), "kick"))
        if beat in (4, 12) or (beat % 2 == 1 and rng.random() < 0.06):
            events.append(NoteEvent(time, 0.3, DRUM_KEYS["snare"], int(rng.integers(75, 127)), "snare"))
        if beat % 2 == 0 and rng.random() < 0.95:
            part = "open_hat" if timekeeper == "hat" and beat == 14 and rng.random() < 0.3 else timekeeper
            events.append(NoteEvent(time, 0.2, DRUM_KEYS[part], int(rng.integers(40, 100)), part))
    return events


# ------------------------------------------------------------------------------------------------ soundfonts


def load_tinysoundfont(site_dir: Path):
    """Import ``tinysoundfont`` from an unpacked wheel folder (prepended to ``sys.path`` only for the import)."""
    if "tinysoundfont" in sys.modules:
        return sys.modules["tinysoundfont"]
    sys.path.insert(0, str(site_dir))
    try:
        return importlib.import_module("tinysoundfont")
    finally:
        sys.path.remove(str(site_dir))


class SoundfontPlayer:
    """Plays note events on the presets of one soundfont (loaded once: FluidR3 takes ~0.5 s to load)."""

    def __init__(self, module, sf2: Path, sample_rate: int = 16_000):
        self.sample_rate = sample_rate
        self.synth = module.Synth(samplerate=sample_rate, gain=-6)
        self.font = self.synth.sfload(str(sf2))

    def render(self, bank: int, program: int, events: list[NoteEvent], tail: float = 1.0) -> np.ndarray:
        """Mono float32 audio of ``events`` on preset ``bank``/``program`` (bank 128 = drum kit, channel 10).

        Notes are switched on and off at sample accuracy; every voice is silenced afterwards, so renders do
        not bleed into each other.
        """
        synth, rate = self.synth, self.sample_rate
        channel = 9 if bank == 128 else 0
        synth.program_select(channel, self.font, bank, program, bank == 128)
        changes = sorted([(e.start, 1, e) for e in events] + [(e.start + e.length, 0, e) for e in events],
                         key=lambda item: (item[0], item[1]))
        chunks: list[np.ndarray] = []
        rendered = 0
        for time, is_on, event in changes:
            target = int(round(time * rate))
            if target > rendered:
                chunks.append(np.frombuffer(synth.generate(target - rendered), dtype=np.float32).copy())
                rendered = target
            if is_on:
                synth.noteon(channel, event.key, event.velocity)
            else:
                synth.noteoff(channel, event.key)
        chunks.append(np.frombuffer(synth.generate(int(tail * rate)), dtype=np.float32).copy())
        synth.sounds_off()
        synth.generate(rate // 10)  # let the synthesiser retire the silenced voices
        stereo = np.concatenate(chunks).reshape(-1, 2)
        return stereo.mean(axis=1).astype(np.float32)


def render_sampled_kit(hits: dict[str, list[np.ndarray]], events: list[NoteEvent], rng: np.random.Generator,
                       sample_rate: int = 16_000) -> np.ndarray:
    """Mix recorded drum hits (``role`` → takes at ``sample_rate``) at the event times; velocity scales gain."""
    length = int((max(e.start for e in events) + 2.0) * sample_rate)
    out = np.zeros(length, dtype=np.float32)
    for event in events:
        takes = hits.get(event.role) or hits.get("snare")
        take = takes[int(rng.integers(len(takes)))]
        start = int(event.start * sample_rate)
        end = min(length, start + len(take))
        out[start:end] += take[: end - start] * (event.velocity / 127.0)
    return out
