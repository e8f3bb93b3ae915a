"""The companion paper's evaluation protocol, in one place: seeds, negative kinds, the per-query draws of negative
audio, the noise of a dataset, and the table of queries every metric reads.

The companion evaluation code pairs every test query with three negatives:

- **silence**: ``zeros`` of the clip length;
- **noise**: white Gaussian noise ``N(0, 1)`` of the clip length (its level is the dataset's ``noise_level``);
- **offscreen**: a clip of a class absent from the image, drawn from the ``class_files_dict`` after removing
  *every* class present in the image (both objects on IS3);

and repeats the evaluation over ten seeds (:data:`COMPANION_SEEDS`), re-drawing noise and offscreen clips each time.
:func:`draw_negatives` does the drawing. Each query gets its own generator, seeded from ``(seed, query_id)``, so a
query's negatives do not depend on which other queries are evaluated or in what order. IS3+-mini's fixed negatives
(stored in its annotations) are one such draw, made with the dataset seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import soundfile
import torch

from sslsan.audio import fit_length, load_audio
from sslsan.data.records import AnnotationError, Query, box_map, resolve
from sslsan.negatives import KINDS as NEGATIVE_KINDS
from sslsan.negatives import NoiseConfig, seeded_noise

#: The companion paper's evaluation seeds: noise and offscreen audio are re-drawn for each and pooled.
COMPANION_SEEDS: tuple[int, ...] = (1234, 2345, 3456, 4567, 5678, 6789, 7890, 8901, 9012, 9999)

__all__ = ["COMPANION_SEEDS", "NEGATIVE_KINDS", "NegativeDraw", "QueryTable", "absent_classes", "dataset_noise",
           "draw_negatives",
           "present_classes", "query_table", "stable_int"]


def dataset_noise(negatives: Mapping) -> NoiseConfig:
    """The noise negative a dataset declares (``dataset.json``'s ``negatives.noise_level``: the std of white noise;
    1.0, the companion paper's N(0, 1), when absent)."""
    level = negatives.get("noise_level", 1.0)
    if not isinstance(level, (int, float)) or level < 0:
        raise AnnotationError(f"dataset.json: negatives.noise_level must be a number >= 0, got {level!r}")
    return NoiseConfig("white", float(level))


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
        """The white-noise negative: ``level · N(0, 1)``, float32, from :attr:`noise_seed` (the one noise generator
        training and evaluation share, :func:`sslsan.negatives.seeded_noise`)."""
        return seeded_noise([self.noise_seed], num_samples, NoiseConfig("white", level))[0].numpy()

    def offscreen_wave(self, root: str | Path, num_samples: int, sample_rate: int = 16_000) -> np.ndarray:
        """The offscreen negative: ``num_samples`` from :attr:`offscreen_offset` (short files are tiled)."""
        wave = load_audio(resolve(root, self.offscreen_audio), sample_rate)
        return fit_length(wave, num_samples, self.offscreen_offset)


def present_classes(query: Query) -> set[str]:
    """Every class in the query's image: its own and those of the other objects listed in ``objects``."""
    classes = {obj["class"] for obj in query.extra.get("objects", ()) if "class" in obj}
    if query.class_name:
        classes.add(query.class_name)
    return classes


def absent_classes(query: Query, class_files: Mapping[str, Sequence[str]],
                   classes_by_image: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Sorted classes an offscreen clip for ``query`` may come from: every class of ``class_files`` with files that
    is not present in its image. Present = the query's own class, the other objects it lists, and (for real
    datasets whose queries do not list each other) ``classes_by_image[image_id]``
    (:func:`sslsan.data.class_files.image_classes`). For IS3 both objects' classes are removed, as in the
    companion code."""
    present = present_classes(query) | set((classes_by_image or {}).get(query.image_id, ()))
    remaining = sorted(c for c in class_files if c not in present and class_files[c])
    if not remaining:
        raise AnnotationError(f"query {query.query_id}: no class is absent from image {query.image_id} "
                              f"(classes {sorted(present)}) to draw an offscreen clip from")
    return remaining


def file_lengths(root: str | Path, files: Iterable[str]) -> dict[str, int]:
    """Number of samples of each audio file (header only, no decoding)."""
    return {name: soundfile.info(str(resolve(root, name))).frames for name in files}


def draw_negatives(queries: Sequence[Query], class_files: Mapping[str, Sequence[str]], seed: int, *,
                   root: str | Path | None = None, num_samples: int = 48_000,
                   lengths: Mapping[str, int] | None = None,
                   classes_by_image: Mapping[str, Iterable[str]] | None = None) -> list[NegativeDraw]:
    """Offscreen clip (class, file, crop offset) and noise seed for each query, deterministically.

    For each query: remove every class present in its image from ``class_files`` (:func:`absent_classes`), pick a
    class uniformly from the sorted remainder, then a file uniformly from that class's sorted list, then a crop offset uniformly among
    the positions where ``num_samples`` fit (0 for shorter files, which are tiled). File lengths come from
    ``lengths`` or are read from the headers under ``root``; with neither, offsets are 0 (the companion code crops
    the centre of the clip it reads; a fixed offset keeps the draw a pure function of its inputs).
    """
    if lengths is None and root is not None:
        lengths = file_lengths(root, sorted({f for files in class_files.values() for f in files}))
    draws = []
    for query in queries:
        rng = np.random.default_rng([seed, stable_int(query.query_id)])
        remaining = absent_classes(query, class_files, classes_by_image)
        chosen = remaining[int(rng.integers(len(remaining)))]
        files = sorted(class_files[chosen])
        audio = files[int(rng.integers(len(files)))]
        length = (lengths or {}).get(audio, 0)
        offset = int(rng.integers(0, length - num_samples + 1)) if length > num_samples else 0
        draws.append(NegativeDraw(query.query_id, chosen, audio, offset, int(rng.integers(0, 2**31 - 1))))
    return draws


@dataclass
class QueryTable:
    """What the metrics need about each query: its image, ground truth and the other objects of its image."""

    queries: list[Query]
    image_index: np.ndarray  # N: row of the query's image in the list of unique images
    image_paths: list[str]
    class_names: list[str]
    gt: torch.Tensor  # N×S×S box ground truth (union / consensus)
    other_gt: torch.Tensor  # N×S×S union of the other objects' boxes (zeros when alone)
    has_other: torch.Tensor  # N bool
    parts: list[str | None] = field(default_factory=list)

    @property
    def image_ids(self) -> list[str]:
        return [q.image_id for q in self.queries]

    def image_queries(self) -> list[Query]:
        """One image-only record per unique image (what the image-side caches are keyed by)."""
        return [Query(query_id=p, image_id=p, image=p, audio=None) for p in self.image_paths]


def query_table(queries: Sequence[Query], size: int = 224) -> QueryTable:
    """Index the queries by image and build their ground-truth maps at ``size``×``size``."""
    paths: dict[str, int] = {}
    index = np.array([paths.setdefault(q.image, len(paths)) for q in queries])
    gts, others, has_other = [], [], []
    for q in queries:
        gts.append(box_map(q.boxes, (size, size), q.image_size, q.gt))
        own = tuple(q.boxes[0]) if q.boxes else None
        other_boxes = [tuple(float(v) for v in o["gt_box"]) for o in q.extra.get("objects", [])
                       if own is None or tuple(float(v) for v in o["gt_box"]) != own]
        others.append(box_map(other_boxes, (size, size), q.image_size, "union"))
        has_other.append(bool(other_boxes))
    return QueryTable(
        queries=list(queries), image_index=index, image_paths=list(paths), class_names=[q.class_name for q in queries],
        gt=torch.from_numpy(np.stack(gts)), other_gt=torch.from_numpy(np.stack(others)),
        has_other=torch.tensor(has_other), parts=[q.part for q in queries],
    )
