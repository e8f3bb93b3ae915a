"""The book's experiments, defined once: data → pretraining → audio-visual runs → reports, load-or-compute.

Notebooks call these functions; every step writes its results under :func:`sslsan.config.work_dir` and is
skipped when its results exist for exactly the same configuration (a run's folder name includes a hash of its
configuration, and :func:`sslsan.train.train` refuses to mix runs). A killed run resumes from its last epoch.

``plan(smoke)`` holds every budget. The full plan is what the committed book shows; the smoke plan (tiny data, a
few steps) only exercises the code.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from sslsan.config import (amp_option, describe_device, display_path, pick_device, precision_key, precision_name,
                           requested_precision, work_dir)
from sslsan.data.is3 import read_info
from sslsan.data.mini.build import ensure_dataset
from sslsan.evaluate import EvalConfig, code_version, evaluate, read_report, report_key, write_report
from sslsan.methods import METHODS as METHOD_REGISTRY
from sslsan.methods import SaNConfig
from sslsan.negatives import NoiseConfig
from sslsan.pretrain import AUDIO_PRETRAIN, IMAGE_PRETRAIN, PretrainConfig, run_pretraining
from sslsan.reference_rows import REFERENCE_ROWS
from sslsan.runs import TrainConfig, load_run, preset
from sslsan.train import train
from sslsan.verdicts import RULE, WORSE, Comparison, Rule, compare


@dataclass(frozen=True)
class Plan:
    """Everything the book runs, with its budgets (2 CPU cores; a GPU makes each step faster, not different)."""

    smoke: bool
    data_preset: str
    data_seed: int
    image_pretrain: PretrainConfig
    audio_pretrain: PretrainConfig
    base: TrainConfig
    seeds: tuple[int, ...]
    evaluation: EvalConfig
    ablation_evaluation: EvalConfig
    scratch: TrainConfig = field(default_factory=TrainConfig)
    #: seeds of the pretraining stage: each gives its own pair of trunks, and every audio-visual seed runs on each,
    #: so error bars include the trunk's variance (the larger source, and the one a change of machine moves)
    pretrain_seeds: tuple[int, ...] = (0, 1)

    @property
    def root(self) -> Path:
        return work_dir(self.smoke)


def plan(smoke: bool = False) -> Plan:
    """The book's plan; ``smoke`` shrinks every budget so the whole pipeline runs in a couple of minutes."""
    base = preset("mini-cpu", epochs=6, hflip=False, audio_train_from="head", audio_views=6)
    scratch = preset("mini-cpu", image_init="scratch", audio_init="scratch", trunk_lr=None, epochs=2, hflip=False)
    full = Plan(
        smoke=False, data_preset="default", data_seed=0, image_pretrain=IMAGE_PRETRAIN,
        audio_pretrain=AUDIO_PRETRAIN, base=base, seeds=(0, 1, 2), evaluation=EvalConfig(),
        ablation_evaluation=EvalConfig(seeds=()), scratch=scratch,
    )
    if not smoke:
        return full
    return replace(
        full, smoke=True, data_preset="tiny",
        image_pretrain=replace(IMAGE_PRETRAIN, steps=4, batch_size=8),
        audio_pretrain=replace(AUDIO_PRETRAIN, steps=4, batch_size=8),
        base=replace(base, epochs=1, batch_size=8, audio_views=2, noise_bank=8),
        scratch=replace(scratch, epochs=1, batch_size=8), seeds=(0,), pretrain_seeds=(0,),
        evaluation=EvalConfig(seeds=(1234,)), ablation_evaluation=EvalConfig(seeds=()),
    )


#: The SaN setting the book calls SSL-SaN: silence and white N(0, 1) noise as extra negatives, a quarter of a batch.
SSL_SAN = SaNConfig(kinds=("silence", "noise"), mode="extra-negatives", ratio=0.25, noise=NoiseConfig("white", 1.0))

#: The two methods the book compares.
METHODS: dict[str, SaNConfig | None] = {"EZ-VSL": None, "SSL-SaN": SSL_SAN}


