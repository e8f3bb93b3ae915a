"""Readers of the real datasets and the prepare scripts, on small fixtures written here in the real formats.

Nothing here touches the network: ``metadata._urlopen`` (the library's only network entry point) is replaced by a
function that fails the test, and tests that exercise downloads replace it with a fake.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import logging
import shutil
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from sslsan.data import metadata
from sslsan.data.boxes import flickr_box_to_pixels, is3_box_to_pixels, vggss_box_to_pixels
from sslsan.data.class_files import class_files_dict, image_classes, read_class_files_json, write_class_files_json
from sslsan.protocol import absent_classes, draw_negatives
from sslsan.data.extended import read_extended, read_extended_list
from sslsan.data.flickr import (FLICKR_EZVSL_MISSING_ID, FLICKR_TEST_IDS_249, FLICKR_TEST_IDS_250, flickr_test_ids,
                                identify_flickr_list, read_flickr, read_flickr_list, read_flickr_xml)
from sslsan.data.is3_release import read_is3_annotations, read_is3_release
from sslsan.data.lists import MissingMediaError, read_id_list
from sslsan.data.media import (PLACE_MODES, check_media, extract_archive, find_folder_with, index_media, place_file,
                               place_files, plan_pairs)
from sslsan.data.metadata import (ChecksumError, DATASET_METADATA, DownloadError, MANIFEST_NAME, PINNED, SOURCES,
                                  fetch_pinned, install_pinned, obtain_metadata, read_manifest, write_manifest)
from sslsan.data.records import AnnotationError, box_map
from sslsan.data.vggsound import read_vggsound_train
from sslsan.data.vggss import VGGSS_LIST_SIZES, VGGSS_TEST_LISTS, read_vggss, read_vggss_annotations
from sslsan.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------- fixture helpers


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to download fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted in a test: {args}")

    monkeypatch.setattr(metadata, "_urlopen", refuse)


def write_jpg(path: Path, size=(8, 8), color=(200, 30, 30), fmt="JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, fmt)
    return path


def write_wav(path: Path, seconds: float = 0.05) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
    return path


def write_media(root: Path, ids, *, frames=True, audio=True, frame_ext=".jpg") -> None:
    for clip in ids:
        if frames:
            write_jpg(root / "frames" / f"{clip}{frame_ext}", fmt="PNG" if frame_ext == ".png" else "JPEG")
        if audio:
            write_wav(root / "audio" / f"{clip}.wav")


def write_lines(path: Path, lines, newline="\r\n", final_newline=False) -> Path:
    """A list file the way the published ones are written (CRLF, sometimes no final newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(lines) + (newline if final_newline else "")
    path.write_bytes(text.encode())
    return path


def flickr_xml(boxes, image_id="10000130166") -> str:
    """An annotation in the Flickr-SoundNet structure: root → children → <bbox>(label, xmin, ymin, xmax, ymax)."""
    objects = "".join(
        f"  <object>\n    <bbox>\n      <annotator>{k + 1}</annotator>\n      <xmin>{x1}</xmin>\n"
        f"      <ymin>{y1}</ymin>\n      <xmax>{x2}</xmax>\n      <ymax>{y2}</ymax>\n    </bbox>\n  </object>\n"
        for k, (x1, y1, x2, y2) in enumerate(boxes))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<annotation>\n  <filename>{image_id}.jpg</filename>\n'
            f"{objects}</annotation>\n")


def write_xml(root: Path, clip: str, boxes) -> Path:
    path = root / "Annotations" / f"{clip}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(flickr_xml(boxes, clip))
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


VGGSS_ENTRIES = [
    {"file": "zpWuikVorYg_000032", "class": "elk bugling", "bbox": [[0.403125, 0.253125, 0.6, 0.75]]},
    {"file": "gEvCUcZ6w88_000030", "class": "dog barking",
     "bbox": [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 1.0, 1.0]]},
    {"file": "JIemsK_0lXc_000364", "class": "playing congas", "bbox": [[0.1, 0.2, 0.5, 1.0]]},
    {"file": "-2a-Gq9bIIk_000010", "class": "dog barking", "bbox": [[0.1, 0.1, 0.9, 0.9]]},
]
VGGSS_IDS = [e["file"] for e in VGGSS_ENTRIES]


def make_vggss(root: Path, ids=VGGSS_IDS, entries=VGGSS_ENTRIES, media=VGGSS_IDS) -> Path:
    write_json(root / "vggss.json", entries)
    write_lines(root / "vggss_test.csv", ids, final_newline=True)
    write_media(root, media)
    return root


IS3_NAMES = ["accordion_baby_10467_accordion", "accordion_baby_10467_baby",
             "fireworks_subwaytrain_10415_firework", "fireworks_subwaytrain_10415_subway",
             "babylaughter_oceanburbling_baby", "babylaughter_oceanburbling_ocean"]
IS3_BOXES = [[47.0, 99.0, 154.0, 185.0], [10.5, 20.9, 100.0, 224.0], [0.0, 0.0, 112.0, 90.0],
             [129.0, 0.0, 224.0, 212.0], [56.0, 113.0, 147.0, 215.0], [0.0, 120.0, 224.0, 224.0]]


def is3_entries(names=IS3_NAMES, boxes=IS3_BOXES):
    """Entries in the synthetic3240_bbox.json format (absolute cluster paths, 224-px float boxes)."""
    base = "/mnt/lynx2/users/arda/synthetic3241"
    return [{"image": f"{base}/visual_frames/{n}.jpg", "audio": f"{base}/audio_wav/{n}.wav", "gt_box": b}
            for n, b in zip(names, boxes)]


def make_is3(root: Path, audio_dir="audio_waw", names=IS3_NAMES, masks=IS3_NAMES[:4], annotation="IS3_annotation.json"):
    write_json(root / annotation, is3_entries())
    for name in names:
        write_jpg(root / "images" / f"{name}.jpg", size=(224, 224))
        write_wav(root / audio_dir / f"{name}.wav")
    for name in masks:
        write_jpg(root / "gt_segmentation" / f"{name}.png", size=(224, 224), color=(255, 255, 255), fmt="PNG")
    return root


