"""Frozen-trunk caches and clip loading: the work that every run and every evaluation sharing a pretrained trunk
would otherwise repeat.

A cache entry is keyed by a hash of the frozen weights and of the data (:func:`digest`), so a different trunk or
dataset never reuses stale features. Entries are plain tensors written atomically (``.pt``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from sslsan.audio import fit_length, load_audio
from sslsan.config import autocast, precision_name, quiet
from sslsan.data.augment import AudioAugment
from sslsan.data.dataset import load_query_image
from sslsan.data.image_views import ViewConfig, make_views
from sslsan.data.records import Query, resolve
from sslsan.io import save_torch
from sslsan.models import AVModel
from sslsan.protocol import QueryTable

#: augmented views of the training audio do not depend on a run's seed, so all runs share one cache
VIEW_SEED = 0


def precision_part(device, amp: bool | str) -> tuple:
    """What the precision adds to a feature cache's key: nothing for bfloat16 (the caches made before it was keyed,
    on AMX CPUs, stay valid), ``("float32",)`` otherwise, so float32 and bfloat16 features are never mixed."""
    precision = precision_name(device, amp)
    return () if precision == "bfloat16" else (precision,)


def digest(module: torch.nn.Module, *extra) -> str:
    """A short hash of a module's weights and of ``extra`` (JSON-able): the key of a feature cache."""
    hasher = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        hasher.update(name.encode())
        hasher.update(tensor.detach().cpu().float().numpy().tobytes())
    hasher.update(json.dumps(extra, default=str).encode())
    return hasher.hexdigest()[:20]