@dataclass(frozen=True)
class Setting:
    """One row of a results table: a training method (:data:`sslsan.methods.METHODS`) and, optionally, SaN."""

    method: str = "ezvsl"
    san: SaNConfig | None = None


#: The self-supervised field, each method without and with silence and noise (the book's SSL-SaN row: the
#: SSL-TIE base + SaN, the network a public benchmark script builds the official checkpoint as).
ZOO: dict[str, Setting] = {
    label: Setting(name, san) for name, method in METHOD_REGISTRY.items()
    for label, san in ((method.title, None),
                       (f"{method.title} + SaN" + (" (SSL-SaN)" if name == "ssltie" else ""), SSL_SAN))}



def san_pairs(settings: dict[str, Setting] = ZOO) -> dict[str, tuple[str, str]]:
    """``{method title: (label without SaN, label with SaN)}`` of a table's settings (methods with both rows)."""
    pairs: dict[str, dict[bool, str]] = {}
    for label, setting in settings.items():
        pairs.setdefault(METHOD_REGISTRY[setting.method].title, {})[setting.san is not None] = label
    return {title: (rows[False], rows[True]) for title, rows in pairs.items() if len(rows) == 2}


#: Ablations of the readings the paper leaves open (each compared with EZ-VSL = "none" and SSL-SaN = "both").
ABLATIONS: dict[str, dict[str, SaNConfig | None]] = {
    "which negatives": {"none": None, "silence": replace(SSL_SAN, kinds=("silence",)),
                        "noise": replace(SSL_SAN, kinds=("noise",)), "both": SSL_SAN},
    "formulation": {"extra-negatives": SSL_SAN, "replacement": replace(SSL_SAN, mode="replacement"),
                    "penalty": replace(SSL_SAN, mode="penalty")},
    "injection ratio": {"0.25": SSL_SAN, "1.0": replace(SSL_SAN, ratio=1.0)},
    "noise type": {"white N(0,1)": SSL_SAN, "white N(0,0.1²)": replace(SSL_SAN, noise=NoiseConfig("white", 0.1)),
                   "pink": replace(SSL_SAN, noise=NoiseConfig("pink", 0.1))},
}


def ensure_data(p: Plan, progress: bool = True) -> Path:
    return Path(ensure_dataset(p.data_preset, seed=p.data_seed, smoke=p.smoke, progress=progress))


def pretrained_dir(p: Plan, pretrain_seed: int = 0, precision: str = "bfloat16") -> Path:
    """The folder of the trunks of pretraining seed ``k`` in ``precision``: ``pretrained`` for seed 0 in bfloat16
    (the folder of the first book runs, so their caches stay valid), else ``pretrained[-p<k>][-fp32]``."""
    seed = "" if pretrain_seed == 0 else f"-p{pretrain_seed}"
    return p.root / f"pretrained{seed}{precision_key(precision)}"


def pretrain_configs(p: Plan, pretrain_seed: int = 0) -> tuple[PretrainConfig, PretrainConfig]:
    """The image and audio pretraining configs of seed ``k``: the plan's, with ``seed + k`` (k = 0: unchanged)."""
    return (replace(p.image_pretrain, seed=p.image_pretrain.seed + pretrain_seed),
            replace(p.audio_pretrain, seed=p.audio_pretrain.seed + pretrain_seed))


def ensure_pretrained(p: Plan, data: Path, progress: bool = True, pretrain_seed: int = 0) -> dict[str, Path]:
    """The image and audio trunks of pretraining seed ``pretrain_seed`` (trained once, then reused by every run)."""
    image, audio = pretrain_configs(p, pretrain_seed)
    if requested_precision(image.amp) != requested_precision(audio.amp):
        raise ValueError("ensure_pretrained: the image and audio trunks of one folder need the same precision")
    precision = precision_name(pick_device("auto"), image.amp)  # the device run_pretraining picks
    return run_pretraining(data, pretrained_dir(p, pretrain_seed, precision), ("image", "audio"), image, audio,
                           progress=progress)


