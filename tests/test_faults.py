"""Bad input and faults (issue 17): nonsense values are refused before any work, resume refuses another run, outputs
are checked writable first, damaged data is named, every user error is one line with exit status 2, and two
writers never share a folder. Every case runs in well under a second (no training)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from PIL import Image

from sslsan.audio import AudioFileError, load_audio, tone
from sslsan.cli import main
from sslsan.config import check_seed, pick_device
from sslsan.data.dataset import ImageFileError, load_mask, load_query_image
from sslsan.data.is3 import dataset_fingerprint, read_queries
from sslsan.data.records import AnnotationError
from sslsan.errors import LockedError, SslsanError, UsageError
from sslsan.io import LOCK_NAME, check_writable, folder_lock
from sslsan.negatives import NoiseConfig
from sslsan.pretrain import IMAGE_PRETRAIN, PretrainConfig
from sslsan.runs import RunFiles, preset
from sslsan.train import check_run_folder, run_differences


def cli(capsys, *argv):
    """``sslsan argv…`` in this process: (exit status, stderr)."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def one_line_error(code, err, *words):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


@pytest.fixture
def data_copy(synthetic_data, tmp_path):
    """A private copy of the synthetic dataset, free to damage."""
    import shutil

    return shutil.copytree(synthetic_data, tmp_path / "data")


# ------------------------------------------------------------------ 1. nonsense values refused, not "finished"


@pytest.mark.parametrize("overrides, word", [
    ({"epochs": 0}, "epochs=0"), ({"epochs": -3}, "epochs=-3"), ({"epochs": 2.5}, "epochs=2.5"),
    ({"batch_size": 1}, "batch_size=1"), ({"lr": float("inf")}, "lr=inf"), ({"lr": float("nan")}, "lr=nan"),
    ({"dim": 0}, "dim=0"), ({"image_size": -1}, "image_size=-1"), ({"workers": -1}, "workers=-1"),
    ({"seed": -1}, "seed=-1"), ({"seed": 2**64}, "seed="), ({"seed": True}, "seed=True"),
    ({"max_pairs": 0}, "max_pairs=0"), ({"trunk_lr": -1.0}, "trunk_lr=-1.0"),
])
def test_training_config_refuses_nonsense(overrides, word):
    with pytest.raises(UsageError, match=word.replace("[", r"\[")):
        preset("mini-cpu", **overrides)


@pytest.mark.parametrize("overrides, word", [({"steps": 0}, "steps=0"), ({"steps": -5}, "steps=-5"),
                                             ({"batch_size": 0}, "batch_size=0"), ({"seed": -1}, "seed=-1"),
                                             ({"grayscale": 1.5}, "grayscale=1.5")])
def test_pretraining_config_refuses_a_stage_that_would_save_a_random_trunk(overrides, word):
    with pytest.raises(UsageError, match=word):
        PretrainConfig(**overrides)


def test_noise_and_seed_checks_are_usage_errors():
    for std in (-1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="noise std"):
            NoiseConfig("white", std)
    assert check_seed(0) == 0 and check_seed(np.int64(5)) == 5
    for bad in (-1, 2**63, 1.5, "3", None):
        with pytest.raises(UsageError, match="seed"):
            check_seed(bad)


@pytest.mark.parametrize("argv, words", [
    (["--epochs", "0"], ["epochs=0"]), (["--batch-size", "1"], ["batch_size=1"]), (["--seed", "-2"], ["seed=-2"]),
    (["--lr", "nan"], ["lr=nan"]), (["--workers", "-1"], ["workers=-1"]), (["--trunk-lr", "fast"], ["--trunk-lr"]),
    (["--san", "noise", "--noise-std", "-1"], ["noise std"]), (["--san", "silence,bogus"], ["SaN kinds"]),
    (["--method-option", "nope=1"], ["--method-option"]), (["--device", "tpu"], ["tpu", "not a device name"]),
    (["--device", "cuda:7"], ["cuda:7", "no such CUDA device"]), (["--device", "meta"], ["meta", "not supported"]),
    (["--image-init", "missing.pt"], ["--image-init", "missing.pt"]),
])
def test_train_cli_refuses_bad_options_before_any_work(capsys, synthetic_data, tmp_path, argv, words):
    out = tmp_path / "run"
    code, err = cli(capsys, "train", "--data", str(synthetic_data), "--out", str(out), *argv)
    one_line_error(code, err, "sslsan train: error:", *words)
    assert not out.exists(), "a refused run must leave nothing behind"


