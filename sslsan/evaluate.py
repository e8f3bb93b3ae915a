"""Evaluation with positive and negative audio: maps, reference rows, metrics, the JSON report.

One pipeline for every row of a report — a trained model, an untrained one, and the audio-agnostic references
(centre prior, ground truth pooled to the model's grid, objectness of the image trunk):

    grid maps (N×h×w)  →  upsampled maps (N×224×224)  →  threshold policy  →  metrics

Negative audio follows the companion paper: silence (zeros), white noise N(0, 1) and an offscreen clip of a class
absent from the image, with noise and offscreen re-drawn for each of its ten seeds and pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from sslsan.audio import fit_length, load_audio
from sslsan.data.records import Query, box_map, resolve
from sslsan.models import AVModel, upsample
from sslsan.config import describe_device, quiet
from sslsan.negatives import NoiseConfig, seeded_noise

#: The companion paper's evaluation seeds (noise and offscreen audio are re-drawn for each and pooled).
COMPANION_SEEDS = (1234, 2345, 3456, 4567, 5678, 6789, 7890, 8901, 9012, 9999)
NEGATIVE_KINDS = ("silence", "noise", "offscreen")


@dataclass
class ConditionMaps:
    """Localisation maps of one audio condition on the model's grid, with the embeddings behind them.

    ``maps``: N×h×w cosines (row i = query i); ``audio``: N×C audio embeddings (None for audio-agnostic rows).
    """

    maps: torch.Tensor
    audio: torch.Tensor | None = None


@dataclass
class QueryTable:
    """What the metrics need about each query: its image, ground truth and the other object of its image."""

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


# ------------------------------------------------------------------------------------------ model maps


@torch.no_grad()
def image_maps_of(model: AVModel, root: Path, table: QueryTable, image_size: int, device: torch.device,
                  batch_size: int = 64, cache_dir: Path | None = None) -> torch.Tensor:
    """Projected, normalised image maps of every unique image: ``I×C×h×w`` (CPU, float32). The trunk features
    are cached under ``cache_dir`` (keyed by the trunk's weights), so runs sharing a frozen trunk share them."""
    from sslsan.train import image_trunk_features

    model.eval()
    images = [Query(query_id=p, image_id=p, image=p, audio=None) for p in table.image_paths]
    features = image_trunk_features(model, root, images, image_size, device, cache_dir, batch_size=batch_size,
                                    progress=False)[:, 0]
    return torch.cat([model.image.project(features[s : s + batch_size].to(device).float()).cpu()
                      for s in range(0, len(features), batch_size)])


class AudioEmbedder:
    """Audio embeddings of named clip sets (``N×C``, CPU float32).

    When the first ``start`` stages of the audio trunk were frozen in training (and so are shared by every run
    that started from the same pretrained trunk), their outputs for each clip set are cached under ``cache_dir``:
    evaluating many runs then costs only the trainable stages.
    """

    def __init__(self, model: AVModel, device: torch.device, start: int = 0, cache_dir: Path | None = None,
                 batch_size: int = 64):
        from sslsan.train import digest

        self.model, self.device, self.start, self.batch_size = model, device, start, batch_size
        self.cache_dir = cache_dir if start else None
        self.key = digest(model.audio.trunk[:start], model.audio.front_end.config, start) if self.cache_dir else ""

    @torch.no_grad()
    def __call__(self, name: str, make_waves) -> torch.Tensor:
        import hashlib

        from sslsan.train import cached_tensor

        self.model.eval()
        audio = self.model.audio
        if self.cache_dir is None:
            waves = make_waves()
            return torch.cat([audio(waves[s : s + self.batch_size].to(self.device)).float().cpu()
                              for s in range(0, len(waves), self.batch_size)])

        def prefix():
            waves = make_waves()
            return torch.cat([audio.prefix(waves[s : s + self.batch_size].to(self.device), self.start)
                              .to(torch.bfloat16).cpu() for s in range(0, len(waves), self.batch_size)])

        label = hashlib.sha256(name.encode()).hexdigest()[:16]
        cached = cached_tensor(self.cache_dir, f"eval-audio-{self.key}-{label}", prefix)
        return torch.cat([audio.embed(audio.features(cached[s : s + self.batch_size].to(self.device).float(),
                                                     self.start)).float().cpu()
                          for s in range(0, len(cached), self.batch_size)])


def condition_maps(image_maps: torch.Tensor, table: QueryTable, audio: torch.Tensor) -> ConditionMaps:
    """Each query's map: its image's map against its audio embedding (``N×h×w``)."""
    rows = image_maps[torch.as_tensor(table.image_index)]
    return ConditionMaps(torch.einsum("nchw,nc->nhw", rows, audio), audio)


def clip_waves(root: Path, paths: Sequence[str], num_samples: int) -> torch.Tensor:
    """Audio files of a dataset as a batch (``N×num_samples``), each centre-cropped (or tiled) to the length."""
    return torch.from_numpy(np.stack([fit_length(load_audio(resolve(root, path)), num_samples) for path in paths]))


def positive_waves(root: Path, queries: Sequence[Query], num_samples: int) -> torch.Tensor:
    """The queries' own clips."""
    return clip_waves(root, [q.audio for q in queries], num_samples)


def fixed_offscreen_waves(root: Path, queries: Sequence[Query], num_samples: int) -> torch.Tensor:
    """The offscreen clip fixed in the dataset's manifest for each query (the one every model sees)."""
    return clip_waves(root, [q.extra["negatives"]["offscreen"]["audio"] for q in queries], num_samples)


@torch.no_grad()
def query_maps(model: AVModel, root: Path, queries: Sequence[Query], waves: torch.Tensor | None = None,
               device: str = "auto") -> torch.Tensor:
    """Grid maps (``N×h×w`` cosines) of a few queries, for pictures: each query's image against its own clip, or
    against ``waves`` (``N×samples``: e.g. silence, noise or another object's sound)."""
    from sslsan.train import pick_device

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


# -------------------------------------------------------------------------------------- reference maps


def centre_prior(count: int, grid: int, sigma: float = 0.25) -> ConditionMaps:
    """A Gaussian bump at the image centre (σ = ``sigma`` × image side) on the model's grid, for every query.

    What an audio-agnostic model scores by exploiting the photographer's bias to centre objects.
    """
    axis = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid - 0.5
    bump = torch.exp(-(axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2) / (2 * sigma**2))
    return ConditionMaps(bump.expand(count, grid, grid).clone())


def pooled_ground_truth(table: QueryTable, grid: int) -> ConditionMaps:
    """Each query's ground truth averaged over the model's grid cells: the best a grid-resolution map can do
    under the median policy (its ceiling), and a check that the metric code can reach high scores."""
    return ConditionMaps(F.adaptive_avg_pool2d(table.gt.unsqueeze(1), grid)[:, 0])


@torch.no_grad()
def objectness(model: AVModel, root: Path, table: QueryTable, image_size: int, device: torch.device,
               batch_size: int = 64, cache_dir: Path | None = None) -> ConditionMaps:
    """Audio-agnostic objectness: mean absolute trunk activation per cell (EZ-VSL's object-guided map, OGL)."""
    from sslsan.train import image_trunk_features

    images = [Query(query_id=p, image_id=p, image=p, audio=None) for p in table.image_paths]
    features = image_trunk_features(model, root, images, image_size, device, cache_dir, batch_size=batch_size,
                                    progress=False)[:, 0]
    return ConditionMaps(features.float().abs().mean(1)[torch.as_tensor(table.image_index)])


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


@dataclass
class Conditions:
    """Maps of one row for the positive audio and each negative kind (negatives pooled over seeds: their rows are
    ``seed-major``, i.e. row ``s·N + i`` is query i under seed s)."""

    positive: ConditionMaps
    negatives: dict[str, ConditionMaps]
    visual: torch.Tensor | None = None  # N×C pooled image embeddings (None for audio-agnostic rows)

    def repeat(self, kind: str) -> int:
        return self.negatives[kind].maps.shape[0] // self.positive.maps.shape[0]


def _draws(root: Path, queries: Sequence[Query], split: str, seed: int):
    from sslsan.data.is3 import read_class_files
    from sslsan.data.negatives_pool import draw_negatives

    return draw_negatives(queries, read_class_files(root, split), seed, root=root)


@torch.no_grad()
def model_conditions(model: AVModel, root: Path, table: QueryTable, split: str, seeds: Sequence[int],
                     noise: NoiseConfig, image_size: int, device: torch.device, batch_size: int = 64,
                     progress: bool = True, audio_start: int = 0, cache_dir: Path | None = None) -> Conditions:
    """Maps of a model for the queries' own audio, silence, and noise/offscreen for every seed (or the dataset's
    fixed negatives when ``seeds`` is empty)."""
    from tqdm.auto import tqdm

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
            draws = _draws(root, table.queries, split, seed)
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
    from sslsan import metrics

    maxima = {kind: c.maps.flatten(1).amax(1) for kind, c in conditions.negatives.items()}
    per_kind = {kind: metrics.threshold_from_negative_maxima(values, quantile) for kind, values in maxima.items()}
    if combine == "hardest":
        kind = max(per_kind, key=lambda k: per_kind[k].value)
        chosen, statistic = per_kind[kind], f"quantile {quantile} of {kind} maxima (the hardest negative kind)"
    elif combine == "pooled":
        chosen = metrics.threshold_from_negative_maxima(torch.cat(list(maxima.values())), quantile)
        statistic = f"quantile {quantile} of all negative maxima pooled"
    else:
        raise ValueError(f"threshold_combine must be 'hardest' or 'pooled', got {combine!r}")
    return {"value": float(chosen.value), "statistic": statistic, "n": int(sum(len(v) for v in maxima.values())),
            "per_kind": {k: float(t.value) for k, t in per_kind.items()}}


def row_metrics(conditions: Conditions, table: QueryTable, threshold: float, config: EvalConfig,
                negatives: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Every metric of one report row, and the per-sample arrays behind them (for plots).

    Positive localisation uses the box ground truth under three policies (the legacy median, the adaptive
    GT-area one, and the universal threshold); negative audio uses the universal threshold. Metrics are given for
    all queries and for each ``part`` (seen / unseen recordings, style shift).
    """
    from sslsan import metrics

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


REFERENCE_ROWS = ("untrained", "centre_prior", "objectness", "gt_pooled")


def code_version() -> str:
    """``sslsan <version>`` plus the git commit when run from a checkout (``+dirty`` with local changes)."""
    import subprocess

    import sslsan

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
    from sslsan.config import display_path
    from sslsan.data.is3 import read_info, read_queries
    from sslsan.train import pick_device

    data = Path(data)
    dev = pick_device(device)
    info = read_info(data)
    noise = NoiseConfig("white", float(info.negatives.get("noise_std", info.negatives.get("noise_level", 1.0))))
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
        fit_rows["objectness"] = agnostic_conditions(objectness(model, data, fit, image_size, dev,
                                                                config.batch_size, cache_dir))
        rows["objectness"] = agnostic_conditions(objectness(model, data, test, image_size, dev, config.batch_size,
                                                            cache_dir))
    report_rows, arrays = {}, {}
    for name, conditions in rows.items():
        threshold = fit_threshold(fit_rows[name], config.threshold_quantile, config.threshold_combine)
        summary, row_arrays = row_metrics(conditions, test, threshold["value"], config)
        summary["threshold"] = threshold
        report_rows[name] = summary
        arrays.update({f"{name}/{key}": value for key, value in row_arrays.items()})
    if "gt_pooled" in references:  # the median policy's ceiling: positive metrics only
        summary, row_arrays = row_metrics(agnostic_conditions(pooled_ground_truth(test, grid)), test, 0.5, config,
                                          negatives=False)
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
        "device": describe_device(dev), "code": code_version(), "model": model.config.__dict__,
    }
    return {"protocol": protocol, "rows": report_rows}, arrays


def write_report(report: dict, arrays: dict[str, np.ndarray], path: Path) -> None:
    """``report.json`` and its per-sample arrays ``report.npz`` side by side, each written atomically."""
    import json
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, path)
    npz = path.with_suffix(".npz")
    tmp_npz = npz.with_name(f".{npz.stem}.tmp.npz")
    np.savez_compressed(tmp_npz, **arrays)
    os.replace(tmp_npz, npz)


def read_report(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    import json

    path = Path(path)
    with np.load(path.with_suffix(".npz")) as data:
        arrays = dict(data)
    return json.loads(path.read_text()), arrays


# ------------------------------------------------------------------------------------------------------ CLI


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="IS3-format dataset folder (e.g. IS3+-mini)")
    parser.add_argument("--run", type=Path, required=True,
                        help="a run folder from `sslsan train`, or its model.pt / last.pt checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="report .json (per-sample arrays go to .npz)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", default="companion",
                        help="'companion' (the 10 seeds of the companion paper), 'fixed' (the dataset's stored "
                             "negatives) or a comma-separated list of seeds")
    parser.add_argument("--references", default=",".join(REFERENCE_ROWS),
                        help=f"reference rows to add: any of {', '.join(REFERENCE_ROWS)}, or 'none'")
    parser.add_argument("--threshold-quantile", type=float, default=0.75)
    parser.add_argument("--threshold-combine", default="hardest", choices=["hardest", "pooled"])
    parser.add_argument("--device", default="auto")


def run(args) -> int:
    from sslsan.cli import CommandError
    from sslsan.config import display_path
    from sslsan.train import load_run

    run_dir = args.run.parent if args.run.suffix == ".pt" else args.run
    which = "last" if args.run.name == "last.pt" else "model"
    if not (run_dir / "config.json").is_file():
        raise CommandError(f"{args.run}: not an sslsan run (no config.json next to it)")
    if not (args.data / "dataset.json").is_file():
        raise CommandError(f"{args.data}: not a dataset folder (no dataset.json)")
    if args.seeds == "companion":
        seeds = COMPANION_SEEDS
    elif args.seeds == "fixed":
        seeds = ()
    else:
        try:
            seeds = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            raise CommandError(f"--seeds {args.seeds!r}: use 'companion', 'fixed' or integers like 1,2,3") from None
    references = () if args.references == "none" else tuple(r for r in args.references.split(",") if r)
    unknown = set(references) - set(REFERENCE_ROWS)
    if unknown:
        raise CommandError(f"--references: unknown rows {sorted(unknown)}; choose from {', '.join(REFERENCE_ROWS)}")
    try:
        model, config = load_run(run_dir, which=which)
    except (FileNotFoundError, ValueError) as err:
        raise CommandError(str(err)) from None
    eval_config = EvalConfig(split=args.split, seeds=seeds, threshold_quantile=args.threshold_quantile,
                             threshold_combine=args.threshold_combine)
    report, arrays = evaluate(model, args.data, eval_config, device=args.device, references=references,
                              seed=config.seed, run_name="model", audio_start=config.audio_start)
    report["protocol"]["run"] = display_path(run_dir)
    report["protocol"]["checkpoint"] = which
    write_report(report, arrays, args.out)
    row = report["rows"]["model"]
    print(f"report: {display_path(args.out)} (+ {args.out.with_suffix('.npz').name})")
    for part, block in row["positive"].items():
        print(f"  {part:7} mean cIoU {block['median']['mean_ciou']:.3f}  cIoU@0.5 {block['median']['ciou@0.5']:.3f}"
              f"  pointing {row['diagnostics'][part]['pointing']:.3f}")
    for kind, block in row.get("negative", {}).items():
        print(f"  {kind:9} pIA {block['pia']:.3f}  AUC_N {block['auc_n']:.3f}")
    return 0