def ensure_all_pretrained(p: Plan, data: Path, progress: bool = True) -> dict[int, dict[str, Path]]:
    """``{pretrain seed: {"image": path, "audio": path}}`` for every pretraining seed of the plan."""
    return {k: ensure_pretrained(p, data, progress, k) for k in p.pretrain_seeds}


def config_for(p: Plan, pretrained: dict[str, Path], san: SaNConfig | None, seed: int, method: str = "ezvsl"
               ) -> TrainConfig:
    """The mini-cpu configuration of one run of ``method``, starting from the pretrained trunks."""
    return replace(p.base, image_init=str(pretrained["image"]), audio_init=str(pretrained["audio"]), san=san,
                   seed=seed, method=method)


def method_label(san: SaNConfig | None) -> str:
    """A readable name of a training loss: ``ezvsl`` or ``san-<kinds>-<mode>-r<ratio>-<noise>``."""
    if san is None:
        return "ezvsl"
    return (f"san-{'+'.join(san.kinds)}-{san.mode}-r{san.ratio:g}-{san.noise.type}{san.noise.std:g}")


#: fields added after the first book runs, with the value that reproduces those runs: left out of a run's hash
#: while they hold it, so older runs keep their folder names
LATER_DEFAULTS = {"method": "ezvsl", "method_config": None, "image_views": 4}
LATER_SAN_DEFAULTS = {"sharpness": 0.03}


def without_later_defaults(fields: dict) -> dict:
    fields = {k: v for k, v in fields.items() if k not in LATER_DEFAULTS or v != LATER_DEFAULTS[k]}
    if fields.get("san") is not None:
        fields["san"] = {k: v for k, v in fields["san"].items()
                         if k not in LATER_SAN_DEFAULTS or v != LATER_SAN_DEFAULTS[k]}
    return fields


def run_name(config: TrainConfig, pretrain_seed: int = 0, precision: str = "bfloat16") -> str:
    """``<method>-s<seed>-<hash>``: readable, and unique per configuration (so an ablation setting that equals a
    main run — e.g. "both" = SSL-SaN — reuses that run instead of training it again). Runs on the trunks of
    pretraining seed k ≠ 0 end in ``-p<k>`` (their trunk paths already change the hash; the suffix is for readers),
    so the names of the first book runs (seed 0) are unchanged. Runs computed in float32 end in ``-fp32``
    (:func:`sslsan.config.precision_key`): a float32 and a bfloat16 run of one recipe never share a folder."""
    fields = without_later_defaults(config.to_dict())
    # spellings of one request hash alike (True = "auto", the old default's value; False = "float32")
    fields["amp"] = amp_option(requested_precision(config.amp))
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:8]
    label = method_label(config.san)
    if config.method != "ezvsl":
        label = f"{config.method}-{label.removeprefix('ezvsl')}".rstrip("-")
    return (f"{label}-s{config.seed}-{digest}" + (f"-p{pretrain_seed}" if pretrain_seed else "")
            + precision_key(precision))


def ensure_run(p: Plan, config: TrainConfig, data: Path, progress: bool = True, pretrain_seed: int = 0) -> Path:
    """Train (or resume, or just find) the run of ``config``; returns its folder."""
    out = p.root / "runs" / run_name(config, pretrain_seed, precision_name(pick_device("auto"), config.amp))
    if not (out / "done.json").is_file():
        started = time.perf_counter()
        train(config, data, out, resume=(out / "last.pt").is_file(), cache_dir=p.root / "cache", progress=progress)
        print(f"trained {out.name} ({config.epochs} epochs) in {time.perf_counter() - started:.0f} s", flush=True)
    return out


def ensure_runs(p: Plan, data: Path, pretrained: dict[str, Path],
                settings: dict[str, Setting | SaNConfig | None], progress: bool = True) -> dict[str, list[Path]]:
    """Every setting trained with every seed of the plan: ``{setting: [run folder per seed]}``. A setting is a
    :class:`Setting` or, for EZ-VSL, just its SaN option."""
    settings = {label: s if isinstance(s, Setting) else Setting(san=s) for label, s in settings.items()}
    return {label: [ensure_run(p, config_for(p, pretrained, s.san, seed, s.method), data, progress)
                    for seed in p.seeds] for label, s in settings.items()}


