"""IS3+-mini's generator invariants, on the ``tiny`` preset built once per test session.

The assets are fetched once per machine into the user cache (``sslsan data assets``; about a minute cold) and
only verified afterwards; the datasets themselves are built in temporary folders.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sslsan.data import is3
from sslsan.protocol import COMPANION_SEEDS, draw_negatives, present_classes

ANNOTATION_FILES = ("annotations/train.json", "annotations/val.json", "annotations/test.json", "dataset.json",
                    "class_files_dict.json", "class_files_dict_val.json", "pretrain/annotations.json")


def entries(root: Path, split: str) -> list[dict]:
    return json.loads((root / "annotations" / f"{split}.json").read_text())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------ assets


def test_asset_class_map_has_enough_independent_recordings_and_real_masks(assets):
    from sslsan.data.mini.classmap import onscreen_classes

    groups = {name: assets.groups(name) for name in onscreen_classes()}
    assert sum(len(g) >= 3 for g in groups.values()) >= 16
    assert all(len(g) >= 2 for g in groups.values())
    # instruments get many groups from the soundfont programs
    assert len(groups["guitar"]) >= 10 and len(groups["violin"]) >= 10
    for sprite in assets.sprites:
        alpha = np.asarray(Image.open(assets.path(sprite["path"])).convert("RGBA"))[..., 3]
        assert (alpha < 16).mean() > 0.02 and (alpha > 240).mean() > 0.05, sprite["id"]
    # every file is in the manifest with its checksum, and every record names a licence
    assert all(record["license"] for record in assets.recordings + assets.sprites + assets.backgrounds)
    assert "tuxbg:sheep.jpg" not in {b["id"] for b in assets.backgrounds}  # shows a class object


def test_asset_verification_catches_a_changed_file(assets, tmp_path):
    from sslsan.data.mini.assets import verify_assets
    from sslsan.data.mini.fetch import AssetError

    copy = tmp_path / "assets"
    shutil.copytree(assets.root, copy)
    verify_assets(copy)
    victim = copy / assets.recordings[0]["path"]
    victim.write_bytes(victim.read_bytes()[:-2] + b"\0\1")
    with pytest.raises(AssetError, match="missing or changed"):
        verify_assets(copy)


def test_corrupt_and_silent_clips_are_dropped_with_a_message(tmp_path):
    import soundfile

    from sslsan.data.mini.clean import clean_pool

    def wav(wave: np.ndarray) -> bytes:
        path = tmp_path / "x.wav"
        soundfile.write(path, wave, 44_100)
        return path.read_bytes()

    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(44_100) / 44_100)
    messages: list[str] = []
    kept, dropped = clean_pool({"test:corrupt.ogg": b"OggS" + b"\x00" * 500, "test:silent.wav": wav(np.zeros(44_100)),
                                "test:tone.wav": wav(tone)}, log=messages.append)
    assert list(kept) == ["test:tone.wav"]
    assert len(kept["test:tone.wav"]) == pytest.approx(16_000, abs=200)  # resampled to 16 kHz
    assert set(dropped) == {"test:corrupt.ogg", "test:silent.wav"}
    assert "silence" in dropped["test:silent.wav"] and "decode" in dropped["test:corrupt.ogg"]
    assert any("test:corrupt.ogg" in m for m in messages) and any("test:silent.wav" in m for m in messages)


def test_missing_debian_package_gives_one_line_with_the_fix(tmp_path):
    from sslsan.data.mini.fetch import AssetError, download_debs

    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get on this machine")
    with pytest.raises(AssetError) as info:
        download_debs(["sslsan-no-such-package"], tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "sslsan-no-such-package" in message and "sudo apt-get update" in message


def test_grouping_joins_copies_and_excerpts_but_not_different_recordings():
    from sslsan.data.mini.group import group_recordings

    rng = np.random.default_rng(0)
    a = rng.standard_normal(32_000).astype(np.float32)
    b = rng.standard_normal(24_000).astype(np.float32)
    groups = group_recordings({"a": a, "a-excerpt": a[5_000:15_000] * 0.3, "b": b, "c": b[:100] * 0}, [("b", "c")])
    assert groups["a"] == groups["a-excerpt"] != groups["b"]
    assert groups["b"] == groups["c"]  # declared as one session


# ------------------------------------------------------------------------------------------------ structure


def test_tiny_build_has_the_announced_splits(tiny):
    info = is3.read_info(tiny)
    assert info.name == "IS3+-mini" and info.preset == "tiny" and len(info.classes) >= 16
    assert info.splits["train"] == 40 and info.splits["val"] == 10
    assert info.splits["test_images"] == 8 and info.splits["test"] == 16
    assert info.extra["parts"] == {"seen": 4, "style": 4, "unseen": 8}
    assert info.negatives["noise_level"] == 1.0 and info.negatives["redraw_seeds"] == list(COMPANION_SEEDS)
    for split in ("train", "val", "test"):
        assert is3.missing_files(tiny, is3.read_queries(tiny, split)) == []
    assert (tiny / "ATTRIBUTION.md").read_text().count("|") > 100


def test_masks_lie_in_their_boxes_and_boxes_are_the_visible_mask_bbox(tiny):
    minimum = {"train": 0.5, "val": 0.5, "test": 0.7}
    for split in ("train", "val", "test"):
        seen = set()
        for entry in entries(tiny, split):
            for obj in entry["objects"]:
                if obj["mask"] in seen:
                    continue
                seen.add(obj["mask"])
                mask = np.asarray(Image.open(tiny / obj["mask"])) > 127
                rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                assert [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1] == obj["gt_box"], obj["mask"]
                assert obj["visible_fraction"] >= minimum[split]
            own = next(o for o in entry["objects"] if o["class"] == entry["class"])
            assert entry["gt_box"] == own["gt_box"] and entry["mask"] == own["mask"]


def test_visible_masks_of_one_image_do_not_overlap(tiny):
    by_image = defaultdict(set)
    for entry in entries(tiny, "train") + entries(tiny, "test"):
        by_image[entry["image"]].update(o["mask"] for o in entry["objects"])
    for masks in by_image.values():
        stack = np.stack([np.asarray(Image.open(tiny / m)) > 127 for m in sorted(masks)])
        assert stack.sum(axis=0).max() <= 1


def test_each_test_image_has_two_classes_and_two_queries(tiny):
    by_image = defaultdict(list)
    for entry in entries(tiny, "test"):
        by_image[entry["image_id"]].append(entry)
    assert len(by_image) == 8
    for queries in by_image.values():
        classes = [q["class"] for q in queries]
        assert len(queries) == 2 and len(set(classes)) == 2
        assert sorted(o["class"] for o in queries[0]["objects"]) == sorted(classes)
        assert queries[0]["audio"] != queries[1]["audio"]


def test_train_entries_carry_their_recording_for_on_the_fly_augmentation(tiny):
    for entry in entries(tiny, "train"):
        assert (tiny / entry["recording"]).is_file() and entry["recording"].startswith("recordings/")
        assert entry["recording_group"].startswith(entry["class"] + "/")
        assert 1 <= len(entry["objects"]) <= 3


# ------------------------------------------------------------------------------------------------ honesty


def test_held_out_recordings_sprites_and_backgrounds_never_reach_training(tiny):
    from sslsan.data.mini.build import read_pretrain

    info = is3.read_info(tiny)
    held = info.extra["heldout"]
    held_groups = {g for groups in held["recording_groups"].values() for g in groups}
    held_sprites = {s for sprites in held["sprites"].values() for s in sprites}
    held_backgrounds = set(held["backgrounds"])
    assert held_groups and held_sprites and held_backgrounds
    for split in ("train", "val"):
        for entry in entries(tiny, split):
            assert entry["recording_group"] not in held_groups
            assert entry["background"] not in held_backgrounds
            assert not {o["sprite"] for o in entry["objects"]} & held_sprites
    pretrain = read_pretrain(tiny)
    assert pretrain.images and pretrain.recordings
    assert not {r["recording_group"] for r in pretrain.recordings} & held_groups
    assert not {i["sprite"] for i in pretrain.images} & held_sprites
    assert not {i["background"] for i in pretrain.images} & held_backgrounds
    for entry in entries(tiny, "test"):
        assert entry["background"] in held_backgrounds
        if entry["part"] == "unseen":
            assert entry["recording_group"] in held_groups
            assert entry["sprite"] in held_sprites or not held["sprites"][entry["class"]]
        else:
            assert entry["recording_group"] not in held_groups


def test_offscreen_negatives_are_of_absent_classes(tiny):
    import soundfile

    for split in ("val", "test"):
        pool = is3.read_class_files(tiny, split)
        for entry in entries(tiny, split):
            offscreen = entry["negatives"]["offscreen"]
            present = {o["class"] for o in entry["objects"]}
            assert offscreen["class"] not in present
            assert offscreen["source"] in pool[offscreen["class"]]
            wave, rate = soundfile.read(tiny / offscreen["audio"])
            assert rate == 16_000 and len(wave) == 48_000 and np.abs(wave).max() > 0.01
    test_pool, val_pool = is3.read_class_files(tiny, "test"), is3.read_class_files(tiny, "val")
    assert not {f for files in test_pool.values() for f in files} & {f for files in val_pool.values() for f in files}


def test_fixed_negatives_are_the_dataset_seed_draw_and_redraws_are_deterministic(tiny):
    info = is3.read_info(tiny)
    queries = is3.read_queries(tiny, "test")
    pool = is3.read_class_files(tiny)
    fixed = draw_negatives(queries, pool, info.negatives["fixed_draw_seed"], root=tiny)
    for draw, query in zip(fixed, queries):
        stored = query.extra["negatives"]
        assert (draw.offscreen_class, draw.offscreen_audio, draw.offscreen_offset, draw.noise_seed) == (
            stored["offscreen"]["class"], stored["offscreen"]["source"], stored["offscreen"]["offset"],
            stored["noise_seed"])
    stored_wave = draw.offscreen_wave(tiny, 48_000)
    import soundfile
    assert np.allclose(stored_wave, soundfile.read(tiny / stored["offscreen"]["audio"])[0], atol=1e-3)

    runs = [draw_negatives(queries, pool, seed, root=tiny) for seed in COMPANION_SEEDS]
    assert runs == [draw_negatives(queries, pool, seed, root=tiny) for seed in COMPANION_SEEDS]
    assert len({tuple((d.offscreen_audio, d.offscreen_offset) for d in run) for run in runs}) > 1
    for run in runs:
        for draw, query in zip(run, queries):
            assert draw.offscreen_class not in present_classes(query)
    # order independence: a query's draw does not depend on the others
    assert draw_negatives(queries[::-1], pool, 1234, root=tiny)[::-1] == runs[0]
    noise = runs[0][0].noise(48_000)
    assert noise.dtype == np.float32 and np.array_equal(noise, runs[0][0].noise(48_000))
    assert abs(float(noise.std()) - 1.0) < 0.05


# ------------------------------------------------------------------------------------------------ reproducibility


def test_same_seed_gives_identical_annotations_and_another_seed_differs(tiny, tmp_path):
    from sslsan.data.mini.build import build_dataset

    again = build_dataset("tiny", tmp_path / "again", seed=0, workers=1, progress=False, log=lambda m: None)
    for name in ANNOTATION_FILES:
        assert (tiny / name).read_bytes() == (again / name).read_bytes(), name
    first = entries(tiny, "test")[0]
    assert digest(tiny / first["image"]) == digest(again / first["image"])
    assert digest(tiny / first["audio"]) == digest(again / first["audio"])
    other = build_dataset("tiny", tmp_path / "other", seed=1, workers=2, progress=False, log=lambda m: None)
    assert (tiny / "annotations/test.json").read_bytes() != (other / "annotations/test.json").read_bytes()
    assert is3.read_info(other).seed == 1


def test_resume_redraws_only_what_is_missing(tiny, tmp_path):
    from sslsan.data.mini.build import build_dataset, ensure_dataset, is_complete

    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    test = entries(copy, "test")
    train = entries(copy, "train")
    removed = [test[0]["image"], test[3]["audio"], test[5]["negatives"]["offscreen"]["audio"], train[7]["mask"]]
    originals = {path: digest(copy / path) for path in removed}
    for path in removed:
        (copy / path).unlink()
    (copy / "dataset.json").unlink()  # as if the build had been killed before finishing
    untouched = copy / train[0]["image"]
    before = untouched.stat().st_mtime_ns
    assert not is_complete(copy, "tiny", 0)
    messages: list[str] = []
    build_dataset("tiny", copy, seed=0, workers=2, progress=False, log=messages.append)
    assert any("drawing 4 of 82 items" in m for m in messages), messages
    for path, original in originals.items():
        assert digest(copy / path) == original, path
    for name in ANNOTATION_FILES:
        assert (tiny / name).read_bytes() == (copy / name).read_bytes(), name
    assert untouched.stat().st_mtime_ns == before
    assert is_complete(copy, "tiny", 0) and ensure_dataset("tiny", copy, seed=0) == copy


def test_killed_build_journal_is_resumed(tiny, tmp_path):
    from sslsan.data.mini.build import build_dataset

    partial = tmp_path / "partial"
    messages: list[str] = []
    # interrupt the build after some items by failing the final step once
    import sslsan.data.mini.build as mini

    original = mini._write_outputs

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    mini._write_outputs = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            build_dataset("tiny", partial, seed=0, workers=2, progress=False, log=lambda m: None)
    finally:
        mini._write_outputs = original
    journal = partial / ".build" / "items.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-10]) + "\n" + lines[-10][:25])  # the last record cut mid-line
    build_dataset("tiny", partial, seed=0, workers=2, progress=False, log=messages.append)
    assert any("drawing 10 of 82 items" in m for m in messages), messages
    for name in ANNOTATION_FILES:
        assert (tiny / name).read_bytes() == (partial / name).read_bytes(), name
    assert not (partial / ".build").exists()


def test_a_folder_of_another_build_is_refused(tiny, tmp_path):
    from sslsan.cli import main
    from sslsan.data.mini.build import DatasetMismatchError, build_dataset

    with pytest.raises(DatasetMismatchError, match="refusing to mix"):
        build_dataset("tiny", tiny, seed=3, progress=False, log=lambda m: None)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(DatasetMismatchError, match="not empty"):
        build_dataset("tiny", stranger, seed=0, progress=False, log=lambda m: None)
    assert main(["data", "build", "--preset", "tiny", "--seed", "3", "--out", str(tiny), "--no-progress"]) == 2
    assert is3.read_info(tiny).seed == 0  # untouched


# ------------------------------------------------------------------------------------------------ consumers


def test_query_dataset_loads_items_with_the_right_shapes(tiny):
    from sslsan.data.dataset import QueryDataset

    info = is3.read_info(tiny)
    data = QueryDataset(tiny, is3.read_queries(tiny, "test"), class_names=info.classes)
    item = data[0]
    assert tuple(item["image"].shape) == (3, 224, 224) and float(item["image"].max()) <= 1.0
    assert tuple(item["wave"].shape) == (48_000,) and float(item["wave"].abs().max()) > 0.01
    assert tuple(item["gt"].shape) == (224, 224) and item["has_mask"]
    assert float((item["mask"] * (1 - item["gt"])).sum()) == 0  # the mask lies inside its box
    assert item["class_id"] == info.classes.index(data.queries[0].class_name)


def test_audio_augment_is_reproducible_and_varied():
    from sslsan.data.augment import AudioAugment, AugmentConfig, EVAL_AUGMENT

    bark = (0.8 * np.sin(2 * np.pi * 700 * np.arange(4_000) / 16_000)).astype(np.float32)  # 0.25 s
    augment = AudioAugment(AugmentConfig())
    first = augment(bark, np.random.default_rng(1))
    assert first.shape == (48_000,) and first.dtype == np.float32
    assert np.array_equal(first, augment(bark, np.random.default_rng(1)))
    assert not np.allclose(first, augment(bark, np.random.default_rng(2)))
    loud = np.abs(first) > 0.05
    assert 0.05 < loud.mean() < 0.95  # the short sound is repeated with gaps, not stretched over 3 s
    assert 10 ** (-12.5 / 20) <= np.abs(first).max() <= 10 ** (-0.9 / 20)
    long = np.random.default_rng(0).standard_normal(16_000 * 10).astype(np.float32) * 0.1
    assert AudioAugment(EVAL_AUGMENT)(long, np.random.default_rng(0)).shape == (48_000,)


def test_pretrain_set_and_layout_rows(tiny):
    from sslsan.data.mini.build import read_pretrain
    from sslsan.evaluate import layout_rows

    pretrain = read_pretrain(tiny)
    info = is3.read_info(tiny)
    assert len(pretrain.images) == info.splits["pretrain_images"] == 24
    assert {image["class"] for image in pretrain.images} <= set(info.classes)
    for image in pretrain.images[:5]:
        x1, y1, x2, y2 = image["gt_box"]
        assert 0 <= x1 < x2 <= 224 and 0 <= y1 < y2 <= 224 and (tiny / image["image"]).is_file()
    rows = layout_rows(tiny)  # the centre prior and the ground-truth ceiling, as every report scores them
    prior, ceiling = rows["centre_prior"], rows["gt_pooled"]
    assert prior["diagnostics"]["all"]["both_found"] == 0.0  # an audio-agnostic map never points at both objects
    assert ceiling["diagnostics"]["all"]["pointing"] > 0.9
    assert ceiling["positive"]["all"]["median"]["mean_ciou"] > prior["positive"]["all"]["median"]["mean_ciou"]