# --------------------------------------------------------------------- 2. resume never changes what a run is


def record(**changes):
    config = preset("mini-cpu", epochs=2, batch_size=8)
    base = {"train": config.to_dict(), "data_fingerprint": "aaaa", "world_size": 1}
    base.update(changes)
    return base


def started_run(out, stored: dict, done: bool = False) -> RunFiles:
    """A run folder with ``stored`` as its config.json and a (fake) last.pt: a started run."""
    files = RunFiles(out)
    files.out.mkdir()
    files.config.write_text(json.dumps(stored))
    files.last.write_bytes(b"checkpoint")
    if done:
        files.done.write_text("{}")
    return files


def test_resume_on_other_data_is_refused_and_names_the_difference(tmp_path):
    files = started_run(tmp_path / "run", record())
    with pytest.raises(UsageError, match="dataset fingerprint.*aaaa → bbbb"):
        check_run_folder(files, record(data_fingerprint="bbbb"), resume=True)
    with pytest.raises(UsageError, match="processes: 1 → 2"):
        check_run_folder(files, record(world_size=2), resume=True)
    other = record()
    other["train"] = dict(other["train"], lr=1.0, epochs=5)
    with pytest.raises(UsageError, match="epochs: 2 → 5; lr: 0.0003 → 1.0"):
        check_run_folder(files, other, resume=True)
    check_run_folder(files, record(), resume=True)  # the same run resumes


def test_started_finished_and_empty_run_folders(tmp_path):
    with pytest.raises(UsageError, match="--resume"):
        check_run_folder(started_run(tmp_path / "started", record()), record(), resume=False)
    with pytest.raises(UsageError, match="finished run"):
        check_run_folder(started_run(tmp_path / "finished", record(), done=True), record(), resume=True)
    # a config.json left by a run that failed before its first epoch does not block a corrected rerun
    files = RunFiles(tmp_path / "failed")
    files.out.mkdir()
    files.config.write_text(json.dumps(record(data_fingerprint="old")))
    check_run_folder(files, record(), resume=False)


def test_older_run_records_compare_what_they_have(tmp_path):
    stored = record()
    del stored["data_fingerprint"], stored["world_size"]
    assert run_differences(stored, record(data_fingerprint="new", world_size=4)) == []


def test_dataset_fingerprint_follows_the_annotations(data_copy):
    before = dataset_fingerprint(data_copy)
    assert dataset_fingerprint(data_copy) == before
    path = data_copy / "annotations" / "train.json"
    entries = json.loads(path.read_text())
    path.write_text(json.dumps(entries[:-1]))
    from sslsan.data.manifest import MANIFEST_NAME, write_manifest

    write_manifest(data_copy)  # as a rebuild would
    rebuilt = dataset_fingerprint(data_copy)
    assert rebuilt != before
    (data_copy / MANIFEST_NAME).unlink()  # a dataset from before manifests: its annotations identify it
    legacy = dataset_fingerprint(data_copy)
    path.write_text(json.dumps(entries))
    assert dataset_fingerprint(data_copy) not in (legacy, rebuilt)


# ------------------------------------------------------------------------ 3. checks come before the work


