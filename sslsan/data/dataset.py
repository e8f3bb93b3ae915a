"""A plain ``torch.utils.data.Dataset`` over :class:`~sslsan.data.records.Query` records.

It loads what a model and the metrics need — never more, never silently something else: a missing or broken file
raises an error naming it (the lineage's loaders caught every exception and returned a random other sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PIL import Image, UnidentifiedImageError
import numpy as np
import torch
from torch.utils.data import Dataset

from sslsan.audio import SAMPLE_RATE, fit_length, load_audio
from sslsan.data.records import Query, box_map, resolve
from sslsan.errors import DataError


class ImageFileError(DataError):
    """An image or mask that cannot be used; the message names the file."""


def _check_size(path: Path, img: Image.Image, expect: tuple[int, int] | None, what: str) -> None:
    if expect is not None and img.size != (expect[1], expect[0]):
        raise ImageFileError(f"{path}: {what} is {img.size[0]}×{img.size[1]}, the dataset's are {expect[1]}×"
                             f"{expect[0]} (its boxes refer to that frame); a resized or foreign file?")


def load_image(path: str | Path, size: int | None = 224, expect: tuple[int, int] | None = None) -> np.ndarray:
    """RGB image as ``uint8`` H×W×3, resized (bicubic, the whole frame, as the lineage's test transform) to ``size``.

    ``expect`` = ``(height, width)`` the file must have before resizing (the frame its boxes refer to)."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            _check_size(path, img, expect, "the image")
            img = img.convert("RGB")
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.BICUBIC)
            return np.asarray(img, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as err:
        raise ImageFileError(f"{path}: cannot decode image ({err})") from err


def load_query_image(root: str | Path, query: Query, size: int | None = 224) -> np.ndarray:
    """A query's image (:func:`load_image`), refused when it must be exactly its frame and is not."""
    return load_image(resolve(root, query.image), size, query.image_size if query.exact_size else None)


def load_mask(path: str | Path, size: int = 224, expect: tuple[int, int] | None = None) -> np.ndarray:
    """Binary mask (``float32`` 0/1, ``size``×``size``) from a grey or RGBA image; nearest-neighbour resize.
    ``expect`` as in :func:`load_image`."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: mask file not found")
    try:
        with Image.open(path) as img:
            _check_size(path, img, expect, "the mask")
            img = img.getchannel("A") if img.mode in ("RGBA", "LA") else img.convert("L")
            if img.size != (size, size):
                img = img.resize((size, size), Image.NEAREST)
            return (np.asarray(img) > 127).astype(np.float32)
    except (UnidentifiedImageError, OSError) as err:
        raise ImageFileError(f"{path}: cannot decode mask ({err})") from err


class QueryDataset(Dataset):
    """Items for training and evaluation.

    Each item is a dict:

    - ``image``: ``float32`` 3×S×S in [0, 1] (S = ``image_size``; models normalise themselves)
    - ``wave``: ``float32`` [N], ``clip_seconds`` at 16 kHz (centred crop or tiling, as the lineage does),
      passed through ``audio_transform(wave, rng)`` if given (training augmentation)
    - ``gt``: ``float32`` ``gt_size``×``gt_size`` ground truth from the boxes (binary union or Flickr consensus)
    - ``mask``: the object's segmentation mask at ``gt_size`` when the record has one, else zeros
      (``has_mask`` tells which)
    - ``class_id`` (−1 if unknown), ``index``, ``query_id``, ``image_id``

    ``class_names`` fixes the class-id order (usually ``DatasetInfo.classes``).
    """

    def __init__(self, root: str | Path, queries: Sequence[Query], *, class_names: Sequence[str] = (),
                 image_size: int = 224, gt_size: int = 224, clip_seconds: float = 3.0,
                 sample_rate: int = SAMPLE_RATE, load_gt: bool = True,
                 audio_transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 seed: int = 0):
        self.root = Path(root)
        self.queries = list(queries)
        self.class_index = {name: i for i, name in enumerate(class_names)}
        self.image_size = image_size
        self.gt_size = gt_size
        self.num_samples = int(round(clip_seconds * sample_rate))
        self.sample_rate = sample_rate
        self.load_gt = load_gt
        self.audio_transform = audio_transform
        self.seed = seed
        self.epoch = 0  # bump between epochs so augmentation differs per epoch yet stays reproducible

    def __len__(self) -> int:
        return len(self.queries)

    def load_wave(self, query: Query, rng: np.random.Generator | None = None) -> np.ndarray:
        wave = load_audio(resolve(self.root, query.audio), self.sample_rate)
        if self.audio_transform is not None:
            wave = self.audio_transform(wave, rng if rng is not None else np.random.default_rng(self.seed))
        return fit_length(wave, self.num_samples)

    def __getitem__(self, index: int) -> dict:
        query = self.queries[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        image = load_query_image(self.root, query, self.image_size)
        item = {
            "image": torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0),
            "wave": torch.from_numpy(np.ascontiguousarray(self.load_wave(query, rng))),
            "class_id": self.class_index.get(query.class_name, -1),
            "index": index,
            "query_id": query.query_id,
            "image_id": query.image_id,
        }
        if self.load_gt:
            size = (self.gt_size, self.gt_size)
            item["gt"] = torch.from_numpy(box_map(query.boxes, size, query.image_size, query.gt))
            has_mask = query.mask is not None
            expect = query.image_size if query.exact_size else None
            item["mask"] = torch.from_numpy(load_mask(resolve(self.root, query.mask), self.gt_size, expect)
                                            if has_mask else np.zeros(size, dtype=np.float32))
            item["has_mask"] = has_mask
        return item
