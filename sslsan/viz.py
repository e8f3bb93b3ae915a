"""Pictures for the book: spectrograms, heatmap overlays, distributions, tables.

Every function draws on a Matplotlib ``Axes`` you pass (or creates one) and returns it, so notebooks compose
figures freely and stay thin.
"""

from __future__ import annotations

import numpy as np

from sslsan.audio import FrontEndConfig


def _axes(ax=None, figsize=(6, 3)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def show_spectrogram(spec, config: FrontEndConfig, ax=None, title: str | None = None, colorbar: bool = True,
                     vmin: float | None = None, vmax: float | None = None):
    """Draw one front-end output (``(1, bins, frames)`` or ``(bins, frames)``, tensor or array) with real axes.

    The time axis is in seconds and the frequency axis in Hz (linear bins) or mel-band index (mel presets).
    """
    spec = np.asarray(spec.detach().cpu() if hasattr(spec, "detach") else spec)
    spec = spec.reshape(spec.shape[-2], spec.shape[-1])
    ax = _axes(ax)
    seconds = config.num_frames * config.hop / config.sample_rate
    top = config.n_mels if config.n_mels else config.sample_rate / 2
    image = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, top),
                      vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band" if config.n_mels else "frequency (Hz)")
    ax.set_title(title or f"{config.name}: {spec.shape[0]}×{spec.shape[1]}")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="log power / 12")
    return ax
