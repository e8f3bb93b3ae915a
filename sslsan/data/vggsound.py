"""VGGSound training subsets (``VGGSound-10k`` / ``-144k`` of the EZ-VSL lineage): id lists, no boxes.

Layout under the ``VGGSound-all`` root: ``frames/<id>.jpg``, ``audio/<id>.wav``, ``vggss_10k.txt`` /
``vggss_144k.txt``.

Known overlap (lists pinned in :data:`sslsan.data.metadata.PINNED`): the training lists overlap the VGG-SS test
list: 238 of the 10k ids and 3,709 of the 144k ids are VGG-SS test ids (the lineage trains on them);
:func:`read_vggsound_train` can exclude them (``exclude=``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from sslsan.data.lists import QueryList, ReadReport, dedupe, finish_read, missing_media, read_id_list
from sslsan.data.records import Query, resolve

VGGSOUND_TRAIN_LISTS = {"10k": "vggss_10k.txt", "144k": "vggss_144k.txt"}
VGGSOUND_TRAIN_SIZES = {"10k": 10_000, "144k": 144_000}


def read_vggsound_train(root: str | Path, list_file: str | Path = "vggss_144k.txt", *, frame_ext: str = ".jpg",
                        exclude: Iterable[str] = (), strict: bool = False) -> QueryList:
    """Training queries (no boxes) for the ids of a VGGSound training list that exist on disk.

    ``root`` is the ``VGGSound-all`` folder (``audio/<id>.wav``, ``frames/<id><frame_ext>``; FNAC's frames are
    ``.png``); ``list_file`` is ``vggss_10k.txt`` (10,000 ids) or ``vggss_144k.txt`` (144,000), one id per line
    (the same reader serves Flickr-all with ``flickr_10k.txt`` / ``flickr_144k.txt``). ``exclude`` removes ids
    before the media check, e.g. the VGG-SS test ids, which the published lists contain (238 of the 10k, 3,709 of
    the 144k); the number removed is in the report's notes. Queries: ``split="train"``, ``class_name=None``.
    """
    root = Path(root)
    list_path = resolve(root, str(list_file))
    report = ReadReport(f"VGGSound training ({Path(list_path).name})", (str(list_path),))
    ids = dedupe(read_id_list(list_path), report)
    excluded = set(exclude)
    if excluded:
        before = len(ids)
        ids = [i for i in ids if i not in excluded]
        report.notes.append(f"{before - len(ids)} listed ids excluded by the caller")
    report.listed = len(ids)
    report.missing = missing_media(root, ((i, i, i) for i in ids), "training", frame_ext)
    queries = [Query(query_id=i, image_id=i, image=f"frames/{i}{frame_ext}", audio=f"audio/{i}.wav", split="train")
               for i in ids if i not in report.missing]
    return finish_read(queries, report, strict)
