"""IS3+-mini class map v2: its invariants, its split plan and its cleaning rules (no download, no asset build)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sslsan.data.mini import classmap
from sslsan.data.mini.attribution import AssetManifest
from sslsan.data.mini.classmap import V1, V2, CleanRules, declared_groups
from sslsan.data.mini.clean import SAMPLE_RATE, clean_wave
from sslsan.data.mini.fetch import DEB_PACKAGES, DroppedAsset
from sslsan.data.mini.plan import PRESET_CLASS_MAPS, class_map_of, get_preset, plan_splits

ONSCREEN_V2 = [V2.class_by_name(name) for name in V2.onscreen()]


# ------------------------------------------------------------------------------------------------ class map


def test_default_presets_keep_class_map_v1():
    assert PRESET_CLASS_MAPS["default"] == "v1" and class_map_of("default") is V1
    assert V1.classes is classmap.CLASSES and V1.asset_version == 1
    assert class_map_of("v2") is V2 and V2.asset_version != V1.asset_version


@pytest.mark.parametrize("spec", ONSCREEN_V2, ids=lambda s: s.name)
def test_v2_onscreen_class_has_six_groups_and_two_cutouts(spec):
    assert len(declared_groups(spec)) >= 6
    assert len(spec.sprites) >= 2


def test_v2_class_count_and_unique_names():
    names = [spec.name for spec in V2.classes]
    assert len(names) == len(set(names))
    # 20 is out of reach with the plain-file packages: only 8 classes keep 6 groups of ≥ 0.5 s of sound
    assert len(V2.onscreen()) >= 8
    assert "train" in V2.onscreen()


def test_v2_every_recording_in_one_class_and_known_packages():
    owners: dict[str, str] = {}
    for spec in V2.classes:
        for source_id in spec.recordings + spec.sprites:
            assert source_id not in owners, f"{source_id} in {owners.get(source_id)} and {spec.name}"
            owners[source_id] = spec.name
            kind = source_id.split(":", 1)[0]
            assert kind in ("gc", "osfx", "ovos") or kind in V2.packages, source_id
        for session in spec.sessions:
            assert set(session) <= set(spec.recordings), (spec.name, session)


@pytest.mark.parametrize("first, second", [
    ("scratch:Sounds/Animal/Horse.wav", "widelands:farm/horse_00.ogg"),  # ncc 0.77
    ("widelands:animals/crickets1_00.ogg", "widelands:animals/crickets2_00.ogg"),
    ("wesnoth:horse-hit-1.ogg", "wesnoth:horse-hit-2.ogg"),
])
def test_v2_known_duplicates_share_a_group(first, second):
    groups = [g for spec in V2.classes for g in declared_groups(spec)]
    assert any(first in g and second in g for g in groups)


def test_declared_groups_merge_sessions():
    spec = classmap.ClassSpec("x", "animal", recordings=("a", "b", "c"), sessions=(("a", "b"),))
    assert sorted(declared_groups(spec)) == [("a", "b"), ("c",)]


def test_new_packages_are_plain_file_packages():
    for kind in set(V2.packages) - set(V1.packages):
        assert DEB_PACKAGES[kind].plain and DEB_PACKAGES[kind].prefix.endswith("/")


# ------------------------------------------------------------------------------------------------ split plan


def _fake_manifest(cmap: classmap.ClassMap) -> AssetManifest:
    """A manifest with one record per declared recording (grouped as declared) and every sprite."""
    recordings = [{"id": s, "class": spec.name, "group": f"{spec.name}/{group[0]}", "path": f"rec/{s}.wav",
                   "synthetic": False} for spec in cmap.classes for group in declared_groups(spec) for s in group]
    sprites = [{"class": spec.name, "path": f"sprites/{s}.png"} for spec in cmap.classes for s in spec.sprites]
    return AssetManifest(Path("/nonexistent"), {
        "recordings": recordings, "sprites": sprites, "emoji": [],
        "backgrounds": [{"path": f"bg/{i}.jpg"} for i in range(8)]})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v2_split_holds_out_two_groups_and_never_shares_one(seed):
    plan = plan_splits(_fake_manifest(V2), get_preset("v2"), seed)
    assert sorted(plan.heldout_groups) == sorted(V2.onscreen())
    for name in V2.onscreen():
        held, train = set(plan.heldout_groups[name]), set(plan.train_groups[name])
        assert len(held) >= 2 and train and not held & train, name
    unseen = {r for pool in plan.pools["test"].values() for r in pool}
    seen = {r for name in V2.onscreen() for r in plan.pools["val"].get(name, [])}
    assert not unseen & seen


# ------------------------------------------------------------------------------------------------ cleaning


def _tone(seconds: float, amplitude: float, lead: float = 0.0, tail: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = amplitude * np.sin(2 * np.pi * 440 * t)
    return np.concatenate([np.zeros(int(lead * SAMPLE_RATE)), tone, np.zeros(int(tail * SAMPLE_RATE))]).astype(
        np.float32)


def test_v2_trims_silence_and_normalises_loudness():
    out = clean_wave(_tone(1.0, 0.01, lead=1.0, tail=2.0), rules=V2.rules)
    assert abs(len(out) / SAMPLE_RATE - 1.1) < 0.03  # 1 s of sound and 50 ms either side
    rms = np.sqrt(np.mean(out[800:-800] ** 2))
    assert abs(20 * np.log10(rms) - V2.rules.loudness_dbfs) < 0.5


def test_loudness_never_clips():
    spiky = _tone(1.0, 0.001)
    spiky[8000] = 0.9  # one click far above the sound: the peak limit wins over the RMS target
    out = clean_wave(spiky, rules=CleanRules(min_sound_seconds=0.0, loudness_dbfs=-20.0, trim_db=80.0))
    assert np.max(np.abs(out)) <= 10 ** (-1 / 20) + 1e-6


def test_v2_drops_short_sounds_v1_keeps_them():
    bark = _tone(0.3, 0.5, lead=0.5, tail=0.5)
    assert len(clean_wave(bark)) > 0  # v1: 0.1 s is enough
    with pytest.raises(DroppedAsset, match="too"):
        clean_wave(bark, rules=V2.rules)


def test_v1_rules_peak_normalise():
    out = clean_wave(_tone(1.0, 0.01))
    assert abs(np.max(np.abs(out)) - 10 ** (-1 / 20)) < 1e-4


def test_plan_class_table_on_a_fake_manifest():
    from sslsan.data.mini.summary import plan_class_table

    table = plan_class_table("v2", 0, manifest=_fake_manifest(V2))
    assert list(table.index) == V2.onscreen()
    assert (table["real groups (unseen)"] >= 2).all() and (table["real groups (train)"] >= 1).all()
    assert (table["cut-outs (train)"] + table["cut-outs (unseen)"] >= 2).all()


# ------------------------------------------------------------------------------------------------ download cache


def _fake_debs(tmp_path: Path) -> dict:
    """A fake apt listing of three packages and their contents (nothing is downloaded)."""
    import hashlib

    from sslsan.data.mini.fetch import DebFile

    blobs = {name: name.encode() * 1000 for name in ("alpha", "beta", "gamma")}
    return {name: (DebFile(name, f"http://x/{name}.deb", f"{name}_1_all.deb", len(blob),
                           hashlib.sha256(blob).hexdigest()), blob) for name, blob in blobs.items()}


def test_print_uris_lines_are_parsed():
    from sslsan.data.mini.fetch import parse_print_uris

    out = ("'http://deb.debian.org/debian/pool/main/s/scratch/scratch_1.4_all.deb' scratch_1.4_all.deb 25654320 "
           "SHA256:36c5\nW: a warning\n")
    deb = parse_print_uris(out, ["scratch"])["scratch"]
    assert (deb.filename, deb.size, deb.sha256) == ("scratch_1.4_all.deb", 25654320, "36c5")


def test_cache_check_keeps_good_files_and_removes_half_fetched_or_corrupt(tmp_path):
    from sslsan.data.mini.fetch import check_cache

    debs = _fake_debs(tmp_path)
    (tmp_path / debs["alpha"][0].filename).write_bytes(debs["alpha"][1])  # complete
    (tmp_path / debs["beta"][0].filename).write_bytes(debs["beta"][1][:100])  # interrupted download
    (tmp_path / debs["gamma"][0].filename).write_bytes(debs["gamma"][1][::-1])  # right size, wrong bytes
    good, missing = check_cache(tmp_path, {name: deb for name, (deb, _) in debs.items()})
    assert list(good) == ["alpha"]
    assert "half-fetched" in missing["beta"] and "sha256" in missing["gamma"]
    assert not (tmp_path / debs["beta"][0].filename).exists() and not (tmp_path / debs["gamma"][0].filename).exists()


def test_download_resumes_a_half_fetched_cache(tmp_path, monkeypatch):
    from sslsan.data.mini import fetch

    debs = _fake_debs(tmp_path)
    listing = "\n".join(f"'{d.url}' {d.filename} {d.size} SHA256:{d.sha256}" for d, _ in debs.values())
    fetched: list[str] = []

    def fake_apt(args, cwd, packages):
        if args == ["--print-uris", "download"]:
            assert not any(cwd.iterdir())  # apt lists no uri for a file already in its folder
            return listing
        for package in packages:  # "download": write the file apt would
            fetched.append(package)
            deb, blob = debs[package]
            (cwd / deb.filename).write_bytes(blob)
        return ""

    monkeypatch.setattr(fetch, "_apt", fake_apt)
    monkeypatch.setattr(fetch.shutil, "which", lambda name: "/usr/bin/" + name)
    (tmp_path / debs["alpha"][0].filename).write_bytes(debs["alpha"][1])
    (tmp_path / debs["beta"][0].filename).write_bytes(debs["beta"][1][:10])
    messages: list[str] = []
    paths = fetch.download_debs(list(debs), tmp_path, messages.append, progress=False)
    assert fetched == ["beta", "gamma"]  # only what was missing or half-fetched
    assert "beta (half-fetched" in messages[0] and "gamma (not in the cache)" in messages[0]
    assert all(paths[name].read_bytes() == blob for name, (_, blob) in debs.items())
    fetched.clear()
    fetch.download_debs(list(debs), tmp_path, messages.append, progress=False)
    assert fetched == []  # a verified cache fetches nothing


def test_new_sources_are_credited():
    from sslsan.data.mini import containers
    from sslsan.data.mini.attribution import credit
    from sslsan.data.mini.fetch import Staging

    scratch_copyright = ("Format: http://dep.debian.net/deps/dep5/\n\nFiles: *\nCopyright: MIT\nLicense: GPL-2\n\n"
                         "Files: Help/* Media/* Projects\nCopyright: Copyright (c) 2011 MIT\nLicense: CC-BY-SA-3.0\n")
    stage = Staging(raw=Path("/nonexistent"), dep5={"scratch": containers.parse_dep5(scratch_copyright)})
    assert credit(stage, "scratch:Sounds/Animal/Horse.wav").license == "CC-BY-SA-3.0"
    assert credit(stage, "wesnoth:horse-hit-1.ogg").license == "GPL-2+"
