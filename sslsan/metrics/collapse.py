"""Collapse diagnostics: does the map depend on the audio, or only on the image?

A model that ignores the audio draws the same map for every sound of an image (collapse onto visual saliency).
These diagnostics look for that on multi-object images (IS3: two objects, one audio query each) and with negative
audio: pointing at the queried object, finding both objects of an image, the correlation of the two query maps, and
whether positive maps out-score negative ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import check_like, check_maps, check_vector, group_codes
from .definitions import group_min, pointing_hits

__all__ = ["both_found", "pair_correlation", "object_preference", "max_beats", "collapse_summary"]


def both_found(maps: Tensor, own_gt: Tensor, image_ids, other_gt: Tensor | None = None) -> Tensor:
    """Per image (sorted id order), whether *every* query points into its own object and not into the other one.

    ``maps``: N×H×W, one map per (image, audio query); ``own_gt``: the queried object's GT; ``other_gt``: the other
    object's GT in the same image (IS3 has two objects per image), or None to test the own object only. A peak in the
    overlap of both objects does not count. A model that ignores the audio points at the same object for both
    queries of an image, so it can never find both. Bool G.
    """
    hits = pointing_hits(maps, own_gt)
    if other_gt is not None:
        hits &= ~pointing_hits(maps, check_like(other_gt, maps, "other_gt"))
    codes, groups = group_codes(image_ids, maps.shape[0], maps.device)
    return group_min(hits.double(), codes, groups) > 0


def pair_correlation(maps: Tensor, image_ids) -> Tensor:
    """Pearson correlation between the two query maps of each image (sorted id order), float64 G.

    Near 1: the map barely depends on the audio (collapse onto visual saliency). NaN for images that do not have
    exactly two queries (e.g. single-object VGG-SS images in a mixed table) and where a map is constant.
    """
    maps = check_maps(maps)
    codes, groups = group_codes(image_ids, maps.shape[0], maps.device)
    sizes = torch.bincount(codes, minlength=groups)
    starts = sizes.cumsum(0) - sizes
    order = torch.argsort(codes, stable=True)          # the queries of each image, next to each other
    pairs = (sizes == 2).nonzero().squeeze(1)
    flat = maps.reshape(maps.shape[0], -1).double()
    first, second = flat[order[starts[pairs]]], flat[order[starts[pairs] + 1]]
    first, second = first - first.mean(dim=1, keepdim=True), second - second.mean(dim=1, keepdim=True)
    out = torch.full((groups,), math.nan, dtype=torch.float64, device=maps.device)
    out[pairs] = (first * second).sum(dim=1) / (first.norm(dim=1) * second.norm(dim=1))
    return out


def object_preference(maps: Tensor, own_gt: Tensor, other_gt: Tensor) -> Tensor:
    """Mean map value inside the queried object minus inside the other object (GT > 0 regions), float64 N.

    Positive: the audio steers the map to its own object. Means, not sums, so object size does not matter; pixels in
    both objects count for both; NaN where either region is empty.
    """
    maps = check_maps(maps)
    flat = maps.reshape(maps.shape[0], -1).double()

    def region_mean(gt: Tensor, name: str) -> Tensor:
        inside = (check_like(gt, maps, name).reshape(maps.shape[0], -1) > 0).double()
        area = inside.sum(dim=1)
        return torch.where(area > 0, (flat * inside).sum(dim=1) / area.clamp(min=1), math.nan)

    return region_mean(own_gt, "own_gt") - region_mean(other_gt, "other_gt")


def _maxima(values: Tensor, name: str) -> Tensor:
    if values.dim() == 3:
        return check_maps(values, name).reshape(values.shape[0], -1).amax(dim=1)
    return check_vector(values, name)


def max_beats(positive: Tensor, negative: Tensor) -> Tensor:
    """Per query, whether the positive map's maximum exceeds the paired negative map's maximum. Bool N.

    ``positive``/``negative``: N×H×W maps or N maxima. The mean is the probability that one universal threshold can
    separate this query's positive from its negative.
    """
    pos, neg = _maxima(positive, "positive"), _maxima(negative, "negative")
    if pos.shape != neg.shape:
        raise ValueError(f"positive and negative must pair up, got {tuple(pos.shape)} and {tuple(neg.shape)}")
    return pos > neg.to(pos.device)


def collapse_summary(maps: Tensor, own_gt: Tensor, image_ids=None, other_gt: Tensor | None = None,
                     negative_maps: Tensor | None = None) -> dict[str, float]:
    """The collapse diagnostics that the inputs allow, as fractions / means.

    ``pointing`` (always), ``both_found`` (with ``image_ids``), ``pair_correlation`` (mean over the images with two
    queries; with ``image_ids``), ``own_beats_other`` (P(own object has the larger mean map value);
    with ``other_gt``), ``pos_max_beats_neg`` (with ``negative_maps``, paired per query).
    """
    summary = {"pointing": float(pointing_hits(maps, own_gt).double().mean())}
    if image_ids is not None:
        summary["both_found"] = float(both_found(maps, own_gt, image_ids, other_gt).double().mean())
        summary["pair_correlation"] = float(torch.nanmean(pair_correlation(maps, image_ids)))
    if other_gt is not None:
        margin = object_preference(maps, own_gt, other_gt)
        summary["own_beats_other"] = float((margin[~margin.isnan()] > 0).double().mean())
    if negative_maps is not None:
        summary["pos_max_beats_neg"] = float(max_beats(maps, negative_maps).double().mean())
    return summary
