"""The IS3-style on-disk format: what IS3+-mini writes and what the IS3 release and IS3+ look like.

Layout of a dataset folder ``ROOT``::

    dataset.json              name, version, preset, seed, classes (ordered: index = class id), image size,
                              sample rate, clip length, split sizes, negative-audio settings, provenance
    annotations/<split>.json  one list per split (train, val, test, ...): the entries below
    images/                   224×224 RGB images (png or jpg)
    audio_wav/                16 kHz mono wav clips (one per query, plus the fixed offscreen negatives)
    gt_segmentation/          binary masks (png, 0/255), one per object of an entry
    class_files_dict.json     class → audio files, the pool that offscreen negatives are drawn from (test)
    class_files_dict_val.json optional: the validation split's own pool (IS3+-mini)
    recordings/               optional: whole cleaned 16 kHz recordings that clips and pools point at (IS3+-mini)
    pretrain/annotations.json the labelled pretraining set (single-object images, class-labelled clips)
    ATTRIBUTION.md            per-file credits and licences (IS3+-mini: plus the packages' files in licenses/)

An annotation entry (IS3's ``{image, audio, gt_box, ...}`` extended with what negative audio needs)::

    {"query_id": "00012_dog", "image_id": "00012", "split": "test",
     "image": "images/00012.png", "audio": "audio_wav/00012_dog.wav",
     "class": "dog", "gt_box": [x1, y1, x2, y2], "mask": "gt_segmentation/00012_dog.png",
     "part": "unseen",                                 # optional: seen / unseen / style ...
     "recording": "tuxpaint/dog", "recording_group": "tuxpaint:dog",   # optional provenance
     "objects": [{"class": "dog", "gt_box": [...], "mask": "..."},      # every object in the image
                 {"class": "violin", "gt_box": [...], "mask": "..."}],
     "negatives": {"offscreen": {"audio": "audio_wav/00012_dog_offscreen.wav", "class": "rain"},
                   "noise_seed": 1234567}}             # optional (test/val)

Boxes are pixels of the ``image_size`` frame. Silence needs no file (zeros); noise is regenerated from
``noise_seed`` with the settings in ``dataset.json``, so every model sees exactly the same negatives.

Optional keys IS3+-mini adds (readers that do not know them ignore them):

- ``objects[i]``: also ``"sprite"`` (the cut-out used), ``"sprite_heldout"`` (true when it is never used in
  training) and ``"visible_fraction"`` (share of its mask left visible after occlusion);
- ``negatives.offscreen``: also ``"source"`` (the pool recording the clip was cut from) and ``"offset"`` (its
  first sample), so :func:`sslsan.protocol.draw_negatives` with the dataset seed reproduces it;
- ``recording``: the cleaned source recording under ``recordings/`` (train entries re-augment from it),
  ``recording_group``: the group of recordings that share a source (splits never divide a group).

``pretrain/annotations.json`` is an object ``{"classes": [...], "images": [{"image", "class", "gt_box",
"sprite", "background"}], "recordings": [{"recording", "class", "recording_group"}], "augment": {...}}``
(read it with :func:`sslsan.data.mini.build.read_pretrain`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sslsan.data.class_files import read_class_files_json
from sslsan.data.records import AnnotationError, Query, check_box
from sslsan.io import write_json

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
REQUIRED_KEYS = ("query_id", "image_id", "image", "audio", "class", "gt_box")
PROVENANCE_KEYS = ("objects", "negatives", "recording", "recording_group", "sprite", "background")


@dataclass
class DatasetInfo:
    """The contents of ``dataset.json``."""

    name: str
    classes: list[str]
    preset: str = ""
    seed: int = 0
    version: int = FORMAT_VERSION
    image_size: int = 224
    sample_rate: int = 16_000
    clip_seconds: float = 3.0
    splits: dict[str, int] = field(default_factory=dict)
    negatives: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def class_id(self, name: str) -> int:
        try:
            return self.classes.index(name)
        except ValueError:
            raise AnnotationError(f"class {name!r} is not in the dataset's class list") from None




def read_json(path: Path) -> Any:
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: not valid JSON ({err})") from err


def read_info(root: str | Path) -> DatasetInfo:
    path = Path(root) / "dataset.json"
    data = read_json(path)
    if not isinstance(data, dict) or "classes" not in data or "name" not in data:
        raise AnnotationError(f"{path}: expected an object with at least 'name' and 'classes'")
    known = {k: data[k] for k in DatasetInfo.__dataclass_fields__ if k in data}
    return DatasetInfo(**known)


#: the per-file sizes and checksums of a built dataset (written and checked by :mod:`sslsan.data.manifest`)
MANIFEST_NAME = "manifest.json"


def dataset_fingerprint(root: str | Path) -> str:
    """A short hash that changes when a dataset's content does: of ``manifest.json`` (per-file sizes and sha256)
    when the dataset has one, else of ``dataset.json`` and the annotation files (what defines its queries)."""
    root = Path(root)
    manifest = root / MANIFEST_NAME
    files = [manifest] if manifest.is_file() else [root / "dataset.json", *sorted((root / "annotations").glob("*.json"))]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def write_info(root: str | Path, info: DatasetInfo) -> None:
    write_json(Path(root) / "dataset.json", asdict(info))


def entry_to_query(entry: dict, source: str, index: int, image_size: int = 224) -> Query:
    """Convert one annotation entry; errors name the file and the entry's position."""
    if not isinstance(entry, dict):
        raise AnnotationError(f"{source}[{index}]: expected an object, got {type(entry).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in entry]
    if missing:
        raise AnnotationError(f"{source}[{index}] ({entry.get('query_id', '?')}): missing {', '.join(missing)}")
    box = entry["gt_box"]
    try:
        boxes = (tuple(float(v) for v in box),)
    except (TypeError, ValueError):
        raise AnnotationError(f"{source}[{index}] ({entry['query_id']}): gt_box {box!r} is not 4 numbers") from None
    extra = {key: entry[key] for key in PROVENANCE_KEYS if key in entry}
    try:
        query = Query(
            query_id=str(entry["query_id"]), image_id=str(entry["image_id"]), image=entry["image"],
            audio=entry["audio"], boxes=boxes, image_size=(image_size, image_size), gt="union",
            mask=entry.get("mask"), class_name=entry["class"], split=entry.get("split", ""),
            part=entry.get("part"), extra=extra, exact_size=True,
        )
        check_object_boxes(query)
    except AnnotationError as err:
        raise AnnotationError(f"{source}[{index}]: {err}") from None
    return query


def check_object_boxes(query: Query) -> None:
    """The boxes of every object the entry lists (the other object's box becomes ground truth too) must fit the
    image like the query's own."""
    objects = query.extra.get("objects", [])
    if not isinstance(objects, list):
        raise AnnotationError(f"query {query.query_id}: 'objects' is not a list")
    for number, obj in enumerate(objects):
        box = obj.get("gt_box") if isinstance(obj, dict) else None
        try:
            box = tuple(float(v) for v in box)
        except (TypeError, ValueError):
            raise AnnotationError(f"query {query.query_id}: objects[{number}].gt_box {box!r} is not 4 "
                                  "numbers") from None
        check_box(box, query.image_size, f"query {query.query_id}, objects[{number}]")


def read_queries(root: str | Path, split: str, image_size: int | None = None) -> list[Query]:
    """All queries of one split, in file order, validated (boxes inside the image, required keys present)."""
    root = Path(root)
    if image_size is None:
        image_size = read_info(root).image_size if (root / "dataset.json").is_file() else 224
    path = root / "annotations" / f"{split}.json"
    entries = read_json(path)
    if not isinstance(entries, list):
        raise AnnotationError(f"{path}: expected a list of annotation entries")
    queries = [entry_to_query(entry, str(path), i, image_size) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for query in queries:
        if query.query_id in seen:
            raise AnnotationError(f"{path}: query_id {query.query_id!r} appears twice")
        seen.add(query.query_id)
    return queries


def write_split(root: str | Path, split: str, entries: list[dict]) -> None:
    """Validate entries (by converting them) and write ``annotations/<split>.json`` atomically."""
    path = Path(root) / "annotations" / f"{split}.json"
    for i, entry in enumerate(entries):
        entry_to_query(entry, str(path), i)
    write_json(path, entries)


def class_files_path(root: str | Path, split: str = "test") -> Path:
    """``class_files_dict.json`` (the test pool, as IS3 names it) or ``class_files_dict_<split>.json``."""
    return Path(root) / ("class_files_dict.json" if split == "test" else f"class_files_dict_{split}.json")


def read_class_files(root: str | Path, split: str = "test") -> dict[str, list[str]]:
    """IS3's ``class_files_dict``: class → audio files offscreen negatives may be drawn from.

    ``split`` picks the pool: ``"test"`` reads IS3's ``class_files_dict.json``; other splits (IS3+-mini's
    ``"val"``) read ``class_files_dict_<split>.json``, a pool disjoint from the test one. The file is parsed and
    checked by :func:`sslsan.data.class_files.read_class_files_json`.
    """
    return read_class_files_json(class_files_path(root, split))


def missing_files(root: str | Path, queries: list[Query]) -> list[str]:
    """Files referenced by ``queries`` that do not exist (images, audio, masks, fixed offscreen clips)."""
    root = Path(root)
    wanted: list[str] = []
    for query in queries:
        wanted += [query.image] + ([query.audio] if query.audio else []) + ([query.mask] if query.mask else [])
        offscreen = query.extra.get("negatives", {}).get("offscreen")
        if offscreen:
            wanted.append(offscreen["audio"])
    return sorted({path for path in wanted if not (root / path).is_file()})
