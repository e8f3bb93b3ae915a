"""Pictures for the book: spectrograms, heatmap overlays, distributions, tables.

Every function draws on a Matplotlib ``Axes`` you pass (or creates one) and returns it, so notebooks compose
figures freely and stay thin.
"""

from __future__ import annotations

import json
from pathlib import Path

from IPython.display import HTML, Audio
from matplotlib.patches import Rectangle
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F

from sslsan.audio import FrontEndConfig
from sslsan.data.dataset import load_image, load_mask
from sslsan.data.records import resolve

AUDIO_COLOURS = {"positive": "tab:green", "silence": "tab:blue", "noise": "tab:orange", "offscreen": "tab:red"}


def _axes(ax=None, figsize=(6, 3)):
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


def to_numpy(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)


def image_array(image) -> np.ndarray:
    """An image as H×W×3 floats in [0, 1], from a ``3×H×W`` tensor, an ``H×W×3`` uint8 array, or a file path."""
    if isinstance(image, (str,)) or hasattr(image, "__fspath__"):
        return load_image(image, None) / 255.0
    array = to_numpy(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    return array / 255.0 if array.dtype == np.uint8 else array


def overlay(image, heatmap, ax=None, threshold: float | None = None, title: str | None = None,
            box=None, other_box=None, alpha: float = 0.55, cmap: str = "jet", show_range: bool = True):
    """Image with a localisation map on top.

    Without ``threshold`` the map is min-max normalised (the classic visualisation: *something* always lights
    up). With a universal ``threshold`` (the companion paper's visualisation) values at or below it are hidden and
    the rest is scaled to [threshold, map max], so a negative audio that never crosses it leaves the image clean.
    ``box``/``other_box`` draw the query object's box (white) and the other object's box (grey, dashed).
    """
    ax = _axes(ax, figsize=(3, 3))
    picture = image_array(image)
    heat = to_numpy(heatmap).astype(float)
    if heat.shape != picture.shape[:2]:
        heat = F.interpolate(torch.as_tensor(heat)[None, None], size=picture.shape[:2], mode="bilinear",
                             align_corners=True)[0, 0].numpy()
    ax.imshow(picture)
    low, high = float(heat.min()), float(heat.max())
    if threshold is None:
        shown = (heat - low) / (high - low) if high > low else np.zeros_like(heat)
        ax.imshow(shown, cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    else:
        span = max(high - threshold, 1e-8)
        shown = np.ma.masked_where(heat <= threshold, (heat - threshold) / span)
        ax.imshow(shown, cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    for rect, style in ((box, dict(edgecolor="white", linestyle="-")),
                        (other_box, dict(edgecolor="0.6", linestyle="--"))):
        if rect is not None:
            x1, y1, x2, y2 = rect
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, linewidth=1.5, **style))
    label = title or ""
    if show_range:
        label += f"\n[{low:.2f}, {high:.2f}]" if label else f"[{low:.2f}, {high:.2f}]"
    ax.set_title(label, fontsize=9)
    ax.set_axis_off()
    return ax


def maxima_distributions(maxima: dict, ax=None, threshold: float | None = None, title: str | None = None):
    """Distributions (seaborn KDE + rug-free histogram) of per-sample map maxima by audio type.

    ``maxima`` maps an audio type (positive, silence, noise, offscreen) to a 1-D array. A universal threshold
    separates the types only if the positive distribution lies right of the others.
    """
    ax = _axes(ax, figsize=(6, 3))
    frame = pd.concat([pd.DataFrame({"map maximum": to_numpy(v).ravel(), "audio": k}) for k, v in maxima.items()],
                      ignore_index=True)
    palette = {k: AUDIO_COLOURS[k] for k in maxima} if set(maxima) <= set(AUDIO_COLOURS) else None
    sns.histplot(frame, x="map maximum", hue="audio", ax=ax, stat="density", common_norm=False, element="step",
                 fill=False, bins=40, palette=palette)
    if threshold is not None:
        ax.axvline(threshold, color="k", linestyle=":", label="universal threshold")
    if title:
        ax.set_title(title)
    return ax


def table(rows: dict, columns: list[str] | None = None, digits: int = 3):
    """A pandas table of ``{row name: {metric: value}}`` with fixed rounding (stable in committed outputs)."""
    frame = pd.DataFrame(rows).T
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame.astype(float).round(digits)


def audio_player(wave, rate: int = 16_000, seconds: float | None = 2.0, label: str | None = None):
    """An embedded HTML audio player for a (short) clip; ``seconds`` trims it to keep notebooks small.

    Clips are played at their real level (no normalisation), clipped to [-1, 1], so silence stays silent and
    N(0, 1) noise is as loud as it really is relative to the recordings (turn your volume down).
    """
    data = np.clip(to_numpy(wave).astype(np.float32).ravel(), -1, 1)
    if seconds is not None:
        data = data[: int(seconds * rate)]
    player = Audio(data, rate=rate, normalize=False)
    if label is None:
        return player
    return HTML(f"<div style='display:flex;align-items:center;gap:1em'><code style='min-width:9em'>{label}</code>"
                f"{player._repr_html_()}</div>")


def scene(query, root, ax=None, masks: bool = True, title: str | None = None):
    """An IS3-style scene: the image, every object's box (the query's object in white) and mask outline."""
    ax = _axes(ax, figsize=(3, 3))
    picture = load_image(resolve(root, query.image), None)
    ax.imshow(picture)
    for obj in query.extra.get("objects", []):
        own = obj["class"] == query.class_name
        colour = "white" if own else "orange"
        x1, y1, x2, y2 = obj["gt_box"]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.5))
        ax.text(x1 + 2, y1 + 2, obj["class"], color="black", fontsize=7, va="top",
                bbox=dict(facecolor=colour, alpha=0.8, pad=1, linewidth=0))
        if masks and obj.get("mask"):
            mask = load_mask(resolve(root, obj["mask"]), picture.shape[0])
            ax.contour(mask, levels=[0.5], colors=[colour], linewidths=0.8)
    ax.set_title(title if title is not None else f"{query.image_id} ({query.part or query.split})", fontsize=8)
    ax.set_axis_off()
    return ax


