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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from sslsan.config import work_dir
from sslsan.evaluate import REFERENCE_ROWS, EvalConfig, evaluate, read_report, write_report
from sslsan.losses import SaNConfig
from sslsan.negatives import NoiseConfig
from sslsan.pretrain import AUDIO_PRETRAIN, IMAGE_PRETRAIN, PretrainConfig, run_pretraining
from sslsan.train import TrainConfig, load_run, preset, train


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

    @property
    def root(self) -> Path:
        return work_dir(self.smoke)


def plan(smoke: bool = False) -> Plan:
    """The book's plan; ``smoke`` shrinks every budget so the whole pipeline runs in a couple of minutes."""
    base = preset("mini-cpu", epochs=6, hflip=False, audio_train_from="layer4", audio_views=6)
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
        scratch=replace(scratch, epochs=1, batch_size=8), seeds=(0,),
        evaluation=EvalConfig(seeds=(1234,)), ablation_evaluation=EvalConfig(seeds=()),
    )


#: The SaN setting the book calls SSL-SaN: silence and white N(0, 1) noise as extra negatives, a quarter of a batch.
SSL_SAN = SaNConfig(kinds=("silence", "noise"), mode="extra-negatives", ratio=0.25, noise=NoiseConfig("white", 1.0))

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
    from sslsan.data.is3plus_mini import ensure_dataset

    return Path(ensure_dataset(p.data_preset, seed=p.data_seed, smoke=p.smoke, progress=progress))


def ensure_pretrained(p: Plan, data: Path, progress: bool = True) -> dict[str, Path]:
    """The image and audio trunks of the pretraining stage (trained once, then reused by every run)."""
    return run_pretraining(data, p.root / "pretrained", ("image", "audio"), p.image_pretrain, p.audio_pretrain,
                           progress=progress)


def config_for(p: Plan, pretrained: dict[str, Path], san: SaNConfig | None, seed: int) -> TrainConfig:
    """The mini-cpu configuration of one run, starting from the pretrained trunks."""
    return replace(p.base, image_init=str(pretrained["image"]), audio_init=str(pretrained["audio"]), san=san,
                   seed=seed)


def run_name(config: TrainConfig, label: str) -> str:
    """``<label>-s<seed>-<hash>``: readable, and unique per configuration."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:8]
    slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
    return f"{slug}-s{config.seed}-{digest}"


def ensure_run(p: Plan, config: TrainConfig, label: str, data: Path, progress: bool = True) -> Path:
    """Train (or resume, or just find) the run of ``config``; returns its folder."""
    out = p.root / "runs" / run_name(config, label)
    if not (out / "done.json").is_file():
        train(config, data, out, resume=(out / "last.pt").is_file(), cache_dir=p.root / "cache", progress=progress)
    return out


def ensure_report(p: Plan, run: Path, data: Path, config: EvalConfig, references=(), progress: bool = True
                  ) -> tuple[dict, dict]:
    """The evaluation report of a run (computed once per run and evaluation protocol)."""
    key = hashlib.sha256(json.dumps([asdict(config), list(references)], default=str).encode()).hexdigest()[:8]
    path = run / f"report-{key}.json"
    if not path.is_file():
        model, train_config = load_run(run)
        report, arrays = evaluate(model, data, config, references=references, seed=train_config.seed,
                                  audio_start=train_config.audio_start, cache_dir=p.root / "cache",
                                  progress=progress)
        write_report(report, arrays, path)
    return read_report(path)


def describe(p: Plan, data: Path | None = None, device: str = "auto") -> str:
    """The protocol header every notebook prints: data, split sizes, seeds, budgets, device, code version."""
    from sslsan.config import display_path
    from sslsan.evaluate import code_version
    from sslsan.train import pick_device

    lines = [f"code: {code_version()} | device: {pick_device(device)}" + (" | SMOKE RUN" if p.smoke else ""),
             f"dataset: IS3+-mini preset '{p.data_preset}', seed {p.data_seed}"]
    if data is not None:
        from sslsan.data.is3 import read_info

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