def cached_tensor(cache_dir: Path | None, name: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Load ``cache_dir/name.pt`` if present, else compute it and save it atomically (no cache_dir: just compute)."""
    path = cache_dir / f"{name}.pt" if cache_dir else None
    if path is not None and path.is_file():
        return torch.load(path, weights_only=True)
    value = compute()
    if path is not None:
        save_torch(value, path)
    return value


def load_image_batch(root: Path, queries: Sequence[Query], size: int) -> torch.Tensor:
    """Images ``B×3×size×size`` in [0, 1]."""
    arrays = [load_query_image(root, q, size) for q in queries]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)


def clip_waves(root: Path, paths: Sequence[str], num_samples: int) -> torch.Tensor:
    """Audio files of a dataset as a batch (``N×num_samples``), each centre-cropped (or tiled) to the length."""
    return torch.from_numpy(np.stack([fit_length(load_audio(resolve(root, path)), num_samples) for path in paths]))


def positive_waves(root: Path, queries: Sequence[Query], num_samples: int) -> torch.Tensor:
    """The queries' own clips."""
    return clip_waves(root, [q.audio for q in queries], num_samples)


def fixed_offscreen_waves(root: Path, queries: Sequence[Query], num_samples: int) -> torch.Tensor:
    """The offscreen clip fixed in the dataset's manifest for each query (the one every model sees)."""
    return clip_waves(root, [q.extra["negatives"]["offscreen"]["audio"] for q in queries], num_samples)


class PairAudio(torch.utils.data.Dataset):
    """The training pairs' audio, augmented reproducibly per (seed, epoch, index): item ``i`` is ``views×N``.

    With augmentation, each epoch draws a fresh view (speed, crop, EQ, level, noise floor) of the pair's own source
    ``recording`` when the dataset stores it (IS3+-mini does), else of its clip: a new moment of the same sound,
    which is self-supervision; another recording of the same class would be label supervision. ``views=2`` adds a
    second, independent view (methods that compare audio views); the first view is the same either way.
    """

    def __init__(self, root: Path, queries: Sequence[Query], num_samples: int, seed: int,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None, views: int = 1):
        self.root, self.queries, self.num_samples = Path(root), list(queries), num_samples
        self.seed, self.augment, self.epoch, self.views = seed, augment, 0, views

    def __len__(self):
        return len(self.queries)

    def __getitem__(self, index):
        query = self.queries[index]
        source = query.extra.get("recording") if self.augment is not None else None
        wave = load_audio(resolve(self.root, source or query.audio))
        # view 0 keeps the key it always had, so runs of one-view methods are unchanged
        keys = [[self.seed, self.epoch, index]] + [[self.seed, self.epoch, index, v] for v in range(1, self.views)]
        return torch.stack([self._view(wave, np.random.default_rng(key)) for key in keys])

    def _view(self, wave: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        if self.augment is not None:
            wave = self.augment(wave, rng)
        offset = None if self.augment is None else int(rng.integers(0, max(1, len(wave) - self.num_samples + 1)))
        return torch.from_numpy(np.ascontiguousarray(fit_length(wave, self.num_samples, offset)))


@torch.no_grad()
def image_trunk_features(model: AVModel, root: Path, queries: Sequence[Query], image_size: int,
                         device: torch.device, cache_dir: Path | None = None, *, hflip: bool = False,
                         amp: bool = True, batch_size: int = 64, progress: bool = True) -> torch.Tensor:
    """Frozen-trunk features of every image (and of its mirror image when ``hflip``), cached on disk.

    Returns ``N×V×512×h×w`` in bfloat16 on the CPU (V = 2 views with flips, else 1). The cache key is the trunk's
    weights, the image size and the list of images.
    """

    def compute():
        model.image.eval()
        chunks = []
        for start in tqdm(range(0, len(queries), batch_size), desc="image features (frozen trunk)",
                          disable=quiet(progress), leave=False):
            images = load_image_batch(root, queries[start : start + batch_size], image_size).to(device)
            views = [images, images.flip(-1)] if hflip else [images]
            with autocast(device, amp):
                feats = torch.stack([model.image.features(v) for v in views], 1)
            chunks.append(feats.to(torch.bfloat16).cpu())
        return torch.cat(chunks)

    key = digest(model.image.trunk, image_size, hflip, str(Path(root).resolve()), [q.image for q in queries],
                 *precision_part(device, amp))
    return cached_tensor(cache_dir, f"image-features-{key}", compute)


@torch.no_grad()
def augmented_image_features(model: AVModel, root: Path, queries: Sequence[Query], image_size: int,
                             device: torch.device, cache_dir: Path | None = None, *, views: int,
                             config: ViewConfig = ViewConfig(), amp: bool = True, batch_size: int = 64,
                             progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-trunk features of ``views`` augmented views of every image (:func:`sslsan.data.image_views.make_views`)
    and their geometric transforms: ``(N×V×512×h×w bfloat16, N×V×4)``, cached on disk.

    The views do not depend on a run's seed (like the audio views), so every run and method sharing the trunk
    shares one cache; each epoch picks one view per pair.
    """

    def compute():
        model.image.eval()
        feats, transforms = [], []
        for start in tqdm(range(0, len(queries), batch_size), desc="image views (frozen trunk)",
                          disable=quiet(progress), leave=False):
            images = load_image_batch(root, queries[start : start + batch_size], image_size)
            per_view = []
            for view in range(views):
                generator = torch.Generator().manual_seed(int(np.random.SeedSequence([VIEW_SEED, view, start])
                                                              .generate_state(1)[0]))
                warped, transform = make_views(images, generator, config)
                with autocast(device, amp):
                    per_view.append(model.image.features(warped.to(device)).to(torch.bfloat16).cpu())
                transforms.append(transform)
            feats.append(torch.stack(per_view, 1))
        chunks = [torch.stack(transforms[i : i + views], 1) for i in range(0, len(transforms), views)]
        return {"features": torch.cat(feats), "transforms": torch.cat(chunks)}

    key = digest(model.image.trunk, image_size, views, config, str(Path(root).resolve()), [q.image for q in queries],
                 *precision_part(device, amp))
    cached = cached_tensor(cache_dir, f"image-views-{key}", compute)
    return cached["features"], cached["transforms"]


@torch.no_grad()
def audio_prefix_features(model: AVModel, root: Path, queries: Sequence[Query], device: torch.device, *,
                          start: int, views: int, augment: bool, amp: bool = True, workers: int = 0,
                          cache_dir: Path | None = None, batch_size: int = 64, progress: bool = True
                          ) -> torch.Tensor:
    """Outputs of the frozen first ``start`` stages of the audio trunk for ``views`` augmented views of every
    training pair: ``N×V×C×f×t`` (bfloat16, CPU), cached under a key of the prefix weights and the data."""
    num_samples = model.audio.front_end.config.num_samples
    pairs = PairAudio(root, queries, num_samples, VIEW_SEED, AudioAugment() if augment else None)

    def compute():
        model.audio.eval()
        outputs = []
        for view in tqdm(range(views), desc="audio views (frozen stages)", disable=quiet(progress), leave=False):
            pairs.epoch = view
            loader = torch.utils.data.DataLoader(pairs, batch_size=batch_size, num_workers=workers)
            with autocast(device, amp):
                outputs.append(torch.cat([model.audio.prefix(w[:, 0].to(device), start).to(torch.bfloat16).cpu()
                                          for w in loader]))
        return torch.stack(outputs, 1)

    key = digest(model.audio.trunk[:start], model.audio.front_end.config, start, views, augment,
                 str(Path(root).resolve()), [q.extra.get("recording") or q.audio for q in queries],
                 *precision_part(device, amp))
    return cached_tensor(cache_dir, f"audio-views-{key}", compute)


@torch.no_grad()
def unique_image_features(model: AVModel, root: Path, table: QueryTable, image_size: int, device: torch.device,
                          batch_size: int = 64, cache_dir: Path | None = None) -> torch.Tensor:
    """Trunk features of every unique image of ``table`` (``I×512×h×w``, bfloat16, CPU), cached."""
    return image_trunk_features(model, root, table.image_queries(), image_size, device, cache_dir,
                                batch_size=batch_size, progress=False)[:, 0]


@torch.no_grad()
def image_maps_of(model: AVModel, root: Path, table: QueryTable, image_size: int, device: torch.device,
                  batch_size: int = 64, cache_dir: Path | None = None) -> torch.Tensor:
    """Projected, normalised image maps of every unique image: ``I×C×h×w`` (CPU, float32). The trunk features
    are cached under ``cache_dir`` (keyed by the trunk's weights), so runs sharing a frozen trunk share them."""
    model.eval()
    features = unique_image_features(model, root, table, image_size, device, batch_size, cache_dir)
    return torch.cat([model.image.project(features[s : s + batch_size].to(device).float()).cpu()
                      for s in range(0, len(features), batch_size)])


class AudioEmbedder:
    """Audio embeddings of named clip sets (``N×C``, CPU float32).

    When the first ``start`` stages of the audio trunk were frozen in training (and so are shared by every run
    that started from the same pretrained trunk), their outputs for each clip set are cached under ``cache_dir``:
    evaluating many runs then costs only the trainable stages.
    """

    def __init__(self, model: AVModel, device: torch.device, start: int = 0, cache_dir: Path | None = None,
                 batch_size: int = 64):
        self.model, self.device, self.start, self.batch_size = model, device, start, batch_size
        self.cache_dir = cache_dir if start else None
        self.key = digest(model.audio.trunk[:start], model.audio.front_end.config, start) if self.cache_dir else ""

    def _batches(self, tensor: torch.Tensor):
        return (tensor[s : s + self.batch_size] for s in range(0, len(tensor), self.batch_size))

    @torch.no_grad()
    def __call__(self, name: str, make_waves: Callable[[], torch.Tensor]) -> torch.Tensor:
        self.model.eval()
        audio = self.model.audio
        if self.cache_dir is None:
            return torch.cat([audio(w.to(self.device)).float().cpu() for w in self._batches(make_waves())])

        def prefix():
            return torch.cat([audio.prefix(w.to(self.device), self.start).to(torch.bfloat16).cpu()
                              for w in self._batches(make_waves())])

        label = hashlib.sha256(name.encode()).hexdigest()[:16]
        cached = cached_tensor(self.cache_dir, f"eval-audio-{self.key}-{label}", prefix)
        return torch.cat([audio.embed(audio.features(c.to(self.device).float(), self.start)).float().cpu()
                          for c in self._batches(cached)])