def training_curves(runs: dict, axes=None, smooth: int = 25):
    """Learning curves of runs grouped by setting (``{label: [run folder, …]}``): training loss per step (running
    mean over ``smooth`` steps, one line per seed) and validation loss per epoch. Returns the two axes."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (label, folders) in zip(colours, runs.items()):
        for i, folder in enumerate(folders):
            steps = pd.read_csv(Path(folder) / "metrics.csv")
            axes[0].plot(steps["step"], steps["loss"].rolling(smooth, min_periods=1).mean(), color=colour,
                         alpha=0.8, label=label if i == 0 else None)
            epochs = pd.DataFrame(json.loads((Path(folder) / "validation.json").read_text()))
            axes[1].plot(epochs["epoch"] + 1, epochs["val_loss"], marker="o", color=colour, alpha=0.8,
                         label=label if i == 0 else None)
    axes[0].set(xlabel="step", ylabel=f"training loss (mean of {smooth} steps)")
    axes[1].set(xlabel="epoch", ylabel="validation loss")
    for ax in axes:
        ax.legend(fontsize=8)
    return axes


def pretraining_curves(histories: dict, axes=None):
    """Loss and validation accuracy of the pretraining stages (``{name: history list of dicts}``)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, history in histories.items():
        steps = [h["step"] for h in history]
        axes[0].plot(steps, [h["train_loss"] for h in history], marker="o", label=name)
        axes[1].plot(steps, [h["val_accuracy"] for h in history], marker="o", label=name)
    axes[0].set(xlabel="step", ylabel="training loss")
    axes[1].set(xlabel="step", ylabel="validation accuracy", ylim=(0, 1))
    for ax in axes:
        ax.legend(fontsize=8)
    return axes


