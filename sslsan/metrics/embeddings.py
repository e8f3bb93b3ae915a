"""Audio-visual embeddings: their geometry (SSL-SaN's Magnitude / Alignment / Separability±) and cross-modal
retrieval (Recall@k). Juanola et al., BMVC 2025, arXiv 2508.21761; Senocak et al., ICCV 2023 (retrieval).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ._common import group_codes, row_chunks

__all__ = ["embedding_geometry", "retrieval_recall"]


def _unit_rows(embeddings: Tensor, name: str) -> Tensor:
    if not isinstance(embeddings, Tensor) or embeddings.dim() != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty N×D tensor, got {getattr(embeddings, 'shape', None)}")
    return torch.nn.functional.normalize(embeddings.detach().double(), dim=1)


def embedding_geometry(visual: Tensor, audio: Tensor, negative_audio: Tensor) -> dict[str, float]:
    """``{"magnitude", "alignment", "separability"}`` of audio-visual embeddings — OUR READING of SSL-SaN's columns.

    SSL-SaN (BMVC 2025) reports Magnitude / Alignment / Separability± (e.g. LVS 0.92 / 0.19 / −0.1124, FNAC 1.25 /
    0.03 / −0.0094) but not their formulas. We choose definitions that fit those ranges; all use L2-normalised rows.
    ``visual``: N×D image embeddings (the caller states the pooling); ``audio``: the N paired (positive) audio
    embeddings; ``negative_audio``: N negative audio embeddings paired with the same images (silence, noise,
    offscreen; stack types by repeating ``visual``).

    - alignment = mean_i cos(v_i, a_i) ∈ [−1, 1], higher is better: positive pairs agree.
    - separability = alignment − mean_i cos(v_i, n_i) ∈ [−2, 2], signed (hence "±"); > 0 means images prefer their
      own audio over negative audio, < 0 (every published baseline) means negatives score higher.
    - magnitude = ‖mean_i a_i − mean_i v_i‖₂ ∈ [0, 2]: the modality gap (Liang et al., NeurIPS 2022); 0 means the
      two modalities share one region of the sphere. No ideal is published; smaller gaps usually mean better
      cross-modal retrieval.
    """
    v, a, n = _unit_rows(visual, "visual"), _unit_rows(audio, "audio"), _unit_rows(negative_audio, "negative_audio")
    if not (v.shape == a.shape == n.shape):
        raise ValueError(f"visual, audio and negative_audio must be paired N×D, got {tuple(v.shape)}, "
                         f"{tuple(a.shape)}, {tuple(n.shape)}")
    alignment = float((v * a).sum(dim=1).mean())
    return {"magnitude": float((a.mean(dim=0) - v.mean(dim=0)).norm()),
            "alignment": alignment,
            "separability": alignment - float((v * n).sum(dim=1).mean())}


def _retrieval_hits(queries: Tensor, gallery: Tensor, query_labels: Tensor, gallery_labels: Tensor,
                    ks: Sequence[int]) -> dict[int, float]:
    depth = min(max(ks), gallery.shape[0])
    hits = {k: 0.0 for k in ks}
    for rows in row_chunks(queries.shape[0], gallery.shape[0]):
        ranked = (queries[rows] @ gallery.T).topk(depth, dim=1).indices
        relevant = (gallery_labels[ranked] == query_labels[rows, None]).cumsum(dim=1) > 0
        for k in ks:
            hits[k] += float(relevant[:, min(k, depth) - 1].sum())
    return {k: hits[k] / queries.shape[0] for k in ks}


def retrieval_recall(audio: Tensor, image: Tensor, ks: Sequence[int] = (1, 5, 10),
                     audio_labels=None, image_labels=None) -> dict[str, float]:
    """Cross-modal Recall@k in both directions: ``{"a2i@1", …, "i2a@10"}`` — OUR READING of SSL-Align's protocol.

    Embeddings are L2-normalised and ranked by cosine similarity over the whole other modality. With labels (class
    ids or names, one per row) a retrieved item is relevant if it shares the query's class (class-level relevance,
    as the project page's retrieval examples suggest); without labels, audio i and image i are the only relevant pair
    (exact-pair relevance; needs as many audios as images). Recall@k = fraction of queries with a relevant item in
    their top k. Tied similarities are ranked in an unspecified order.
    """
    a, v = _unit_rows(audio, "audio"), _unit_rows(image, "image")
    if a.shape[1] != v.shape[1]:
        raise ValueError(f"audio and image embeddings must share a dimension, got {a.shape[1]} and {v.shape[1]}")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"ks must be positive, got {tuple(ks)}")
    if (audio_labels is None) != (image_labels is None):
        raise ValueError("give both audio_labels and image_labels (class-level) or neither (exact pairs)")
    if audio_labels is None:
        if a.shape[0] != v.shape[0]:
            raise ValueError(f"exact-pair relevance needs as many audios as images, got {a.shape[0]} and {v.shape[0]}")
        a_codes = v_codes = torch.arange(a.shape[0], device=a.device)
    else:
        # One coding for both label lists, so equal labels get equal codes.
        codes, _ = group_codes(_concat_labels(audio_labels, image_labels), a.shape[0] + v.shape[0], a.device)
        a_codes, v_codes = codes[:a.shape[0]], codes[a.shape[0]:]
    a2i, i2a = _retrieval_hits(a, v, a_codes, v_codes, ks), _retrieval_hits(v, a, v_codes, a_codes, ks)
    return {**{f"a2i@{k}": a2i[k] for k in ks}, **{f"i2a@{k}": i2a[k] for k in ks}}


def _concat_labels(first, second):
    if isinstance(first, Tensor) and isinstance(second, Tensor):
        return torch.cat([first.reshape(-1).cpu(), second.reshape(-1).cpu()])
    as_list = lambda labels: labels.reshape(-1).tolist() if isinstance(labels, Tensor) else list(labels)  # noqa: E731
    return as_list(first) + as_list(second)