def load_script(name: str):
    """Import ``data_scripts/<name>.py`` as a module (the scripts are CLIs, not package modules)."""
    spec = importlib.util.spec_from_file_location(f"data_scripts_{name}", ROOT / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pin_to(monkeypatch, name: str, path: Path) -> None:
    """Point the pinned digest of ``name`` at a fixture file (the real digests belong to the real files)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(PINNED, name, dataclasses.replace(PINNED[name], sha256=digest, equivalent=()))


# ----------------------------------------------------------------------------------------------- box conversion


def test_vggss_box_conversion_hand_computed():
    assert vggss_box_to_pixels([0.1, 0.2, 0.5, 1.0]) == (22, 44, 112, 224)  # 22.4, 44.8 truncated
    assert vggss_box_to_pixels([0.403125, 0.253125, 0.6, 0.75]) == (90, 56, 134, 168)
    assert vggss_box_to_pixels([-0.5, -2.88e16, 1.5, 0.5]) == (0, 0, 224, 112)  # clipped to [0, 1] first


def test_flickr_box_conversion_hand_computed():
    assert flickr_box_to_pixels((0, 0, 128, 256)) == (0, 0, 112, 224)
    assert flickr_box_to_pixels((100, 37, 255, 200)) == (87, 32, 223, 175)  # 87.5, 32.375, 223.125, 175.0
    assert flickr_box_to_pixels((1, 7, 8, 300)) == (0, 6, 7, 224)


def test_is3_box_conversion_truncates_like_the_lineage():
    assert is3_box_to_pixels((47.9, 99.0, 154.5, 224.0)) == (47, 99, 154, 224)


# ----------------------------------------------------------------------------------------------- list files


def test_id_lists_accept_crlf_and_a_missing_final_newline(tmp_path):
    path = write_lines(tmp_path / "ids.csv", ["a_000001", "b_000002", "", "c_000003"], final_newline=False)
    assert read_id_list(path) == ["a_000001", "b_000002", "c_000003"]
    lf = write_lines(tmp_path / "ids.txt", ["a", "b"], newline="\n", final_newline=True)
    assert read_id_list(lf) == ["a", "b"]


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("\r\n\r\n", "empty"),
    (",x\r\n", "line 1"),
    ("good\r\nbad/id\r\n", "line 2"),
])
def test_bad_id_lists_name_the_file(tmp_path, content, message):
    path = tmp_path / "list.csv"
    path.write_text(content)
    with pytest.raises(AnnotationError, match=message) as err:
        read_id_list(path)
    assert str(path) in str(err.value)


def test_missing_list_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_id_list(tmp_path / "nope.csv")


@pytest.mark.parametrize("line, message", [
    ("10000130166,202,9", "expected"),
    ("10000130166", "expected"),
    ("abc,1", "expected"),
    ("10000130166,x", "not an integer"),
])
def test_bad_flickr_list_rows_name_file_and_line(tmp_path, line, message):
    path = write_lines(tmp_path / "flickr_test.csv", ["10007936344,0", line])
    with pytest.raises(AnnotationError, match=message) as err:
        read_flickr_list(path)
    assert f"{path} line 2" in str(err.value)


# ----------------------------------------------------------------------------------------------- VGG-SS


def test_read_vggss_queries_boxes_and_union_map(tmp_path):
    queries = read_vggss(make_vggss(tmp_path))
    assert [q.query_id for q in queries] == VGGSS_IDS
    first = queries[0]
    assert (first.image, first.audio, first.gt, first.class_name) == (
        "frames/zpWuikVorYg_000032.jpg", "audio/zpWuikVorYg_000032.wav", "union", "elk bugling")
    assert first.boxes == ((90, 56, 134, 168),) and first.image_size == (224, 224)
    assert first.extra["boxes_normalised"] == ((0.403125, 0.253125, 0.6, 0.75),)
    two = queries[1]
    assert two.boxes == ((0, 0, 112, 112), (56, 56, 224, 224))
    gt = box_map(two.boxes, mode=two.gt)
    assert set(np.unique(gt)) == {0.0, 1.0}  # union: overlap is still 1
    assert gt[60, 60] == 1.0 and gt[10, 10] == 1.0 and gt[200, 200] == 1.0 and gt[10, 200] == 0.0
    assert queries.report.listed == 4 and queries.report.found == 4 and queries.report.clean


def test_read_vggss_counts_missing_media_and_strict_raises(tmp_path, caplog):
    root = make_vggss(tmp_path, media=VGGSS_IDS[:2])
    write_jpg(root / "frames" / f"{VGGSS_IDS[2]}.jpg")  # frame only: the clip still counts as missing
    with caplog.at_level(logging.WARNING, logger="sslsan.data.lists"):
        queries = read_vggss(root)
    report = queries.report
    assert (report.listed, report.found, report.returned) == (4, 2, 2)
    assert report.missing == {VGGSS_IDS[2]: (f"audio/{VGGSS_IDS[2]}.wav",),
                              VGGSS_IDS[3]: (f"frames/{VGGSS_IDS[3]}.jpg", f"audio/{VGGSS_IDS[3]}.wav")}
    assert "2 listed ids lack media" in caplog.text
    with pytest.raises(MissingMediaError, match="2 of 4 listed ids lack media"):
        read_vggss(root, strict=True)


def test_read_vggss_duplicates_are_reported(tmp_path):
    root = make_vggss(tmp_path)
    write_lines(root / "vggss_test.csv", VGGSS_IDS + VGGSS_IDS[:1])
    queries = read_vggss(root)
    assert len(queries) == 4 and queries.report.duplicate_ids == VGGSS_IDS[:1]


def test_read_vggss_heard_unheard_lists_tag_the_part(tmp_path):
    root = make_vggss(tmp_path)
    write_lines(root / "vggss_heard_test.csv", VGGSS_IDS[:2])
    write_lines(root / "vggss_unheard_test.csv", VGGSS_IDS[2:])
    heard, unheard = read_vggss(root, "heard"), read_vggss(root, "unheard")
    assert [q.part for q in heard] == ["heard", "heard"] and [q.part for q in unheard] == ["unheard", "unheard"]
    assert {q.query_id for q in heard} | {q.query_id for q in unheard} == set(VGGSS_IDS)
    assert read_vggss(root)[0].part is None
    with pytest.raises(ValueError, match="subset"):
        read_vggss(root, "seen")


BAD_BOX_ENTRIES = [
    {"file": "good_000001", "class": "a", "bbox": [[0.0, 0.0, 0.5, 0.5], [0.3, 0.2, -2.8823037615171176e16, 0.9]]},
    {"file": "empty_000002", "class": "b", "bbox": [[0.00625, 0.015625, 0.00625, 0.015625]]},
]


def test_vggss_invalid_box_policies(tmp_path):
    root = make_vggss(tmp_path, ids=["good_000001", "empty_000002"], entries=BAD_BOX_ENTRIES,
                      media=["good_000001", "empty_000002"])
    dropped = read_vggss(root)  # default "drop"
    assert [q.query_id for q in dropped] == ["good_000001"] and dropped[0].boxes == ((0, 0, 112, 112),)
    report = dropped.report
    assert len(report.clipped_boxes) == 1 and len(report.dropped_boxes) == 2
    assert report.dropped_queries == ["empty_000002"]
    assert "vggss.json" in report.dropped_boxes[0] and "box #1" in report.dropped_boxes[0]

    lineage = read_vggss(root, invalid_boxes="lineage")
    kept = {q.query_id: q for q in lineage}["empty_000002"]
    assert kept.boxes == () and kept.extra["empty_gt"] and lineage.report.empty_gt == ["empty_000002"]
    assert not box_map(kept.boxes).any()  # the lineage's all-zero ground truth

    with pytest.raises(AnnotationError, match=r"vggss.json, good_000001, box #1 .* outside the image"):
        read_vggss(root, invalid_boxes="error")
    with pytest.raises(ValueError, match="invalid_boxes"):
        read_vggss(root, invalid_boxes="ignore")


@pytest.mark.parametrize("content, message", [
    ("[{", "malformed JSON"),
    ('{"file": "x"}', "expected a JSON list"),
    ('[{"file": "x_1", "bbox": [[0, 0, 1, 1]]}]', "entry #0"),
    ('[{"file": "x_1", "class": "c", "bbox": [[0, 0, 1]]}]', r"entry #0 \(x_1\): box .* 4 numbers"),
    ('[{"file": "x_1", "class": "c", "bbox": [[0, 0, "1", 1]]}]', "4 numbers"),
    ('[{"file": "x_1", "class": "c", "bbox": [[0, 0, NaN, 1]]}]', "non-finite"),
    ('[{"file": "x_1", "class": "c", "bbox": []}]', "non-empty list"),
    ('[{"file": "x_1", "class": "c", "bbox": [[0, 0, 1, 1]]}, {"file": "x_1", "class": "c", "bbox": [[0, 0, 1, 1]]}]',
     "appears twice"),
])
def test_bad_vggss_json_names_file_and_entry(tmp_path, content, message):
    path = tmp_path / "vggss.json"
    path.write_text(content)
    with pytest.raises(AnnotationError, match=message) as err:
        read_vggss_annotations(path)
    assert str(path) in str(err.value)


def test_vggss_missing_annotation_file_list_entry_or_media_folder(tmp_path):
    root = make_vggss(tmp_path)
    (root / "vggss.json").unlink()
    with pytest.raises(FileNotFoundError, match="vggss.json"):
        read_vggss(root)
    write_json(root / "vggss.json", VGGSS_ENTRIES[:3])
    with pytest.raises(AnnotationError, match=f"no entry for listed id {VGGSS_IDS[3]}"):
        read_vggss(root)
    with pytest.raises(FileNotFoundError, match="frames"):
        read_vggss(make_vggss(tmp_path / "nomedia", media=[]))


# ----------------------------------------------------------------------------------------------- Flickr-SoundNet


def test_flickr_consensus_boxes_and_map(tmp_path):
    clip = "10000130166"
    write_lines(tmp_path / "flickr_test.csv", [f"{clip},202"])
    write_media(tmp_path, [clip])
    write_xml(tmp_path, clip, [(0, 0, 128, 256), (0, 0, 128, 128), (128, 128, 256, 256)])
    (query,) = read_flickr(tmp_path)
    assert query.gt == "consensus" and query.boxes == ((0, 0, 112, 224), (0, 0, 112, 112), (112, 112, 224, 224))
    assert query.extra["boxes_256"] == ((0, 0, 128, 256), (0, 0, 128, 128), (128, 128, 256, 256))
    assert query.extra["annotation"] == f"Annotations/{clip}.xml" and query.extra["list_value"] == 202
    gt = box_map(query.boxes, mode=query.gt)
    assert gt[10, 10] == 1.0  # two annotators agree
    assert gt[200, 10] == 0.5  # one annotator
    assert gt[200, 200] == 0.5  # the third annotator alone
    assert gt[10, 200] == 0.0


def test_flickr_xml_ignores_non_box_grandchildren(tmp_path):
    path = tmp_path / "1.xml"
    path.write_text("<annotation><size><width>256</width></size><object><name>dog</name><bbox><a>1</a>"
                    "<b>1</b><c>2</c><d>30</d><e>40</e></bbox></object></annotation>")
    assert read_flickr_xml(path) == ((1, 2, 30, 40),)  # positional, as the lineage reads it


# sha256 of "\n".join(sorted(ids)) of the upstream files (SSLalignment flickr_test.csv / EZ-VSL flickr_test.csv)
FLICKR_DIGEST_250 = "696ab39ce58b0fa111bfdf2323443d08c659da06a6fce4d808db9b2d3de37239"
FLICKR_DIGEST_249 = "09c34846bd90eb7b2275807253f36459f2518c06112e1ce6040b5bbe4644564d"


def test_pinned_flickr_lists_match_the_published_ones():
    ids250, ids249 = flickr_test_ids(250), flickr_test_ids(249)
    assert len(ids250) == len(set(ids250)) == 250 and len(ids249) == 249
    assert set(ids250) - set(ids249) == {"3908875350"} == {FLICKR_EZVSL_MISSING_ID}
    assert hashlib.sha256("\n".join(sorted(ids250)).encode()).hexdigest() == FLICKR_DIGEST_250
    assert hashlib.sha256("\n".join(sorted(ids249)).encode()).hexdigest() == FLICKR_DIGEST_249
    assert identify_flickr_list(ids250) == "250" and identify_flickr_list(ids249) == "249"
    assert identify_flickr_list(ids249[:10]) == "custom (10 ids)"
    with pytest.raises(ValueError):
        flickr_test_ids(248)


@pytest.fixture(scope="module")
def flickr_download(tmp_path_factory) -> Path:
    """The Flickr-SoundNet download's layout for the 250 test ids: Annotations/<id>.xml, Data/<d>/<id>.jpg|wav."""
    root = tmp_path_factory.mktemp("flickr-download")
    for k, clip in enumerate(FLICKR_TEST_IDS_250):
        write_xml(root, clip, [(0, 0, 128, 256), (64, 64, 192, 192)])
        write_jpg(root / "Data" / str(k % 10) / f"{clip}.jpg")
        write_wav(root / "Data" / str(k % 10) / f"{clip}.wav")
    return root


def write_flickr_lists(root: Path) -> None:
    write_lines(root / "flickr_test.csv", [f"{i},0" for i in FLICKR_TEST_IDS_250], final_newline=True)
    write_lines(root / "flickr_test_249.csv", [f"{i},0" for i in FLICKR_TEST_IDS_249], final_newline=True)


def test_flickr_249_and_250_lists(tmp_path, flickr_download):
    root = tmp_path / "flickr"
    images, audio = index_media(flickr_download / "Data", "nested")
    ids = FLICKR_TEST_IDS_250
    plan, missing = plan_pairs(ids, ids, images, audio)
    assert not missing
    place_files(plan, root, mode="symlink")
    place_files({f"Annotations/{i}.xml": flickr_download / "Annotations" / f"{i}.xml" for i in ids}, root,
                     mode="symlink")
    write_flickr_lists(root)
    q250, q249 = read_flickr(root, "flickr_test.csv"), read_flickr(root, "flickr_test_249.csv")
    assert (len(q250), len(q249)) == (250, 249)
    assert {q.query_id for q in q250} - {q.query_id for q in q249} == {"3908875350"}
    assert "250-id list" in q250.report.summary() and "249-id list" in q249.report.summary()


def test_flickr_missing_media_counted(tmp_path):
    write_lines(tmp_path / "flickr_test.csv", ["1,0", "2,0"])
    write_media(tmp_path, ["1"])
    write_xml(tmp_path, "1", [(0, 0, 10, 10)])
    queries = read_flickr(tmp_path)
    assert len(queries) == 1 and set(queries.report.missing) == {"2"}  # no XML needed for a clip that is absent
    with pytest.raises(MissingMediaError):
        read_flickr(tmp_path, strict=True)


@pytest.mark.parametrize("xml, message", [
    ("<annotation><object><bbox><a>1</a><xmin>0</xmin>", "malformed XML"),
    ("<annotation><filename>x.jpg</filename></annotation>", "no <bbox>"),
    ("<annotation><o><bbox><a>1</a><xmin>0</xmin><ymin>0</ymin><xmax>9</xmax></bbox></o></annotation>",
     "expected 5 children"),
    ("<annotation><o><bbox><a>1</a><xmin>0</xmin><ymin>0</ymin><xmax>9.5</xmax><ymax>9</ymax></bbox></o>"
     "</annotation>", "not an integer"),
    ("<annotation><o><bbox><a>1</a><ymin>0</ymin><xmin>0</xmin><xmax>9</xmax><ymax>9</ymax></bbox></o>"
     "</annotation>", "in this order"),
])
def test_bad_flickr_xml_names_the_file(tmp_path, xml, message):
    path = tmp_path / "Annotations" / "10000130166.xml"
    path.parent.mkdir()
    path.write_text(xml)
    with pytest.raises(AnnotationError, match=message) as err:
        read_flickr_xml(path)
    assert str(path) in str(err.value)


def test_flickr_missing_annotations(tmp_path):
    write_lines(tmp_path / "flickr_test.csv", ["1,0"])
    write_media(tmp_path, ["1"])
    with pytest.raises(FileNotFoundError, match="Annotations"):
        read_flickr(tmp_path)
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(FileNotFoundError, match="1.xml for listed id 1"):
        read_flickr(tmp_path)


def test_flickr_box_policies(tmp_path):
    write_lines(tmp_path / "flickr_test.csv", ["1,0"])
    write_media(tmp_path, ["1"])
    write_xml(tmp_path, "1", [(0, 0, 1, 100), (10, 10, 300, 200)])  # 1 px wide → empty at 224; x2 beyond 256
    (query,) = read_flickr(tmp_path)
    assert query.boxes == ((8, 8, 224, 175),)
    assert len(query.extra["boxes_256"]) == 2
    with pytest.raises(AnnotationError, match=r"1.xml, box #0 .* empty"):
        read_flickr(tmp_path, invalid_boxes="error")


# ----------------------------------------------------------------------------------------------- training lists


def test_read_vggsound_train(tmp_path):
    ids = ["a_000001", "b_000002", "c_000003", "d_000004", "e_000005"]
    write_lines(tmp_path / "vggss_10k.txt", ids, newline="\n", final_newline=True)
    write_media(tmp_path, ids[:3], frame_ext=".png")
    write_media(tmp_path, ids[3:4], audio=False, frame_ext=".png")
    queries = read_vggsound_train(tmp_path, "vggss_10k.txt", frame_ext=".png")
    assert [q.query_id for q in queries] == ids[:3]
    assert all(q.split == "train" and q.boxes == () and q.class_name is None for q in queries)
    assert queries[0].image == "frames/a_000001.png" and queries[0].audio == "audio/a_000001.wav"
    assert (queries.report.listed, queries.report.found, len(queries.report.missing)) == (5, 3, 2)
    excluded = read_vggsound_train(tmp_path, "vggss_10k.txt", frame_ext=".png", exclude={"a_000001", "zzz"})
    assert len(excluded) == 2 and "1 listed ids excluded" in excluded.report.summary()
    with pytest.raises(MissingMediaError):
        read_vggsound_train(tmp_path, "vggss_10k.txt", frame_ext=".png", strict=True)


# ----------------------------------------------------------------------------------------------- extended sets


def test_read_extended_negatives(tmp_path):
    rows = ["video,audio,label", "1,2,non-sounding", "2,3,non-sounding", "4,4,non-sounding"]
    write_lines(tmp_path / "flickr_test_plus_silent.csv", rows)
    write_media(tmp_path, ["1", "2", "3", "4"])
    queries = read_extended(tmp_path, "flickr_test_plus_silent.csv")
    assert [q.query_id for q in queries] == ["neg:1:2", "neg:2:3", "neg:4:4"]
    first = queries[0]
    assert (first.image_id, first.image, first.audio, first.boxes) == ("1", "frames/1.jpg", "audio/2.wav", ())
    assert first.extra["negative"] is True and first.extra["audio_id"] == "2" and not first.extra["same_clip"]
    assert queries[2].extra["same_clip"] and "1 negatives use the frame and audio of the same clip" in \
        queries.report.summary()


def test_extended_missing_media_names_the_right_file(tmp_path):
    write_lines(tmp_path / "x.csv", ["video,audio,label", "1,2,non-sounding"])
    write_media(tmp_path, ["1"])
    queries = read_extended(tmp_path, "x.csv")
    assert len(queries) == 0 and queries.report.missing == {"neg:1:2": ("audio/2.wav",)}


@pytest.mark.parametrize("rows, message", [
    (["1,2,non-sounding"], "header"),
    (["video,audio,label", "1,2,sounding"], "label"),
    (["video,audio,label", "1,2"], "expected 'video,audio,label'"),
    (["video,audio,label"], "no rows"),
])
def test_bad_extended_lists_name_the_file(tmp_path, rows, message):
    path = write_lines(tmp_path / "plus_silent.csv", rows)
    with pytest.raises(AnnotationError, match=message) as err:
        read_extended_list(path)
    assert str(path) in str(err.value)


# ----------------------------------------------------------------------------------------------- IS3 release


@pytest.mark.parametrize("audio_dir", ["audio_waw", "audio_wav"])
def test_read_is3_release_groups_two_queries_per_image(tmp_path, audio_dir):
    queries = read_is3_release(make_is3(tmp_path, audio_dir=audio_dir))
    assert len(queries) == 6
    groups: dict[str, list] = {}
    for query in queries:
        groups.setdefault(query.image_id, []).append(query)
    assert {k: [q.class_name for q in v] for k, v in groups.items()} == {
        "accordion_baby_10467": ["accordion", "baby"],
        "fireworks_subwaytrain_10415": ["firework", "subway"],  # the target token, not the image token
        "babylaughter_oceanburbling": ["baby", "ocean"]}  # names without a numeric id
    first = queries[0]
    assert first.image == "images/accordion_baby_10467_accordion.jpg"
    assert first.audio == f"{audio_dir}/accordion_baby_10467_accordion.wav"
    assert first.mask == "gt_segmentation/accordion_baby_10467_accordion.png" and queries[5].mask is None
    assert first.boxes == ((47, 99, 154, 185),) and queries[1].boxes == ((10, 20, 100, 224),)
    assert first.gt == "union" and first.extra["gt_box"] == (47.0, 99.0, 154.0, 185.0)
    assert ("README's spelling" in queries.report.summary()) == (audio_dir == "audio_waw")


def test_is3_group_with_a_missing_annotation_is_reported(tmp_path):
    root = make_is3(tmp_path)
    (root / "audio_waw" / f"{IS3_NAMES[0]}.wav").unlink()
    queries = read_is3_release(root)
    assert len(queries) == 5 and set(queries.report.missing) == {IS3_NAMES[0]}
    assert "1 images do not have exactly two queries (e.g. accordion_baby_10467)" in queries.report.summary()


@pytest.mark.parametrize("data, message", [
    ({"images": []}, "expected a non-empty JSON list"),
    ([], "expected a non-empty JSON list"),
    ([{"image": "a_b.jpg"}], "keys image, gt_box"),
    ([{"image": "nounderscore.jpg", "gt_box": [0, 0, 1, 1]}], "no '_<target>' suffix"),
    ([{"image": "a_b.jpg", "gt_box": [0, 0, 1]}], "4 numbers"),
    ([{"image": "x/a_b.jpg", "gt_box": [0, 0, 1, 1]}, {"image": "y/a_b.jpg", "gt_box": [0, 0, 1, 1]}],
     "appears twice"),
])
def test_bad_is3_annotations_name_the_file(tmp_path, data, message):
    path = write_json(tmp_path / "IS3_annotation.json", data)
    with pytest.raises(AnnotationError, match=message) as err:
        read_is3_annotations(path)
    assert str(path) in str(err.value)


def test_is3_missing_folders_and_bad_boxes(tmp_path):
    root = make_is3(tmp_path)
    bad = is3_entries()
    bad[0]["gt_box"] = [100.0, 0.0, 50.0, 10.0]  # x1 > x2: empty
    write_json(root / "IS3_annotation.json", bad)
    assert len(read_is3_release(root)) == 5
    with pytest.raises(AnnotationError, match="accordion_baby_10467_accordion, box #0"):
        read_is3_release(root, invalid_boxes="error")
    shutil.rmtree(root / "audio_waw")
    with pytest.raises(FileNotFoundError, match="audio_wav"):
        read_is3_release(root)


# ----------------------------------------------------------------------------------------------- offscreen


def test_class_files_dict_excludes_both_classes_of_an_is3_image(tmp_path):
    queries = read_is3_release(make_is3(tmp_path))
    files = class_files_dict(queries)
    assert sorted(files) == ["accordion", "baby", "firework", "ocean", "subway"]
    assert files["baby"] == ["audio_waw/accordion_baby_10467_baby.wav", "audio_waw/babylaughter_oceanburbling_baby.wav"]
    classes = image_classes(queries)
    accordion = queries[0]
    assert absent_classes(accordion, files, classes) == ["firework", "ocean", "subway"]  # not baby either
    drawn = {draw_negatives([accordion], files, seed, classes_by_image=classes)[0].offscreen_audio
             for seed in range(200)}
    assert drawn and all(Path(f).stem.rsplit("_", 1)[1] in {"firework", "ocean", "subway"} for f in drawn)
    assert draw_negatives([accordion], files, 7, classes_by_image=classes) == \
        draw_negatives([accordion], files, 7, classes_by_image=classes)


def test_offscreen_for_vggss_excludes_only_its_class_and_skips_negatives(tmp_path):
    queries = list(read_vggss(make_vggss(tmp_path)))
    write_lines(tmp_path / "neg.csv", ["video,audio,label", f"{VGGSS_IDS[0]},{VGGSS_IDS[1]},non-sounding"])
    queries += read_extended(tmp_path, "neg.csv")
    files = class_files_dict(queries)
    assert files["dog barking"] == [f"audio/{VGGSS_IDS[3]}.wav", f"audio/{VGGSS_IDS[1]}.wav"]
    classes = image_classes(queries)
    assert absent_classes(queries[1], files, classes) == ["elk bugling", "playing congas"]
    lonely = dataclasses.replace(queries[0], image_id="solo")
    with pytest.raises(ValueError, match="no class is absent"):
        absent_classes(lonely, {"elk bugling": ["a.wav"]}, classes)


def test_class_files_json_round_trip(tmp_path):
    files = {"dog": ["audio_wav/x_dog.wav"], "cat": ["audio_wav/y_cat.wav", "audio_wav/a_cat.wav"]}
    path = write_class_files_json(files, tmp_path / "class_files_dict.json")
    assert read_class_files_json(path) == {"cat": ["audio_wav/a_cat.wav", "audio_wav/y_cat.wav"],
                                                "dog": ["audio_wav/x_dog.wav"]}
    stems = write_class_files_json(files, tmp_path / "stems.json", stems=True)
    assert json.loads(stems.read_text()) == {"cat": ["a_cat", "y_cat"], "dog": ["x_dog"]}
    assert read_class_files_json(stems, audio_dir="audio")["dog"] == ["audio/x_dog.wav"]
    write_json(tmp_path / "bad.json", ["dog"])
    with pytest.raises(AnnotationError, match="bad.json"):
        read_class_files_json(tmp_path / "bad.json")


# ----------------------------------------------------------------------------------------------- pinned metadata


def test_pinned_registry_is_well_formed():
    for name, pinned in PINNED.items():
        assert pinned.name == name and len(pinned.commit) == 40 and len(pinned.sha256) == 64
        assert pinned.url.startswith("https://raw.githubusercontent.com/") and pinned.url.endswith(pinned.path)
    assert {n for names in DATASET_METADATA.values() for n in names} <= set(PINNED)
    assert PINNED["flickr_test.csv"].rows == 250 and PINNED["flickr_test_249.csv"].rows == 249
    assert [PINNED[f].rows for f in VGGSS_TEST_LISTS.values()] == list(VGGSS_LIST_SIZES.values())


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fetch_pinned_checks_digest_and_is_idempotent(tmp_path, monkeypatch):
    data = b"zpWuikVorYg_000032\r\n"
    monkeypatch.setitem(PINNED, "vggss_test.csv", dataclasses.replace(
        PINNED["vggss_test.csv"], sha256=hashlib.sha256(data).hexdigest(), equivalent=()))
    calls = []

    def fake(url, timeout):
        calls.append((url, timeout))
        return FakeResponse(data)

    monkeypatch.setattr(metadata, "_urlopen", fake)
    path = fetch_pinned("vggss_test.csv", tmp_path, timeout=5)
    assert path.read_bytes() == data and calls == [(PINNED["vggss_test.csv"].url, 5)]
    fetch_pinned("vggss_test.csv", tmp_path)  # present and verified: no second download
    assert len(calls) == 1
    path.write_bytes(b"edited\n")
    with pytest.raises(ChecksumError, match="vggss_test.csv"):
        fetch_pinned("vggss_test.csv", tmp_path)
    monkeypatch.setattr(metadata, "_urlopen", lambda url, timeout: FakeResponse(b"tampered"))
    with pytest.raises(ChecksumError, match="expected"):
        fetch_pinned("vggss_test.csv", tmp_path, overwrite=True)
    assert path.read_bytes() == b"edited\n"  # nothing written on a bad download


def test_fetch_pinned_offline_gives_a_clear_error(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(metadata, "_urlopen", offline)
    with pytest.raises(DownloadError) as err:
        fetch_pinned("vggss.json", tmp_path)
    message = str(err.value)
    assert PINNED["vggss.json"].url in message and str(tmp_path / "vggss.json") in message
    assert "--metadata-dir" in message and not (tmp_path / "vggss.json").exists()


def test_obtain_metadata_states(tmp_path, monkeypatch):
    local = write_lines(tmp_path / "local" / "vggss_test.csv", VGGSS_IDS)
    pin_to(monkeypatch, "vggss_test.csv", local)
    dest = tmp_path / "dest"
    first = obtain_metadata(["vggss_test.csv", "vggss.json"], dest, metadata_dir=local.parent)
    assert [(s.name, s.state) for s in first] == [("vggss_test.csv", "installed"), ("vggss.json", "missing")]
    assert PINNED["vggss.json"].url in first[1].detail
    second = obtain_metadata(["vggss_test.csv"], dest, metadata_dir=local.parent)
    assert second[0].state == "present" and second[0].sha256 == sha256_file(local)
    third = obtain_metadata(["vggss_test.csv"], dest, overwrite=True)  # nothing to replace it with: kept
    assert third[0].state == "present"
    bad = write_lines(tmp_path / "bad" / "vggss_test.csv", ["other"])
    with pytest.raises(ChecksumError):
        install_pinned("vggss_test.csv", bad, tmp_path / "dest2")


# ----------------------------------------------------------------------------------------------- organising


def test_index_media_layouts(tmp_path):
    write_media(tmp_path / "fa", ["a", "b"])
    write_jpg(tmp_path / "flat" / "a.jpg")
    write_wav(tmp_path / "flat" / "a.wav")
    write_jpg(tmp_path / "nested" / "0" / "a.jpg")
    write_wav(tmp_path / "nested" / "1" / "a.wav")
    assert sorted(index_media(tmp_path / "fa", "frames-audio")[0]) == ["a", "b"]
    assert list(index_media(tmp_path / "flat", "flat")[1]) == ["a"]
    images, audio = index_media(tmp_path / "nested", "nested")
    assert images["a"].parent.name == "0" and audio["a"].parent.name == "1"
    write_jpg(tmp_path / "nested" / "2" / "a.jpg")
    with pytest.raises(FileExistsError, match="two files for id a"):
        index_media(tmp_path / "nested", "nested")
    with pytest.raises(FileNotFoundError, match="frames"):
        index_media(tmp_path / "flat", "frames-audio")
    with pytest.raises(ValueError, match="layout"):
        index_media(tmp_path / "flat", "zip")


@pytest.mark.parametrize("mode", PLACE_MODES)
def test_place_file_is_idempotent_and_refuses_to_clobber(tmp_path, mode):
    source = write_wav(tmp_path / "src" / "a.wav")
    dest = tmp_path / "dest" / "audio" / "a.wav"
    assert place_file(source, dest, mode=mode) is True
    assert place_file(source, dest, mode=mode) is False
    other = write_wav(tmp_path / "src" / "b.wav", seconds=0.1)
    with pytest.raises(FileExistsError, match="a.wav"):
        place_file(other, dest, mode=mode)
    assert place_file(other, dest, mode=mode, overwrite=True) is True
    assert dest.read_bytes() == other.read_bytes()


def test_extract_archive_zip_tar_and_unsafe_members(tmp_path):
    archive = tmp_path / "IS3.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("IS3/images/a_b.jpg", b"x")
    target = extract_archive(archive, tmp_path / "out")
    assert (target / "IS3" / "images" / "a_b.jpg").read_bytes() == b"x"
    (target / "IS3" / "images" / "a_b.jpg").write_bytes(b"edited")
    assert extract_archive(archive, tmp_path / "out") == target  # unchanged archive: not unpacked again
    assert (target / "IS3" / "images" / "a_b.jpg").read_bytes() == b"edited"
    assert find_folder_with(target, ["images"]) == target / "IS3"
    (target / "__MACOSX" / "IS3" / "images").mkdir(parents=True)  # macOS resource forks are not a second root
    assert find_folder_with(target, ["images"]) == target / "IS3"
    with pytest.raises(FileNotFoundError, match="expected one folder"):
        find_folder_with(target, ["audio_wav"])

    tar_path = tmp_path / "data.tar.gz"
    with tarfile.open(tar_path, "w:gz") as bundle:
        info = tarfile.TarInfo("frames/a.jpg")
        info.size = 1
        bundle.addfile(info, io.BytesIO(b"y"))
    assert (extract_archive(tar_path, tmp_path / "out") / "frames" / "a.jpg").read_bytes() == b"y"

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("../escape.txt", b"z")
    with pytest.raises(ValueError, match="refusing"):
        extract_archive(evil, tmp_path / "out")
    (tmp_path / "not_an_archive.zip").write_bytes(b"plain")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(tmp_path / "not_an_archive.zip", tmp_path / "out")


def test_write_manifest_only_when_changed(tmp_path):
    assert write_manifest(tmp_path, {"dataset": "x", "counts": {"a": 1}}) is True
    assert write_manifest(tmp_path, {"dataset": "x", "counts": {"a": 1}}) is False
    assert read_manifest(tmp_path)["counts"] == {"a": 1}


def test_check_media_reports_unreadable_files(tmp_path):
    root = make_vggss(tmp_path)
    (root / "audio" / f"{VGGSS_IDS[0]}.wav").write_bytes(b"not a wav")
    problems = check_media(root, read_vggss(root))
    assert len(problems) == 1 and problems[0].startswith(f"audio/{VGGSS_IDS[0]}.wav")


# ----------------------------------------------------------------------------------------------- scripts

SCRIPTS = ["prepare_vggss", "prepare_flickr", "prepare_vggsound", "prepare_is3"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script(name).main(["--help"])
    assert exit_info.value.code == 0 and "--dest" in capsys.readouterr().out


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_dry_run_prints_sources_and_does_nothing(name, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert load_script(name).main(["--dest", str(dest), "--dry-run", "--fetch-metadata"]) == 0
    out = capsys.readouterr().out
    assert "This run will:" in out and "raw.githubusercontent.com" in out and not dest.exists()


def test_script_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script("prepare_vggss").main([])
    assert exit_info.value.code == 2 and "--dest" in capsys.readouterr().err


def vggss_metadata(tmp_path: Path, monkeypatch) -> Path:
    """Fixture copies of the VGG-SS metadata files, pinned for the duration of a test."""
    meta = tmp_path / "meta"
    write_json(meta / "vggss.json", VGGSS_ENTRIES)
    write_lines(meta / "vggss_test.csv", VGGSS_IDS, final_newline=True)
    write_lines(meta / "vggss_heard_test.csv", VGGSS_IDS[:2])
    write_lines(meta / "vggss_unheard_test.csv", VGGSS_IDS[2:])
    write_lines(meta / "vggss_test_plus_silent.csv",
                ["video,audio,label", f"{VGGSS_IDS[0]},{VGGSS_IDS[1]},non-sounding", "extra_000001,extra_000001,"
                 "non-sounding"])
    for name in DATASET_METADATA["vggss"]:
        pin_to(monkeypatch, name, meta / name)
    return meta


def test_prepare_vggss_end_to_end_and_idempotent(tmp_path, monkeypatch, capsys):
    meta = vggss_metadata(tmp_path, monkeypatch)
    source = tmp_path / "download"
    write_media(source, VGGSS_IDS[:3] + ["extra_000001"])
    dest = tmp_path / "VGGSS"
    script = load_script("prepare_vggss")
    argv = ["--dest", str(dest), "--source", str(source), "--metadata-dir", str(meta), "--check-media"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert SOURCES["vggss"] in out and SOURCES["extended_vggss"] in out
    assert "8 placed" in out and "1 listed ids lack media" in out
    manifest = read_manifest(dest)
    assert manifest["reads"]["test"]["found"] == 3 and list(manifest["reads"]["test"]["missing"]) == [VGGSS_IDS[3]]
    assert manifest["reads"]["extended_negatives"]["returned"] == 2
    assert manifest["metadata"]["vggss.json"]["sha256"] == sha256_file(meta / "vggss.json")
    before = (dest / MANIFEST_NAME).read_bytes()

    assert script.main(argv) == 0  # second run: nothing to do
    out = capsys.readouterr().out
    assert "0 placed, 8 already in place" in out and "Manifest unchanged" in out
    assert (dest / MANIFEST_NAME).read_bytes() == before
    assert script.main(argv + ["--strict"]) == 1
    assert "--strict" in capsys.readouterr().err


def test_prepare_vggss_without_metadata_or_internet(tmp_path, monkeypatch, capsys):
    script = load_script("prepare_vggss")
    assert script.main(["--dest", str(tmp_path / "d")]) == 1
    assert "vggss.json, vggss_test.csv missing" in capsys.readouterr().err

    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(metadata, "_urlopen", offline)
    assert script.main(["--dest", str(tmp_path / "d"), "--fetch-metadata"]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and PINNED["vggss.json"].url in err


def test_prepare_vggss_metadata_only_run(tmp_path, monkeypatch, capsys):
    meta = vggss_metadata(tmp_path, monkeypatch)
    dest = tmp_path / "VGGSS"
    assert load_script("prepare_vggss").main(["--dest", str(dest), "--metadata-dir", str(meta)]) == 0
    assert "no media yet" in capsys.readouterr().out
    assert sorted(read_manifest(dest)["metadata"]) == sorted(DATASET_METADATA["vggss"])


def test_prepare_flickr_from_the_download_layout(tmp_path, monkeypatch, capsys, flickr_download):
    meta = tmp_path / "meta"
    write_flickr_lists(meta)
    write_lines(meta / "flickr_test_plus_silent.csv", ["video,audio,label", "10000130166,10437048305,non-sounding"])
    for name in DATASET_METADATA["flickr"]:
        pin_to(monkeypatch, name, meta / name)
    dest = tmp_path / "Flickr"
    script = load_script("prepare_flickr")
    argv = ["--dest", str(dest), "--source", str(flickr_download), "--metadata-dir", str(meta), "--mode", "symlink"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "750 placed" in out  # 250 frames, 250 wavs, 250 XML files
    assert "the lists differ by 3908875350 (on disk); 250 vs 249 queries" in out
    manifest = read_manifest(dest)
    assert manifest["reads"]["250"]["returned"] == 250 and manifest["reads"]["249"]["returned"] == 249
    assert script.main(argv) == 0
    assert "0 placed, 750 already in place" in capsys.readouterr().out
    queries = read_flickr(dest)
    assert box_map(queries[0].boxes, mode="consensus")[100, 100] == 1.0  # inside both boxes


def test_prepare_vggsound_counts_missing(tmp_path, monkeypatch, capsys):
    meta = tmp_path / "meta"
    ids = ["a_000001", "b_000002", "c_000003"]
    write_lines(meta / "vggss_10k.txt", ids, newline="\n", final_newline=True)
    pin_to(monkeypatch, "vggss_10k.txt", meta / "vggss_10k.txt")
    source = tmp_path / "flat"
    for clip in ids[:2]:
        write_jpg(source / f"{clip}.jpg")
        write_wav(source / f"{clip}.wav")
    dest = tmp_path / "VGGSound-all"
    argv = ["--dest", str(dest), "--subset", "10k", "--source", str(source), "--source-layout", "flat",
            "--metadata-dir", str(meta)]
    script = load_script("prepare_vggsound")
    assert script.main(argv) == 0
    assert "3 listed, 2 with media on disk" in capsys.readouterr().out
    assert read_manifest(dest)["reads"]["vggss_10k.txt"]["missing"] == {
        "c_000003": ["frames/c_000003.jpg", "audio/c_000003.wav"]}
    assert script.main(argv + ["--strict"]) == 1


def test_prepare_is3_from_an_archive(tmp_path, monkeypatch, capsys):
    release = make_is3(tmp_path / "release" / "IS3")
    archive = tmp_path / "IS3.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((tmp_path / "release").rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(tmp_path / "release").as_posix())
    meta = write_json(tmp_path / "meta" / "synthetic3240_bbox.json", is3_entries())
    pin_to(monkeypatch, "synthetic3240_bbox.json", meta)
    dest = tmp_path / "IS3"
    script = load_script("prepare_is3")
    argv = ["--dest", str(dest), "--archive", str(archive), "--metadata-dir", str(meta.parent), "--check-media"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert SOURCES["is3"] in out and "audio_waw" in out
    assert "6 queries over 3 images" in out and "6 shared, 0 with different boxes" in out
    assert (dest / "audio_wav").is_dir() and not (dest / "audio_waw").exists()
    assert read_class_files_json(dest / "class_files_dict.json")["ocean"] == [
        "audio_wav/babylaughter_oceanburbling_ocean.wav"]
    assert read_manifest(dest)["counts"] == {"queries": 6, "images": 3, "classes": 5, "masks": 4}
    assert script.main(argv) == 0
    assert "Manifest unchanged" in capsys.readouterr().out
    assert release.is_dir()


def test_prepare_is3_reports_an_unexpected_annotation_schema(tmp_path, capsys):
    source = make_is3(tmp_path / "src")
    write_json(source / "IS3_annotation.json", {"annotations": [], "categories": []})
    assert load_script("prepare_is3").main(["--dest", str(tmp_path / "IS3"), "--source", str(source)]) == 1
    err = capsys.readouterr().err
    assert "IS3_annotation.json" in err and "--annotation synthetic3240_bbox.json" in err