def ensure_report(p: Plan, run: Path, data: Path, config: EvalConfig, references=(), progress: bool = True
                  ) -> tuple[dict, dict]:
    """The evaluation report of a run (computed once per run and evaluation protocol)."""
    path = run / f"report-{report_key(config, references)}.json"
    if not path.is_file():
        model, train_config = load_run(run)
        report, arrays = evaluate(model, data, config, references=references, seed=train_config.seed,
                                  audio_start=train_config.audio_start, cache_dir=p.root / "cache",
                                  progress=progress)
        write_report(report, arrays, path)
    return read_report(path)


def ensure_reports(p: Plan, runs: dict[str, list[Path]], data: Path, config: EvalConfig,
                   references: tuple[str, ...] = (), progress: bool = True) -> dict[str, list[tuple[dict, dict]]]:
    """Reports of every run (``{setting: [(report, arrays) per seed]}``). The audio-agnostic reference rows do not
    depend on the run, so they are computed once, with the first run, and copied into the others' tables by the
    caller that needs them (:func:`references_of`)."""
    out, first = {}, True
    for label, folders in runs.items():
        out[label] = []
        for folder in folders:
            out[label].append(ensure_report(p, folder, data, config, references if first else (), progress))
            first = False
    return out


def references_of(reports: dict[str, list[tuple[dict, dict]]]) -> dict[str, dict]:
    """The reference rows (centre prior, ground-truth ceiling, untrained model, objectness) found in ``reports``."""
    return {name: report["rows"][name] for per_seed in reports.values() for report, _ in per_seed
            for name in REFERENCE_ROWS if name in report["rows"]}


# ------------------------------------------------------------------- the grid: pretrain seed × av seed

#: A grid key: ``(pretrain seed, audio-visual seed)``, the unit the verdicts pair over.
GridKey = tuple[int, int]


def ensure_grid_runs(p: Plan, data: Path, settings: dict[str, Setting | SaNConfig | None], progress: bool = True
                     ) -> dict[str, dict[GridKey, Path]]:
    """Every setting × pretraining seed × audio-visual seed of the plan, load-or-compute like :func:`ensure_runs`:
    ``{setting: {(pretrain seed, av seed): run folder}}``."""
    trunks = ensure_all_pretrained(p, data, progress)
    settings = {label: s if isinstance(s, Setting) else Setting(san=s) for label, s in settings.items()}
    return {label: {(k, seed): ensure_run(p, config_for(p, trunks[k], s.san, seed, s.method), data, progress, k)
                    for k in p.pretrain_seeds for seed in p.seeds} for label, s in settings.items()}


def ensure_grid_reports(p: Plan, runs: dict[str, dict[GridKey, Path]], data: Path, config: EvalConfig,
                        references: tuple[str, ...] = (), progress: bool = True
                        ) -> dict[str, dict[GridKey, tuple[dict, dict]]]:
    """Reports of every run of a grid (``{setting: {key: (report, arrays)}}``); the reference rows come with the
    first run only, as in :func:`ensure_reports`."""
    out, first = {}, True
    for label, folders in runs.items():
        out[label] = {}
        for key, folder in folders.items():
            out[label][key] = ensure_report(p, folder, data, config, references if first else (), progress)
            first = False
    return out


def as_grid(reports: dict[str, list], p: Plan) -> dict[str, dict[GridKey, object]]:
    """Reports of :func:`ensure_reports` (one trunk, a list per audio-visual seed of ``p``) keyed like a grid:
    ``{setting: {(0, av seed): report}}``, so the zoo tables use the same verdicts."""
    return {label: {(0, seed): item for seed, item in zip(p.seeds, per_seed, strict=True)}
            for label, per_seed in reports.items()}


