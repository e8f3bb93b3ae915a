"""Tables that describe a built IS3+-mini dataset: classes, sources and licences, splits (for the book)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from sslsan.data.is3 import read_info, read_queries
from sslsan.data.mini.assets import asset_root

#: upstream files spell the same licence several ways; the tables use SPDX-style names
LICENCE_NAMES = {
    "Creative Commons Zero 1.0": "CC0-1.0", "CC0": "CC0-1.0", "GPLv3": "GPL-3.0", "GPL-3+": "GPL-3.0+",
    "GPL-2": "GPL-2.0", "GPL-2+": "GPL-2.0+", "Creative Commons Attribution 3.0 Unported": "CC-BY-3.0",
    "CC-BY-SA 3.0": "CC-BY-SA-3.0", "CC-BY-SA 4.0": "CC-BY-SA-4.0",
    "Creative Commons Attribution-ShareAlike 3.0 Unported": "CC-BY-SA-3.0", "SIL-1.1": "OFL-1.1",
    "free-art": "Free-Art-1.3", "Public Domain": "public domain",
}


def licence_name(text: str) -> str:
    return LICENCE_NAMES.get(text, text)


def _asset_manifest(info) -> dict:
    version = info.extra.get("assets", {}).get("version", 1)
    return json.loads((asset_root(version) / "manifest.json").read_text())


def class_table(root: str | Path):
    """One row per sounding class: recording groups and sprites used in training vs held out for the unseen test
    part, how many groups are General MIDI renders, and the licences of its material."""
    info = read_info(root)
    heldout, train = info.extra["heldout"], info.extra["train"]
    manifest = _asset_manifest(info)
    licences: dict[str, Counter] = {}
    for record in manifest["recordings"] + manifest["sprites"]:
        licences.setdefault(record["class"], Counter())[licence_name(record["license"])] += 1
    rows = []
    for name in info.classes:
        groups = train["recording_groups"].get(name, []) + heldout["recording_groups"].get(name, [])
        rows.append({
            "class": name,
            "recording groups (train)": len(train["recording_groups"].get(name, [])),
            "recording groups (held out)": len(heldout["recording_groups"].get(name, [])),
            "of which GM renders": sum("/gm_" in g for g in groups),
            "sprites (train)": len(train["sprites"].get(name, [])),
            "sprites (held out)": len(heldout["sprites"].get(name, [])),
            "licences": ", ".join(sorted(licences.get(name, {}))),
        })
    return pd.DataFrame(rows).set_index("class")


def split_table(root: str | Path):
    """Queries and images per split, and the parts of the test split (seen / unseen recordings, style shift)."""
    info = read_info(root)
    rows = []
    for split in ("train", "val", "test"):
        queries = read_queries(root, split)
        parts = Counter(q.part for q in queries if q.part)
        rows.append({"split": split, "queries": len(queries), "images": len({q.image_id for q in queries}),
                     **{f"{part} queries": count for part, count in sorted(parts.items())}})
    rows.append({"split": "pretrain", "images": info.splits.get("pretrain_images"),
                 "queries": info.splits.get("pretrain_recordings")})
    return pd.DataFrame(rows).set_index("split").fillna(0).astype(int).rename(
        index={"pretrain": "pretrain (images / recordings)"})


def plan_class_table(preset: str = "v2", seed: int = 0, manifest=None):
    """One row per onscreen class of ``preset``'s split plan, before any build: real recording groups in training
    and held out for the unseen part, rendered (GM) groups, and photo cut-outs in training and held out.

    ``manifest`` (an :class:`~sslsan.data.mini.attribution.AssetManifest`) defaults to the preset's asset set,
    built on first use.
    """
    from sslsan.data.mini.assets import ensure_assets  # the asset builder only when no manifest is given
    from sslsan.data.mini.plan import class_map_of, get_preset, plan_splits

    cmap = class_map_of(preset)
    manifest = manifest or ensure_assets(class_map=cmap.name)
    plan = plan_splits(manifest, get_preset(preset), seed)
    rows = []
    for name in cmap.onscreen():
        synthetic = {g for g, records in manifest.groups(name).items() if records[0]["synthetic"]}
        train, held = plan.train_groups[name], plan.heldout_groups[name]
        rows.append({
            "class": name,
            "real groups (train)": sum(g not in synthetic for g in train),
            "real groups (unseen)": sum(g not in synthetic for g in held),
            "rendered groups (train / unseen)": f"{sum(g in synthetic for g in train)} / "
                                                f"{sum(g in synthetic for g in held)}",
            "cut-outs (train)": len(plan.train_sprites[name]),
            "cut-outs (unseen)": len(plan.heldout_sprites[name]),
        })
    return pd.DataFrame(rows).set_index("class")