def test_check_writable_cases(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(UsageError, match="--out .*exists and is not a folder"):
        check_writable(afile, "--out")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_writable(afile / "run", "--out")
    with pytest.raises(UsageError, match="is a folder; give a file name"):
        check_writable(tmp_path, "--out", folder=False)
    with pytest.raises(UsageError, match="cannot write into"):
        check_writable("/proc/sslsan-run/x", "--out")
    deep = tmp_path / "a" / "b" / "c"
    assert check_writable(deep, "--out") == deep
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"], "the check must create nothing"


def fake_run(tmp_path):
    run = tmp_path / "fake-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(record()))
    return run


@pytest.mark.parametrize("argv, words", [
    (["--out", "{tmp}"], ["--out", "is a folder"]),
    (["--out", "{tmp}/file.txt/report.json"], ["is a file, not a folder"]),
    (["--out", "{tmp}/r.json", "--split", "nosuch"], ["--split nosuch", "annotations/nosuch.json"]),
    (["--out", "{tmp}/r.json", "--seeds", "1,-4"], ["--seeds=-4"]),
    (["--out", "{tmp}/r.json", "--seeds", "1,1"], ["appears twice"]),
    (["--out", "{tmp}/r.json", "--seeds", "1,,2"], ["--seeds"]),
    (["--out", "{tmp}/r.json", "--threshold-quantile", "1.5"], ["threshold quantile"]),
    (["--out", "{tmp}/r.json", "--device", "cuda:7"], ["cuda:7"]),
    (["--out", "{tmp}/r.json", "--references", "oracle"], ["--references"]),
])
def test_evaluate_cli_checks_everything_before_loading_or_computing(capsys, synthetic_data, tmp_path, argv, words):
    (tmp_path / "file.txt").write_text("x")
    run = fake_run(tmp_path)  # a config.json only: reaching load_run would fail differently
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, err = cli(capsys, "evaluate", "--data", str(synthetic_data), "--run", str(run), *argv)
    one_line_error(code, err, "sslsan evaluate: error:", *words)
    assert not (tmp_path / "r.json").exists()


def test_pretrain_and_data_build_refuse_bad_options_before_any_work(capsys, tmp_path):
    data = tmp_path / "data"
    (data / "pretrain").mkdir(parents=True)
    (data / "pretrain" / "annotations.json").write_text("{}")
    for argv, words in ((["--seed", "-1"], ["seed=-1"]), (["--image-steps", "0"], ["steps=0"]),
                        (["--what", "image,video"], ["--what"]), (["--device", "tpu"], ["tpu"]),
                        (["--out", str(data / "pretrain" / "annotations.json")], ["is not a folder"])):
        code, err = cli(capsys, "pretrain", "--data", str(data), "--out", str(tmp_path / "trunks"), *argv)
        one_line_error(code, err, "sslsan pretrain: error:", *words)
    assert not (tmp_path / "trunks").exists()
    # data build: refused before the assets are looked at (their first fetch takes minutes)
    for argv, words in ((["--seed", "-1"], ["seed=-1"]), (["--workers", "0"], ["workers=0"]),
                        (["--preset", "huge"], ["--preset 'huge'"]),
                        (["--out", str(data / "pretrain" / "annotations.json")], ["is not a folder"])):
        code, err = cli(capsys, "data", "build", "--out", str(tmp_path / "built"), *argv)
        one_line_error(code, err, "sslsan data: error:", *words)
    assert not (tmp_path / "built").exists()
    code, err = cli(capsys, "book", "--timeout", "0")
    one_line_error(code, err, "--timeout 0")


# ------------------------------------------------------------------------ 4. bad data is named, not accepted


def test_a_wav_cut_short_is_refused(tmp_path):
    path = tmp_path / "clip.wav"
    soundfile.write(path, tone(440, 1.0), 16000, subtype="PCM_16")
    assert len(load_audio(path)) == 16000
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match="clip.wav: cut short: its header declares 32000 bytes"):
        load_audio(path)


def test_boxes_that_do_not_fit_the_image_are_named(data_copy):
    path = data_copy / "annotations" / "val.json"
    entries = json.loads(path.read_text())
    original = json.loads(path.read_text())
    entries[2]["gt_box"] = [10, 10, 300, 50]  # the images are 224×224
    path.write_text(json.dumps(entries))
    with pytest.raises(AnnotationError, match=r"val.json\[2\].*outside the 224×224 image"):
        read_queries(data_copy, "val")
    original[1]["objects"][0]["gt_box"] = [50, 50, 40, 60]  # empty
    path.write_text(json.dumps(original))
    with pytest.raises(AnnotationError, match=r"val.json\[1\].*objects\[0\].*empty or outside"):
        read_queries(data_copy, "val")


def test_an_image_or_mask_of_another_size_is_not_stretched(data_copy):
    query = read_queries(data_copy, "val")[0]
    assert load_query_image(data_copy, query, 112).shape == (112, 112, 3)  # resizing to the model is fine
    Image.open(data_copy / query.image).resize((200, 150)).save(data_copy / query.image)
    with pytest.raises(ImageFileError, match=r"is 200×150, the dataset's are 224×224"):
        load_query_image(data_copy, query, 112)
    Image.open(data_copy / query.mask).resize((100, 100)).save(data_copy / query.mask)
    with pytest.raises(ImageFileError, match="the mask is 100×100"):
        load_mask(data_copy / query.mask, 56, expect=query.image_size)


def test_an_undecodable_image_is_a_data_error_naming_it(data_copy):
    query = read_queries(data_copy, "train")[0]
    (data_copy / query.image).write_bytes(b"not a png")
    with pytest.raises(ImageFileError, match=query.image.split("/")[-1]):
        load_query_image(data_copy, query, 112)
    assert issubclass(ImageFileError, SslsanError) and issubclass(AudioFileError, SslsanError)