def grid_values(reports: dict[str, dict[GridKey, object]], column: str, part: str = "all", row: str = "model"
                ) -> dict[str, dict[GridKey, float]]:
    """One table column (:data:`HEADLINE`) of every run: ``{setting: {(pretrain seed, av seed): value}}``."""
    return {label: {key: metric(_report(item)["rows"][row], HEADLINE[column], part) for key, item in runs.items()}
            for label, runs in reports.items()}


def compare_grid(reports: dict[str, dict[GridKey, object]], a: str, b: str, column: str, part: str = "all",
                 rule: Rule = RULE, higher_is_better: bool = True) -> Comparison:
    """Setting ``a`` against ``b`` on one column, paired over their shared (pretrain seed, av seed) runs
    (:func:`sslsan.verdicts.compare`)."""
    values = grid_values({a: reports[a], b: reports[b]}, column, part)
    return compare(values[a], values[b], a=a, b=b, metric=column, rule=rule, higher_is_better=higher_is_better)


def best_setting(reports: dict[str, dict[GridKey, object]], column: str, part: str = "all", rule: Rule = RULE,
                 higher_is_better: bool = True) -> tuple[str, list[str]]:
    """The setting with the best mean on ``column`` and the others the rule cannot call worse than it (ties for
    first place: a table marks them all, not just the top mean). Settings without a finite value are skipped."""
    values = grid_values(reports, column, part)
    means = {label: float(pd.Series(v, dtype=float).mean()) for label, v in values.items()}
    means = {label: m for label, m in means.items() if m == m}
    if not means:
        raise ValueError(f"best_setting: no setting has a value for {column!r}")
    sign = 1 if higher_is_better else -1
    best = max(means, key=lambda label: sign * means[label])
    tied = [label for label in means if label != best and compare(
        values[label], values[best], rule=rule, higher_is_better=higher_is_better).verdict != WORSE]
    return best, tied


