"""Negative audio for a query: silence, noise and offscreen sound, drawn reproducibly.

The companion paper's evaluation code (vssl_eval) pairs every test query with three negatives:

- **silence**: ``zeros`` of the clip length (nothing to store);
- **noise**: white Gaussian noise ``N(0, 1)`` of the clip length (not mixed with anything; ``level`` scales the
  standard deviation, 1.0 as in the paper);
- **offscreen**: a clip of a class absent from the image, drawn from the ``class_files_dict`` after removing
  *every* class present in the image (both objects on IS3);

and repeats the evaluation over ten seeds (:data:`PAPER_SEEDS`), re-drawing noise and offscreen clips each time.

:func:`draw_negatives` does the drawing. Each query gets its own generator, seeded from ``(seed, query_id)``, so a
query's negatives do not depend on which other queries are evaluated or in what order. IS3+-mini's fixed
negatives (stored in the annotations) are one such draw, made with the dataset seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from sslsan.data.records import Query, resolve

PAPER_SEEDS: tuple[int, ...] = (1234, 2345, 3456, 4567, 5678, 6789, 7890, 8901, 9012, 9999)


def stable_int(text: str) -> int:
    """A 63-bit integer from a string, the same on every machine and Python run (``hash()`` is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class NegativeDraw:
    """The negatives of one query for one seed: an offscreen recording and crop, and a noise seed."""

    query_id: str
    offscreen_class: str
    offscreen_audio: str  # a file of the class_files_dict (relative to the dataset root)
    offscreen_offset: int  # first sample of the crop, at the dataset's sample rate
    noise_seed: int

    def noise(self, num_samples: int, level: float = 1.0) -> np.ndarray:
        """The white-noise negative: ``level · N(0, 1)``, float32, reproducible from :attr:`noise_seed`."""
        return noise_wave(self.noise_seed, num_samples, level)

    def offscreen_wave(self, root: str | Path, num_samples: int, sample_rate: int = 16_000) -> np.ndarray:
        """The offscreen negative: ``num_samples`` from :attr:`offscreen_offset` (short files are tiled)."""
        from sslsan.audio import fit_length, load_audio

        wave = load_audio(resolve(root, self.offscreen_audio), sample_rate)
        return fit_length(wave, num_samples, self.offscreen_offset)


def noise_wave(seed: int, num_samples: int, level: float = 1.0) -> np.ndarray:
    """``level · N(0, 1)`` noise from ``seed`` (float32), made by :func:`sslsan.negatives.seeded_noise`, the one
    noise generator training and evaluation share."""
    from sslsan.negatives import NoiseConfig, seeded_noise

    return seeded_noise([seed], num_samples, NoiseConfig("white", level))[0].numpy()


def present_classes(query: Query) -> set[str]:
    """Every class in the query's image: its own and those of the other objects listed in ``objects``."""
    classes = {obj["class"] for obj in query.extra.get("objects", ()) if "class" in obj}
    if query.class_name:
        classes.add(query.class_name)
    return classes


def file_lengths(root: str | Path, files: Iterable[str]) -> dict[str, int]:
    """Number of samples of each audio file (header only, no decoding)."""
    import soundfile

    return {name: soundfile.info(str(resolve(root, name))).frames for name in files}


def draw_negatives(queries: Sequence[Query], class_files: Mapping[str, Sequence[str]], seed: int, *,
                   root: str | Path | None = None, num_samples: int = 48_000,
                   lengths: Mapping[str, int] | None = None) -> list[NegativeDraw]:
    """Offscreen clip (class, file, crop offset) and noise seed for each query, deterministically.

    For each query: remove every class present in its image from ``class_files``, pick a class uniformly from
    the sorted remainder, then a file uniformly from that class's sorted list, then a crop offset uniformly among
    the positions where ``num_samples`` fit (0 for shorter files, which are tiled). File lengths come from
    ``lengths`` or are read from the headers under ``root``; with neither, offsets are 0 (vssl_eval crops the
    centre of the clip it reads; a fixed offset keeps the draw a pure function of its inputs).
    """
    if lengths is None and root is not None:
        lengths = file_lengths(root, sorted({f for files in class_files.values() for f in files}))
    draws = []
    for query in queries:
        rng = np.random.default_rng([seed, stable_int(query.query_id)])
        remaining = sorted(c for c in class_files if c not in present_classes(query) and class_files[c])
        if not remaining:
            raise ValueError(f"query {query.query_id}: no class left to draw an offscreen clip from")
        chosen = remaining[int(rng.integers(len(remaining)))]
        files = sorted(class_files[chosen])
        audio = files[int(rng.integers(len(files)))]
        length = (lengths or {}).get(audio, 0)
        offset = int(rng.integers(0, length - num_samples + 1)) if length > num_samples else 0
        draws.append(NegativeDraw(query.query_id, chosen, audio, offset, int(rng.integers(0, 2**31 - 1))))
    return draws
