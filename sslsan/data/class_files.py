"""Class → audio files pools (IS3's ``class_files_dict.json``): the clips offscreen negatives are drawn from.

The one reader and writer of such files: :func:`read_class_files_json` / :func:`write_class_files_json`, also
behind :func:`sslsan.data.is3.read_class_files` (which knows where an IS3-style folder keeps its pools). A pool is
``{class: [audio path, ...]}`` (paths relative to the dataset root); the negative-audio code's variant holds file
stems instead (``stems=True`` / ``audio_dir=``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sslsan.data.lists import check_id, load_json
from sslsan.data.records import AnnotationError, Query
from sslsan.io import write_text_if_changed


def class_files_dict(queries: Iterable[Query]) -> dict[str, list[str]]:
    """``{class name: sorted audio paths}`` over the positive queries that have a class (IS3-style class dict).

    Used for offscreen negatives (the companion paper's protocol): a random clip of a class absent from the image.
    Negative queries (``extra["negative"]``) and queries without a class are skipped.
    """
    out: dict[str, set[str]] = defaultdict(set)
    for query in queries:
        if query.class_name is None or query.audio is None or query.extra.get("negative"):
            continue
        out[query.class_name].add(query.audio)
    return {name: sorted(files) for name, files in sorted(out.items())}


def image_classes(queries: Iterable[Query]) -> dict[str, frozenset[str]]:
    """``{image id: classes of its queries}``: one class for VGG-SS, both objects' classes for IS3."""
    out: dict[str, set[str]] = defaultdict(set)
    for query in queries:
        if query.class_name is not None and not query.extra.get("negative"):
            out[query.image_id].add(query.class_name)
    return {image: frozenset(classes) for image, classes in out.items()}


def write_class_files_json(class_files: Mapping[str, Sequence[str]], path: str | Path, *, stems: bool = False
                           ) -> Path:
    """Save a class dict as JSON: ``{class: [audio path, ...]}`` (IS3+-mini's ``class_files_dict.json``), or with
    ``stems=True`` the negative-audio code's ``{class: [file stem, ...]}``. Rewritten only when it changes."""
    path = Path(path)
    content = {name: sorted(Path(f).stem if stems else str(f) for f in files)
               for name, files in sorted(class_files.items())}
    write_text_if_changed(path, json.dumps(content, indent=1, sort_keys=True) + "\n")
    return path


def read_class_files_json(path: str | Path, *, audio_dir: str | None = None) -> dict[str, list[str]]:
    """Load ``{class: [file, ...]}`` (classes in sorted order). With ``audio_dir`` the values are the negative-audio
    code's file stems and become ``"<audio_dir>/<stem>.wav"``; without it they are returned as written."""
    path = Path(path)
    data = load_json(path, "class dict")
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(s, str) for s in v)
                                             for v in data.values()):
        raise AnnotationError(f"{path}: expected a JSON object {{class: [file, ...]}}")
    if audio_dir is None:
        return {name: list(files) for name, files in sorted(data.items())}
    return {name: [f"{audio_dir}/{check_id(stem, str(path))}.wav" for stem in stems]
            for name, stems in sorted(data.items())}