def describe(p: Plan, data: Path | None = None, device: str = "auto") -> str:
    """The protocol header every notebook prints: data, split sizes, seeds, budgets, device, code version."""
    lines = [f"code: {code_version()} | device: {describe_device(pick_device(device), p.base.amp)}"
             + (" | SMOKE RUN" if p.smoke else ""),
             f"dataset: IS3+-mini preset '{p.data_preset}', seed {p.data_seed}"]
    if data is not None:
        info = read_info(data)
        splits = info.splits
        lines[-1] += f" at {display_path(data)}"
        lines.append(f"  {len(info.classes)} classes; train {splits.get('train')} pairs, val {splits.get('val')} "
                     f"queries, test {splits.get('test')} queries on {splits.get('test_images')} images")
    lines.append(f"training seeds: {list(p.seeds)}; audio-visual runs: {p.base.epochs} epochs of batch "
                 f"{p.base.batch_size}, Adam {p.base.lr:g}")
    seeds = p.evaluation.seeds
    lines.append(f"evaluation: split '{p.evaluation.split}', negatives re-drawn over "
                 f"{len(seeds) if seeds else 'no'} seeds{' ' + str(list(seeds)) if seeds else ''}; universal "
                 f"threshold = quantile {p.evaluation.threshold_quantile} of negative maxima on "
                 f"'{p.evaluation.fit_split}' ({p.evaluation.threshold_combine})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ summaries

#: The columns of the book's tables: ``column name → path of the number in a report row``.
HEADLINE = {
    "mean cIoU": "positive/{part}/median/mean_ciou",
    "cIoU@0.5": "positive/{part}/median/ciou@0.5",
    "AUC": "positive/{part}/median/auc",
    "adaptive cIoU@0.5": "positive/{part}/adaptive/ciou@0.5",
    "IIoU": "positive/{part}/interactive_median/iiou",
    "universal cIoU@0.5": "positive/{part}/universal/ciou@0.5",
    "pointing": "diagnostics/{part}/pointing",
    "both found": "diagnostics/{part}/both_found",
    "pair corr.": "diagnostics/{part}/pair_correlation",
    "pIA silence": "negative/silence/pia",
    "pIA noise": "negative/noise/pia",
    "pIA offscreen": "negative/offscreen/pia",
    "AUC_N silence": "negative/silence/auc_n",
    "AUC_N noise": "negative/noise/auc_n",
    "AUC_N offscreen": "negative/offscreen/auc_n",
    "P(pos>sil)": "negative/silence/p_positive_max_higher",
    "P(pos>noise)": "negative/noise/p_positive_max_higher",
    "P(pos>off)": "negative/offscreen/p_positive_max_higher",
    "F_loc": "f_scores/pooled/f_loc",
    "F_AUC": "f_scores/pooled/f_auc",
    "R@1 a→i": "retrieval/a2i@1",
    "R@5 a→i": "retrieval/a2i@5",
    "alignment": "geometry/silence/alignment",
    "separability sil.": "geometry/silence/separability",
    "separability off.": "geometry/offscreen/separability",
}


def metric(row: dict, path: str, part: str = "all") -> float:
    """One number of a report row by its ``/``-separated path (``nan`` where the row has none, e.g. negatives of
    the ground-truth ceiling)."""
    value = row
    for key in path.format(part=part).split("/"):
        if not isinstance(value, dict) or key not in value:
            return float("nan")
        value = value[key]
    return float(value)


def flat_row(row: dict, part: str = "all", columns=None) -> dict[str, float]:
    """A report row as ``{column: value}`` for the book's tables (columns of :data:`HEADLINE`)."""
    return {name: metric(row, HEADLINE[name], part) for name in (columns or HEADLINE)}


def _report(item) -> dict:
    return item[0] if isinstance(item, tuple) else item  # (report, arrays) pairs or bare reports


def seed_table(reports: dict[str, list[dict]], part: str = "all", row: str = "model", columns=None):
    """``{setting: [report per seed]}`` → a table of mean ± std over seeds (``"0.312 ± 0.004"``) and the raw
    per-seed values (a long DataFrame: setting, seed index, column, value) for spread plots."""
    long = pd.DataFrame([{"setting": setting, "seed": i, "metric": name, "value": value}
                         for setting, per_seed in reports.items() for i, report in enumerate(per_seed)
                         for name, value in flat_row(_report(report)["rows"][row], part, columns).items()])
    stats = long.groupby(["setting", "metric"], sort=False)["value"].agg(["mean", "std"])
    table = stats.apply(lambda r: f"{r['mean']:.3f} ± {0 if pd.isna(r['std']) else r['std']:.3f}", axis=1)
    table = table.unstack("metric")
    return table[[c for c in (columns or HEADLINE) if c in table.columns]].loc[list(reports)], long


REFERENCE_LABELS = {"centre_prior": "centre prior", "gt_pooled": "GT box pooled to grid (ceiling)",
                    "untrained": "untrained model", "objectness": "objectness (audio-agnostic)"}


def results_table(reports: dict[str, list], part: str = "all", columns=None):
    """The book's results table: the reference rows (one value each) above the methods (mean ± std over seeds)."""
    methods, _ = seed_table(reports, part, columns=columns)
    refs = references_of(reports)
    rows = {REFERENCE_LABELS[name]: {c: ("—" if v != v else f"{v:.3f}") for c, v in flat_row(row, part, columns).items()}
            for name, row in refs.items()}
    return pd.concat([pd.DataFrame(rows).T, methods])[list(methods.columns)]


def glue_key(*parts: str) -> str:
    """A glue name the book's pages can quote: ``glue_key("ez", "P(pos>sil)")`` → ``"ez_p_pos_sil"``."""
    words = "_".join(str(p) for p in parts).lower().replace("→", "2").replace("@", "_at_")
    slug = "".join(c if c.isalnum() else "_" for c in words)
    return "_".join(w for w in slug.split("_") if w)


class GlueText:
    """A number pasted into a book page (``glue(key, GlueText("0.31 ± 0.01"))``): its plain-text form is the text
    itself, which is what a page quoting another document's glue shows (a bare ``str`` would show its quotes)."""

    def __init__(self, text: str):
        self.text = str(text)

    def __repr__(self) -> str:
        return self.text
