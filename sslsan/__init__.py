"""sslsan: an educational reproduction of SSL-SaN (Juanola et al., BMVC 2025) and of its companion evaluation.

Visual sound source localisation with negative audio (silence, noise, offscreen), from data to metrics. The
package is organised the way the method is, and its imports point one way (down this list):

- ground floor: :mod:`~sslsan.config` (seeds, named random streams, devices, work folders), :mod:`~sslsan.errors`,
  :mod:`~sslsan.io` (the one atomic writer), :mod:`~sslsan.audio`, :mod:`~sslsan.negatives`;
- :mod:`sslsan.data` (IS3+-mini, the IS3 folder format, readers of the real datasets) and
  :mod:`~sslsan.protocol` (the companion paper's evaluation protocol);
- :mod:`~sslsan.models` (encoders, similarity maps), :mod:`sslsan.methods` (one module per training method and the
  silence-and-noise plug-in), :mod:`sslsan.metrics` (every metric; imports nothing of ours);
- :mod:`~sslsan.features` (frozen-trunk caches), :mod:`~sslsan.runs` (run configs and folders),
  :mod:`~sslsan.reference_rows`;
- :mod:`~sslsan.pretrain`, :mod:`~sslsan.train`, :mod:`~sslsan.evaluate`;
- :mod:`~sslsan.experiments` (the book's plan), :mod:`~sslsan.viz`, :mod:`~sslsan.explore`, :mod:`~sslsan.book`;
- :mod:`sslsan.cli`, the ``sslsan`` command (nothing imports it).

The names below are the public API the notebooks use. They are resolved on first use (``import sslsan`` stays
instant for the command line); :data:`API` says where each one lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Where the project lives; the Colab install cells and the book's launch buttons point here.
REPOSITORY = "https://github.com/sslsan-project/sslsan"

#: public name -> the module that defines it (modules themselves map to their own path)
API: dict[str, str] = {
    # modules
    **{name: f"sslsan.{name}" for name in (
        "audio", "config", "data", "errors", "evaluate", "experiments", "explore", "features", "io", "methods",
        "metrics", "models", "negatives", "pretrain", "protocol", "reference_rows", "runs", "train", "viz")},
    # run-wide settings
    "announce": "sslsan.config", "is_smoke": "sslsan.config", "seed_everything": "sslsan.config",
    "display_path": "sslsan.config", "pick_device": "sslsan.config",
    # data
    "load_audio": "sslsan.audio", "load_image": "sslsan.data.dataset", "QueryDataset": "sslsan.data.dataset",
    "read_queries": "sslsan.data.is3", "read_info": "sslsan.data.is3", "read_class_files": "sslsan.data.is3",
    "resolve": "sslsan.data.records", "Query": "sslsan.data.records", "AudioAugment": "sslsan.data.augment",
    "ensure_assets": "sslsan.data.mini.assets", "class_table": "sslsan.data.mini.summary",
    "split_table": "sslsan.data.mini.summary", "read_is3_release": "sslsan.data.is3_release",
    # protocol and reference rows
    "COMPANION_SEEDS": "sslsan.protocol", "draw_negatives": "sslsan.protocol", "NoiseConfig": "sslsan.negatives",
    "REFERENCE_ROWS": "sslsan.reference_rows",
    # model, methods, runs
    "AVModel": "sslsan.models", "similarity_maps": "sslsan.models", "SaNConfig": "sslsan.methods",
    "TrainConfig": "sslsan.runs", "preset": "sslsan.runs", "load_run": "sslsan.runs",
    # evaluation and exploration
    "EvalConfig": "sslsan.evaluate", "layout_rows": "sslsan.evaluate", "Explorer": "sslsan.explore",
}

__all__ = ["__version__", "REPOSITORY", *API]


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module 'sslsan' has no attribute {name!r}")
    module = importlib.import_module(API[name])
    value = module if API[name] == f"sslsan.{name}" else getattr(module, name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for IDEs and type checkers: the same names, imported eagerly
    from sslsan import (audio, config, data, errors, evaluate, experiments, explore, features, io, methods,  # noqa
                        metrics, models, negatives, pretrain, protocol, reference_rows, runs, train, viz)
    from sslsan.audio import load_audio  # noqa: F401
    from sslsan.config import announce, display_path, is_smoke, pick_device, seed_everything  # noqa: F401
    from sslsan.data.augment import AudioAugment  # noqa: F401
    from sslsan.data.dataset import QueryDataset, load_image  # noqa: F401
    from sslsan.data.is3 import read_class_files, read_info, read_queries  # noqa: F401
    from sslsan.data.is3_release import read_is3_release  # noqa: F401
    from sslsan.data.mini.assets import ensure_assets  # noqa: F401
    from sslsan.data.mini.summary import class_table, split_table  # noqa: F401
    from sslsan.data.records import Query, resolve  # noqa: F401
    from sslsan.evaluate import EvalConfig, layout_rows  # noqa: F401
    from sslsan.explore import Explorer  # noqa: F401
    from sslsan.methods import SaNConfig  # noqa: F401
    from sslsan.models import AVModel, similarity_maps  # noqa: F401
    from sslsan.negatives import NoiseConfig  # noqa: F401
    from sslsan.protocol import COMPANION_SEEDS, draw_negatives  # noqa: F401
    from sslsan.reference_rows import REFERENCE_ROWS  # noqa: F401
    from sslsan.runs import TrainConfig, load_run, preset  # noqa: F401
