"""Datasets: IS3+-mini (built offline) and readers for the real datasets, all producing :class:`Query` records.

The IS3+-mini entry points are imported lazily (``from sslsan.data import build_dataset`` works, but importing
``sslsan.data`` alone stays cheap).
"""

from sslsan.data.records import AnnotationError, Query, box_map, resolve

_LAZY = {
    "build_dataset": "sslsan.data.is3plus_mini",
    "ensure_dataset": "sslsan.data.is3plus_mini",
    "read_pretrain": "sslsan.data.is3plus_mini",
    "layout_baselines": "sslsan.data.is3plus_mini",
    "PRESETS": "sslsan.data.is3plus_mini",
    "ensure_assets": "sslsan.data.assets",
    "AudioAugment": "sslsan.data.augment",
    "AugmentConfig": "sslsan.data.augment",
    "draw_negatives": "sslsan.data.negatives_pool",
    "PAPER_SEEDS": "sslsan.data.negatives_pool",
}

__all__ = ["AnnotationError", "Query", "box_map", "resolve", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sslsan.data' has no attribute {name!r}")
