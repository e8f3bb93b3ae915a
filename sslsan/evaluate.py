"""Evaluation with positive and negative audio: maps, reference rows, metrics, the JSON report.

One pipeline for every row of a report — a trained model, an untrained one, and the audio-agnostic references of
:mod:`sslsan.reference_rows` (centre prior, ground truth pooled to the model's grid, objectness of the trunk):

    grid maps (N×h×w)  →  upsampled maps (N×224×224)  →  threshold policy  →  metrics

Negative audio follows the companion paper's protocol (:mod:`sslsan.protocol`): silence (zeros), white noise
N(0, 1) and an offscreen clip of a class absent from the image, with noise and offscreen re-drawn for each of its
ten seeds and pooled.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import sslsan
from sslsan import metrics
from sslsan.config import describe_device, display_path, pick_device, quiet
from sslsan.data.is3 import read_class_files, read_info, read_queries
from sslsan.data.manifest import check_dataset
from sslsan.data.records import Query
from sslsan.errors import UsageError
from sslsan.features import (AudioEmbedder, fixed_offscreen_waves, image_maps_of, positive_waves,
                             unique_image_features)
from sslsan.io import atomic_path, write_json
from sslsan.models import AVModel, localization_maps, upsample
from sslsan.negatives import NoiseConfig, seeded_noise
from sslsan.protocol import (COMPANION_SEEDS, NEGATIVE_KINDS, QueryTable, dataset_noise, draw_negatives,
                             query_table)
from sslsan.reference_rows import (LAYOUT_ROWS, REFERENCE_ROWS, ConditionMaps, centre_prior, objectness,
                                   pooled_ground_truth)

THRESHOLD_COMBINES = ("hardest", "pooled")


def condition_maps(image_maps: torch.Tensor, table: QueryTable, audio: torch.Tensor) -> ConditionMaps:
    """Each query's map: its image's map against its audio embedding (``N×h×w``)."""
    return ConditionMaps(localization_maps(image_maps[torch.as_tensor(table.image_index)], audio), audio)


@torch.no_grad()
def query_maps(model: AVModel, root: Path, queries: Sequence[Query], waves: torch.Tensor | None = None,
               device: str = "auto") -> torch.Tensor:
    """Grid maps (``N×h×w`` cosines) of a few queries, for pictures: each query's image against its own clip, or
    against ``waves`` (``N×samples``: e.g. silence, noise or another object's sound)."""
    dev = pick_device(device)
    model = model.to(dev).eval()
    table = query_table(queries, size=8)  # only the image index is needed here
    if waves is None:
        waves = positive_waves(root, queries, model.audio.front_end.config.num_samples)
    image_maps = image_maps_of(model, root, table, model.config.image_size, dev)
    return condition_maps(image_maps, table, model.audio(waves.to(dev)).float().cpu()).maps


def audio_conditions(root: Path, query: Query, num_samples: int, noise: NoiseConfig = NoiseConfig()
                     ) -> dict[str, torch.Tensor]:
    """The four audio conditions of one query as waveforms (``1×samples`` each): its own clip, silence, and the
    dataset's fixed noise and offscreen negatives (the ones every model sees)."""
    negatives = query.extra["negatives"]
    return {"positive": positive_waves(root, [query], num_samples),
            "silence": torch.zeros(1, num_samples),
            "noise": seeded_noise([negatives["noise_seed"]], num_samples, noise),
            "offscreen": fixed_offscreen_waves(root, [query], num_samples)}


def upsampled(maps: torch.Tensor, size: int = 224, chunk: int = 256):
    """Yield ``(slice, upsampled chunk)`` so 224×224 maps for thousands of queries never sit in memory at once."""
    for start in range(0, len(maps), chunk):
        yield slice(start, start + chunk), upsample(maps[start : start + chunk], size)


# ------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class EvalConfig:
    """The evaluation protocol (printed as the report's first block).

    ``seeds``: noise and offscreen audio are re-drawn per seed and pooled (the companion paper's 10 seeds by
    default; ``()`` uses the dataset's fixed negatives only). The universal threshold is fitted on ``fit_split``
    from the maxima of negative-audio maps: the ``threshold_quantile`` quantile of the maxima (0.75 = our reading
    of the companion code's ``th_maxq3``), per negative kind, keeping the largest (``threshold_combine="hardest"``:
    at least that share of validation maps of *every* kind is empty) or of all kinds pooled (``"pooled"``, which
    lets easy silence and noise pull the threshold down for a model that rejects them).
    """

    split: str = "test"
    seeds: tuple[int, ...] = COMPANION_SEEDS
    size: int = 224
    batch_size: int = 64
    fit_split: str = "val"
    threshold_quantile: float = 0.75
    threshold_combine: str = "hardest"
    retrieval_ks: tuple[int, ...] = (1, 5, 10)

    def __post_init__(self):
        if not 0 <= self.threshold_quantile <= 1:
            raise UsageError(f"threshold quantile must be in [0, 1], got {self.threshold_quantile}")
        if self.threshold_combine not in THRESHOLD_COMBINES:
            raise UsageError(f"threshold_combine must be one of {THRESHOLD_COMBINES}, got {self.threshold_combine!r}")
        if self.size < 1 or self.batch_size < 1 or any(k < 1 for k in self.retrieval_ks):
            raise UsageError("evaluation size, batch size and retrieval ks must be positive")


@dataclass
class Conditions:
    """Maps of one row for the positive audio and each negative kind (negatives pooled over seeds: their rows are
    ``seed-major``, i.e. row ``s·N + i`` is query i under seed s)."""

    positive: ConditionMaps
    negatives: dict[str, ConditionMaps]
    visual: torch.Tensor | None = None  # N×C pooled image embeddings (None for audio-agnostic rows)

    def repeat(self, kind: str) -> int:
        return self.negatives[kind].maps.shape[0] // self.positive.maps.shape[0]


@torch.no_grad()
def model_conditions(model: AVModel, root: Path, table: QueryTable, split: str, seeds: Sequence[int],
                     noise: NoiseConfig, image_size: int, device: torch.device, batch_size: int = 64,
                     progress: bool = True, audio_start: int = 0, cache_dir: Path | None = None) -> Conditions:
    """Maps of a model for the queries' own audio, silence, and noise/offscreen for every seed (or the dataset's
    fixed negatives when ``seeds`` is empty)."""
    num_samples = model.audio.front_end.config.num_samples
    image_maps = image_maps_of(model, root, table, image_size, device, batch_size, cache_dir)
    embed = AudioEmbedder(model, device, audio_start, cache_dir, batch_size)
    where = f"{Path(root).resolve()}|{split}|{len(table.queries)}|{table.queries[0].query_id}|{noise}"
    n = len(table.queries)
    bar = tqdm(total=2 + 2 * max(1, len(seeds)), desc="evaluation audio", disable=quiet(progress), leave=False)
    positive = condition_maps(image_maps, table, embed(f"{where}|positive",
                                                       lambda: positive_waves(root, table.queries, num_samples)))
    bar.update()
    silence = embed(f"{where}|silence", lambda: torch.zeros(1, num_samples))
    negatives = {"silence": condition_maps(image_maps, table, silence.expand(n, -1))}
    bar.update()
    noise_rows, offscreen_rows = [], []
    for seed in seeds or (None,):
        if seed is None:  # the dataset's fixed negatives
            noise_seeds = [q.extra["negatives"]["noise_seed"] for q in table.queries]
            offscreen = lambda: fixed_offscreen_waves(root, table.queries, num_samples)  # noqa: E731
        else:  # the companion protocol: a fresh draw per seed, each query's draw independent of the others
            draws = draw_negatives(table.queries, read_class_files(root, split), seed, root=root)
            noise_seeds = [d.noise_seed for d in draws]
            offscreen = lambda: torch.from_numpy(np.stack([d.offscreen_wave(root, num_samples)  # noqa: E731
                                                           for d in draws]))
        noise_rows.append(condition_maps(image_maps, table, embed(
            f"{where}|noise|{seed}", lambda: seeded_noise(noise_seeds, num_samples, noise))))
        bar.update()
        offscreen_rows.append(condition_maps(image_maps, table, embed(f"{where}|offscreen|{seed}", offscreen)))
        bar.update()
    bar.close()
    for kind, rows in (("noise", noise_rows), ("offscreen", offscreen_rows)):
        negatives[kind] = ConditionMaps(torch.cat([r.maps for r in rows]), torch.cat([r.audio for r in rows]))
    visual = F.normalize(image_maps.mean(dim=(2, 3)), dim=1)[torch.as_tensor(table.image_index)]
    return Conditions(positive, negatives, visual)


def agnostic_conditions(maps: ConditionMaps) -> Conditions:
    """An audio-agnostic row: the same map whatever the audio (so negatives equal positives)."""
    return Conditions(maps, {kind: maps for kind in NEGATIVE_KINDS})


def _stats(values: torch.Tensor) -> dict[str, float]:
    values = values.double()
    return {"mean": float(values.mean()), "median": float(values.median()),
            "q10": float(torch.quantile(values, 0.1)), "q90": float(torch.quantile(values, 0.9))}


def fit_threshold(conditions: Conditions, quantile: float, combine: str = "hardest") -> dict:
    """The universal threshold from validation maps: a quantile of negative-audio map maxima, per kind (the
    largest wins) or pooled. Returns ``{"value", "statistic", "n", "per_kind"}``."""
    maxima = {kind: c.maps.flatten(1).amax(1) for kind, c in conditions.negatives.items()}
    per_kind = {kind: metrics.threshold_from_negative_maxima(values, quantile) for kind, values in maxima.items()}
    if combine == "hardest":
        kind = max(per_kind, key=lambda k: per_kind[k].value)
        chosen, statistic = per_kind[kind], f"quantile {quantile} of {kind} maxima (the hardest negative kind)"
    elif combine == "pooled":
        chosen = metrics.threshold_from_negative_maxima(torch.cat(list(maxima.values())), quantile)
        statistic = f"quantile {quantile} of all negative maxima pooled"
    else:
        raise UsageError(f"threshold_combine must be 'hardest' or 'pooled', got {combine!r}")
    return {"value": float(chosen.value), "statistic": statistic, "n": int(sum(len(v) for v in maxima.values())),
            "per_kind": {k: float(t.value) for k, t in per_kind.items()}}


def row_metrics(conditions: Conditions, table: QueryTable, threshold: float, config: EvalConfig,
                negatives: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Every metric of one report row, and the per-sample arrays behind them (for plots).

    Positive localisation uses the box ground truth under three policies (the legacy median, the adaptive
    GT-area one, and the universal threshold); negative audio uses the universal threshold. Metrics are given for
    all queries and for each ``part`` (seen / unseen recordings, style shift).
    """
    positive_up = upsample(conditions.positive.maps, config.size)
    policies = {"median": "median", "adaptive": "adaptive", "universal": float(threshold)}
    cious = dict(zip(policies, metrics.ciou_per_policy(positive_up, table.gt, list(policies.values()))))
    image_ids = table.image_ids
    parts = {"all": torch.ones(len(table.queries), dtype=torch.bool)}
    for part in sorted({p for p in table.parts if p}):
        parts[part] = torch.tensor([p == part for p in table.parts])
    other = torch.where(table.has_other.view(-1, 1, 1), table.other_gt, torch.zeros_like(table.other_gt))
    summary: dict = {"positive": {}, "diagnostics": {}}
    for part, mask in parts.items():
        ids = [image_ids[i] for i in np.flatnonzero(mask.numpy())]
        block = {name: metrics.localization_summary(values[mask]) for name, values in cious.items()}
        block["interactive_median"] = metrics.interactive_summary(cious["median"][mask], ids)
        block["interactive_adaptive"] = metrics.interactive_summary(cious["adaptive"][mask], ids)
        block["n"] = int(mask.sum())
        summary["positive"][part] = block
        summary["diagnostics"][part] = metrics.collapse_summary(
            positive_up[mask], table.gt[mask], ids, other[mask] if bool(table.has_other[mask].all()) else None)
    arrays = {f"ciou_{name}": values.numpy() for name, values in cious.items()}
    positive_max = conditions.positive.maps.flatten(1).amax(1)
    arrays["max_positive"] = positive_max.numpy()
    summary["maxima"] = {"positive": _stats(positive_max)}
    summary["pia_positive"] = float(metrics.pia(positive_up, threshold).mean())
    if negatives:
        summary["negative"], pias = {}, {}
        binarized_positive = positive_up > threshold
        # the extended-set confidences of every map, positives first (negatives are scored in the same pass)
        confidences = [metrics.map_confidence(positive_up)]
        for kind, maps in conditions.negatives.items():
            repeat = maps.maps.shape[0] // len(table.queries)
            kind_pia, kind_iou = [], []
            for rows, up in upsampled(maps.maps, config.size):
                queries = torch.arange(rows.start, rows.start + len(up)) % len(table.queries)
                kind_pia.append(metrics.pia(up, threshold))
                kind_iou.append(metrics.binary_map_iou(binarized_positive[queries], up > threshold))
                confidences.append(metrics.map_confidence(up))
            pias[kind] = torch.cat(kind_pia)
            maxima = maps.maps.flatten(1).amax(1)
            beats = metrics.max_beats(positive_max.repeat(repeat), maxima)
            summary["negative"][kind] = {"pia": float(pias[kind].mean()), "auc_n": metrics.auc_n(pias[kind]),
                                         "empty_maps": float((pias[kind] == 0).double().mean()),
                                         "map_iou_with_positive": float(torch.cat(kind_iou).mean()),
                                         "p_positive_max_higher": float(beats.double().mean()),
                                         "draws": repeat}
            summary["maxima"][kind] = _stats(maxima)
            arrays[f"max_{kind}"], arrays[f"pia_{kind}"] = maxima.numpy(), pias[kind].numpy()
        summary["f_scores"] = metrics.negative_f_scores(cious["universal"], pias)
        n_neg = sum(maps.maps.shape[0] for maps in conditions.negatives.values())
        is_positive = torch.arange(len(table.queries) + n_neg) < len(table.queries)
        summary["extended"] = metrics.extended_summary(torch.cat(confidences), torch.cat(
            [cious["median"], torch.zeros(n_neg, dtype=cious["median"].dtype)]), is_positive)
    if conditions.visual is not None and conditions.positive.audio is not None:
        summary["retrieval"] = metrics.retrieval_recall(conditions.positive.audio, conditions.visual,
                                                        config.retrieval_ks, table.class_names, table.class_names)
        summary["geometry"] = {}
        for kind, maps in conditions.negatives.items():
            first = maps.audio[: len(table.queries)]  # the first draw, paired with the queries
            summary["geometry"][kind] = metrics.embedding_geometry(conditions.visual, conditions.positive.audio,
                                                                   first)
    return summary, arrays



def code_version() -> str:
    """``sslsan <version>`` plus the git commit when run from a checkout (``+dirty`` with local changes)."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "sslsan"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return f"sslsan {sslsan.__version__}" + (f" ({commit}{'+dirty' if dirty else ''})" if commit else "")


def evaluate(model: AVModel, data: Path, config: EvalConfig = EvalConfig(), *, device: str = "auto",
             references: Sequence[str] = REFERENCE_ROWS, seed: int = 0, run_name: str = "model",
             audio_start: int = 0, cache_dir: Path | None = None,
             progress: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Evaluate ``model`` on ``data``'s ``config.split`` with positive and negative audio, beside reference rows.

    Returns the report (a dict whose first block is the protocol) and the per-sample arrays (``row/name`` keys).
    ``seed`` initialises the untrained reference model (use the trained run's seed). ``audio_start`` and
    ``cache_dir``: cache the outputs of frozen audio stages and of the image trunk, shared by runs that froze them.
    """
    data = Path(data)
    dev = pick_device(device)
    info = read_info(data)
    check_dataset(data, hashes=False)  # sizes only: catches files cut short without reading the whole dataset
    noise = dataset_noise(info.negatives)
    image_size = model.config.image_size
    grid = model.config.map_size
    test = query_table(read_queries(data, config.split), config.size)
    fit = query_table(read_queries(data, config.fit_split), config.size)
    model = model.to(dev).eval()
    rows: dict[str, Conditions] = {}
    fit_rows: dict[str, Conditions] = {}

    def add_model_row(name: str, net: AVModel, start: int):
        fit_rows[name] = model_conditions(net, data, fit, config.fit_split, (), noise, image_size, dev,
                                          config.batch_size, progress, start, cache_dir)
        rows[name] = model_conditions(net, data, test, config.split, config.seeds, noise, image_size, dev,
                                      config.batch_size, progress, start, cache_dir)

    add_model_row(run_name, model, audio_start)
    if "untrained" in references:
        torch.manual_seed(seed)
        add_model_row("untrained", AVModel(model.config).to(dev), 0)
    if "centre_prior" in references:
        fit_rows["centre_prior"] = agnostic_conditions(centre_prior(len(fit.queries), grid))
        rows["centre_prior"] = agnostic_conditions(centre_prior(len(test.queries), grid))
    if "objectness" in references:
        for table, target in ((fit, fit_rows), (test, rows)):
            features = unique_image_features(model, data, table, image_size, dev, config.batch_size, cache_dir)
            target["objectness"] = agnostic_conditions(objectness(features, table))
    report_rows, arrays = {}, {}
    for name, conditions in rows.items():
        threshold = fit_threshold(fit_rows[name], config.threshold_quantile, config.threshold_combine)
        summary, row_arrays = row_metrics(conditions, test, threshold["value"], config)
        summary["threshold"] = threshold
        report_rows[name] = summary
        arrays.update({f"{name}/{key}": value for key, value in row_arrays.items()})
    if "gt_pooled" in references:  # the median policy's ceiling: positive metrics only
        summary, row_arrays = ceiling_row(test, grid, config)
        report_rows["gt_pooled"] = summary
        arrays.update({f"gt_pooled/{key}": value for key, value in row_arrays.items()})
    parts = {p: sum(1 for q in test.parts if q == p) for p in sorted({p for p in test.parts if p})}
    protocol = {
        "dataset": info.name, "dataset_preset": info.preset, "dataset_seed": info.seed,
        "data": display_path(data), "split": config.split, "queries": len(test.queries),
        "images": len(test.image_paths), "parts": parts,
        "negatives": {"kinds": list(NEGATIVE_KINDS), "noise": f"{noise.type} N(0, {noise.std}²)",
                      "offscreen": "a clip of a class absent from the image (both classes removed)",
                      "seeds": list(config.seeds) or "the dataset's fixed negatives"},
        "map": {"grid": f"{grid}×{grid}", "upsampling": f"bilinear (align_corners=True) to {config.size}×{config.size}",
                "values": "cosine similarity in [-1, 1]"},
        "ground_truth": "union of the query object's box (IS3 protocol)",
        "policies": {"median": "per-map min-max, keep pixels above the value at sorted index H·W/2 (legacy)",
                     "adaptive": "keep pixels above the k-th largest value, k = GT area (SSL-Align)",
                     "universal": f"absolute threshold fitted on {config.fit_split} for each row: quantile "
                                  f"{config.threshold_quantile} of negative-audio map maxima "
                                  f"({config.threshold_combine})"},
        "success_thresholds": "cIoU@0.5; AUC over t = 0, 0.05, …, 1",
        # the model is evaluated in float32 (embed's default) whatever it was trained in
        "device": describe_device(dev, False), "precision": "float32", "code": code_version(),
        "model": model.config.__dict__,
    }
    return {"protocol": protocol, "rows": report_rows}, arrays


def ceiling_row(table: QueryTable, grid: int, config: EvalConfig) -> tuple[dict, dict[str, np.ndarray]]:
    """The ground truth pooled to the grid (the median policy's ceiling): positive metrics only."""
    return row_metrics(agnostic_conditions(pooled_ground_truth(table, grid)), table, 0.5, config, negatives=False)


def layout_rows(data: Path, grid: int = 7, config: EvalConfig = EvalConfig()) -> dict[str, dict]:
    """What the audio-agnostic rows that need no model (:data:`~sslsan.reference_rows.LAYOUT_ROWS`: the centre
    prior and the pooled ground truth) score on a dataset's ``config.split``, positives only: the same numbers as
    those rows of a full report (a dataset's difficulty, before any training)."""
    table = query_table(read_queries(data, config.split), config.size)
    prior, _ = row_metrics(agnostic_conditions(centre_prior(len(table.queries), grid)), table, 0.5, config,
                           negatives=False)
    ceiling, _ = ceiling_row(table, grid, config)
    return dict(zip(LAYOUT_ROWS, (prior, ceiling)))


def write_report(report: dict, arrays: dict[str, np.ndarray], path: Path) -> None:
    """``report.json`` and its per-sample arrays ``report.npz`` side by side, each written atomically."""
    path = Path(path)
    with atomic_path(path.with_suffix(".npz")) as tmp:
        np.savez_compressed(tmp, **arrays)
    write_json(path, report)


def read_report(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    with np.load(path.with_suffix(".npz")) as data:
        arrays = dict(data)
    return json.loads(path.read_text()), arrays


def report_key(config: EvalConfig, references: Sequence[str] = ()) -> str:
    """A short hash of an evaluation protocol and its reference rows: the name of a stored report."""
    return hashlib.sha256(json.dumps([asdict(config), list(references)], default=str).encode()).hexdigest()[:8]
