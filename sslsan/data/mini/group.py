"""Recording groups: recordings that share a source are one group, so splits can hold out whole recordings.

Groups come from the sessions the class map declares, from OpenSFX credits (entries edited from the same
freesound original), and from a waveform check: two recordings of a class whose normalised cross-correlation
reaches :data:`DUPLICATE_NCC` are one recording. Each rendered instrument program is its own group.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from sslsan.audio import resample_wave
from sslsan.data.mini import classmap, containers
from sslsan.data.mini.clean import SAMPLE_RATE
from sslsan.data.mini.fetch import Staging

#: two recordings of a class whose normalised cross-correlation reaches this are one recording
DUPLICATE_NCC = 0.5


def max_ncc(first: np.ndarray, second: np.ndarray) -> float:
    """Largest normalised cross-correlation of the shorter wave against every window of the longer one.

    Re-encodes, resampled copies and excerpts of one recording score close to 1; different recordings of the
    same kind of sound score near 0 (sounds are not aligned sample by sample).
    """
    long, short = (first, second) if len(first) >= len(second) else (second, first)
    long = long.astype(np.float64)
    short = short.astype(np.float64)
    if not np.any(short) or not np.any(long):
        return 0.0  # silence matches nothing
    size = next_fast_len(len(long) + len(short))
    corr = irfft(rfft(long, size) * np.conj(rfft(short, size)), size)[: len(long) - len(short) + 1]
    energy = np.concatenate([[0.0], np.cumsum(long**2)])
    window = energy[len(short):] - energy[: len(long) - len(short) + 1]
    denominator = np.sqrt(np.maximum(window, 1e-12) * np.sum(short**2))
    return float(np.max(np.abs(corr) / denominator))


def group_recordings(waves: dict[str, np.ndarray], links: list[tuple[str, ...]],
                     threshold: float = DUPLICATE_NCC, rate: int = 4000) -> dict[str, str]:
    """Recording group of every id: ids joined by ``links`` or by a waveform match are one group.

    Waves are compared at ``rate`` Hz (enough to recognise a re-encoded copy, 16× cheaper than 16 kHz). The
    group is named after its alphabetically first member.
    """
    parent = {key: key for key in waves}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for link in links:
        present = [key for key in link if key in parent]
        for other in present[1:]:
            join(present[0], other)
    low = {key: resample_wave(wave, SAMPLE_RATE, rate) for key, wave in waves.items()}
    keys = sorted(waves)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if root(a) != root(b) and max_ncc(low[a], low[b]) >= threshold:
                join(a, b)
    return {key: root(key) for key in keys}


def class_groups(stage: Staging, waves: dict[str, np.ndarray], cmap: classmap.ClassMap = classmap.V1
                 ) -> dict[str, str]:
    """The group of every kept recording of every class (source id → the group's first source id)."""
    groups: dict[str, str] = {}
    for spec in cmap.classes:
        real = {s: waves[s] for s in spec.recordings if s in waves}
        links = [tuple(session) for session in spec.sessions]
        originals: dict[str, list[str]] = {}
        for source_id in real:
            if source_id.startswith("osfx:"):
                original = containers.opensfx_original(stage.opensfx[int(source_id[5:])].credit)
                if original:
                    originals.setdefault(original, []).append(source_id)
        links += [tuple(ids) for ids in originals.values() if len(ids) > 1]
        groups.update(group_recordings(real, links))
        groups.update({s: s for s in classmap.synthetic_sources(spec) if s in waves})
    return groups