# ------------------------------------------------------------------ 5. one error style, named, exit status 2


def test_devices_that_do_not_exist_are_usage_errors():
    assert pick_device("cpu").type == "cpu"
    for name, word in (("tpu", "not a device name"), ("cuda:-1", "not a device name"), ("meta", "not supported"),
                       ("mps", "not supported"), ("cpu:1", "one CPU device"), ("cuda:7", "no such CUDA device")):
        with pytest.raises(UsageError, match=word):
            pick_device(name)


def test_missing_inputs_exit_2_in_every_subcommand(capsys, tmp_path):
    missing = str(tmp_path / "nowhere")
    for argv in (["train", "--data", missing, "--out", str(tmp_path / "r")],
                 ["evaluate", "--data", missing, "--run", missing, "--out", str(tmp_path / "r.json")],
                 ["pretrain", "--data", missing, "--out", str(tmp_path / "p")],
                 ["data", "info", missing]):
        code, err = cli(capsys, *argv)
        one_line_error(code, err, "nowhere")


def test_argparse_errors_also_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "x", "--out", "y", "--epochs", "two"])
    assert info.value.code == 2 and "--epochs" in capsys.readouterr().err


# ------------------------------------------------------------------------------- 6. one writer per folder


def test_a_second_writer_is_refused_naming_the_lock_and_its_holder(tmp_path):
    folder = tmp_path / "run"
    with folder_lock(folder, "sslsan train") as lock:
        assert lock == folder / LOCK_NAME and json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(LockedError, match=rf"{LOCK_NAME}: locked by pid {os.getpid()}.*sslsan train"):
            with folder_lock(folder, "sslsan train"):
                pass
        assert lock.is_file(), "a refused writer must not remove the holder's lock"
    assert not folder.exists(), "an empty folder the lock created is removed again"


def test_a_lock_held_by_a_live_process_blocks_the_cli(capsys, synthetic_data, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        folder = tmp_path / "run"
        folder.mkdir()
        (folder / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename,
                                                    "what": "sslsan train", "started": "now"}))
        code, err = cli(capsys, "train", "--data", str(synthetic_data), "--out", str(folder), "--epochs", "1")
        one_line_error(code, err, LOCK_NAME, f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    with folder_lock(folder, "sslsan data build") as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_NAME).exists()


def test_an_unreadable_lock_is_never_taken_over(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_NAME).write_text("")  # a writer between creating and filling it
    with pytest.raises(LockedError, match="unreadable"):
        with folder_lock(folder, "sslsan train"):
            pass


def test_the_manifest_names_damaged_files_and_old_datasets_pass_unchecked(data_copy):
    from sslsan.data.manifest import MANIFEST_NAME, check_dataset, damaged_files

    assert damaged_files(data_copy) == {}
    query = read_queries(data_copy, "train")[0]
    audio = data_copy / query.audio
    audio.write_bytes(audio.read_bytes()[:-100])  # cut short
    image = data_copy / query.image
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF  # one flipped byte: same size
    image.write_bytes(bytes(data))
    assert damaged_files(data_copy, hashes=False) == {query.audio: damaged_files(data_copy)[query.audio]}
    with pytest.raises(SslsanError, match=rf"2 damaged file\(s\).*{query.image} \(content changed"):
        check_dataset(data_copy)
    (data_copy / MANIFEST_NAME).unlink()  # a dataset built before manifests: accepted without a check
    assert damaged_files(data_copy) is None
    check_dataset(data_copy)


def test_a_finished_build_with_a_damaged_file_is_not_complete_and_is_repaired(tiny, tmp_path):
    """Existence is not integrity: a file altered after the build (same size) makes it incomplete, and the next
    build redraws exactly that file."""
    import shutil

    from sslsan.data.mini.build import build_dataset, is_complete
    from sslsan.io import sha256_file

    copy = shutil.copytree(tiny, tmp_path / "copy")
    image = copy / read_queries(copy, "test")[0].image
    original = sha256_file(image)
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    assert not is_complete(copy, "tiny", 0)
    messages: list[str] = []
    build_dataset("tiny", copy, seed=0, workers=2, progress=False, log=messages.append)
    assert any("redrawing 1 damaged file" in m and image.name in m for m in messages), messages
    assert sha256_file(image) == original and is_complete(copy, "tiny", 0)