def spread(long, metrics: list[str], references: dict | None = None, ncols: int = 4, height: float = 2.6):
    """Per-seed values (dots) and their mean (bar) of each setting, one panel per metric.

    ``long``: the long table of :func:`sslsan.experiments.seed_table`; ``references``: ``{label: {metric: value}}``
    drawn as horizontal lines (e.g. the centre prior), so a bar is always read against them.
    """
    rows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(3.2 * ncols, height * rows), squeeze=False)
    settings = list(dict.fromkeys(long["setting"]))
    for ax, name in zip(axes.flat, metrics):
        part = long[long["metric"] == name]
        means = [part[part["setting"] == s]["value"].mean() for s in settings]
        ax.bar(range(len(settings)), means, color="0.85")
        for x, setting in enumerate(settings):
            values = part[part["setting"] == setting]["value"]
            ax.plot([x] * len(values), values, "o", color="k", markersize=3)
        for (label, values), style in zip((references or {}).items(), (":", "--", "-.")):
            if name in values and values[name] == values[name]:
                ax.axhline(values[name], color="tab:red", linestyle=style, linewidth=1, label=label)
        ax.set_xticks(range(len(settings)), settings, rotation=35, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_axis_off()
    if references:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return axes


def paired_spread(long, metrics: list[str], pairs: dict[str, tuple[str, str]], references: dict | None = None,
                  ncols: int = 2, height: float = 2.8, labels: tuple[str, str] = ("without SaN", "with SaN")):
    """Each base method without and with a change, side by side: per-seed dots and mean bars, a panel per metric.

    ``long``: the long table of :func:`sslsan.experiments.seed_table`; ``pairs``: ``{base: (setting without,
    setting with)}``; ``references``: ``{label: {metric: value}}`` drawn as horizontal lines.
    """
    rows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(6.2 * ncols, height * rows), squeeze=False)
    colors = ("0.75", "tab:blue")
    for ax, name in zip(axes.flat, metrics):
        part = long[long["metric"] == name]
        for x, (base, settings) in enumerate(pairs.items()):
            for side, (setting, color) in enumerate(zip(settings, colors)):
                values = part[part["setting"] == setting]["value"]
                position = x + (side - 0.5) * 0.38
                ax.bar(position, values.mean(), width=0.36, color=color, label=labels[side] if x == 0 else None)
                ax.plot([position] * len(values), values, "o", color="k", markersize=3)
        for (label, values), style in zip((references or {}).items(), (":", "--", "-.")):
            if name in values and values[name] == values[name]:
                ax.axhline(values[name], color="tab:red", linestyle=style, linewidth=1, label=label)
        ax.set_xticks(range(len(pairs)), list(pairs), fontsize=9)
        ax.set_title(name, fontsize=10)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=8, ncols=2)
    fig.tight_layout()
    return axes


def pipeline_diagram(ax=None, negatives: int = 2):
    """The model and loss as boxes and arrows: image → feature map, audio → vector, cosine map, MIL max, softmax
    with ``negatives`` extra (silence/noise) columns. 7 inches wide, legible at 700 px. Returns the ``Axes``."""
    ax = _axes(ax, figsize=(7, 2.8))
    ax.set(xlim=(0, 14), ylim=(0.6, 6.2))
    ax.set_axis_off()

    def box(x, y, w, h, text, color):
        ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="0.25", linewidth=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5)

    def arrow(start, end, label=None):
        ax.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "0.2", "linewidth": 1})
        if label:
            ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.18, label, ha="center", fontsize=7.5)

    box(0.1, 4.1, 1.9, 1.3, "image $i$\n112 px", "#dbe9f6")
    box(0.1, 0.8, 1.9, 1.3, "audio $k$\nspectrogram", "#fde2c4")
    box(3.2, 4.1, 2.4, 1.3, "feature map\n$v_i(x,y)$, 7×7", "#dbe9f6")
    box(3.2, 0.8, 2.4, 1.3, "vector\n$a_k$, 512-d", "#fde2c4")
    box(6.2, 2.45, 2.6, 1.3, "cosine map\n$S_{ik}=v_i^\\top a_k$", "#e4f2e0")
    box(9.2, 2.45, 2.3, 1.3, "MIL max\n$s_{ik}=\\max_{x,y} S_{ik}/\\tau$", "#e4f2e0")
    arrow((2.0, 4.75), (3.2, 4.75), "ResNet")
    arrow((2.0, 1.45), (3.2, 1.45), "ResNet")
    arrow((5.6, 4.75), (6.9, 3.75))
    arrow((5.6, 1.45), (6.9, 2.45))
    arrow((8.8, 3.1), (9.2, 3.1))
    # the B×(B+K) score matrix: the batch's audio, then the negative columns
    batch, size = 4, 0.36
    left, bottom = 11.8, 2.4
    for row in range(batch):
        for col in range(batch + negatives):
            if col >= batch:
                color = "#f4c7c3"
            else:
                color = "#7fbf7f" if row == col else "white"
            ax.add_patch(Rectangle((left + col * size, bottom + (batch - 1 - row) * size), size, size,
                                   facecolor=color, edgecolor="0.4", linewidth=0.6))
    arrow((11.5, 3.1), (11.8, 3.1))
    ax.text(left + batch * size / 2, bottom + batch * size + 0.15, "batch audio", ha="center", fontsize=7.5)
    ax.text(left + (batch + negatives / 2) * size, bottom + batch * size + 0.15, "SaN", ha="center",
            fontsize=7.5, color="tab:red")
    ax.text(left + (batch + negatives) * size / 2, bottom - 0.2,
            "softmax per row:\nown sound (diagonal)\nvs other sounds\nand silence/noise", ha="center",
            va="top", fontsize=7.5)
    ax.text(0.1, 5.85, "The model and its loss", fontsize=10, weight="bold")
    return ax
