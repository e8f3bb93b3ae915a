"""Input checks and row chunking shared by every metric module (no metric is defined here).

Bad inputs raise ``TypeError`` / ``ValueError`` naming the argument and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor

#: A threshold policy: ``"median"``, ``"adaptive"``, an absolute float, or ``N`` per-sample absolute thresholds.
Policy = Union[str, float, Tensor]
RANK_POLICIES = ("median", "adaptive")

# Work on ~1M pixels at a time (~20 maps of 224×224): bounded memory, and temporaries small enough to be reused.
_CHUNK_PIXELS = 1 << 20


def check_maps(maps: Tensor, name: str = "maps") -> Tensor:
    """``maps`` as a detached N×H×W floating tensor (half precision promoted to float32)."""
    if not isinstance(maps, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(maps).__name__}")
    if maps.dim() != 3:
        raise ValueError(f"{name} must be N×H×W, got shape {tuple(maps.shape)}")
    if maps.shape[0] == 0 or maps.shape[1] * maps.shape[2] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(maps.shape)}")
    if not maps.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {maps.dtype}")
    if maps.dtype in (torch.float16, torch.bfloat16):
        maps = maps.float()
    return maps.detach()  # metrics are not differentiable


def check_like(other: Tensor, maps: Tensor, name: str) -> Tensor:
    """``other`` (a GT or second map) must have the maps' shape; returned on their device in their dtype."""
    if not isinstance(other, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(other).__name__}")
    if other.shape != maps.shape:
        raise ValueError(f"{name} must have the maps' shape {tuple(maps.shape)}, got {tuple(other.shape)}")
    return other.detach().to(device=maps.device, dtype=maps.dtype)


def check_vector(values, name: str, n: int | None = None, device=None) -> Tensor:
    """``values`` as a detached non-empty 1-D tensor (of ``n`` entries when given)."""
    values = torch.as_tensor(values, device=device)
    values = values.detach()
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got shape {tuple(values.shape)}")
    if n is not None and values.numel() != n:
        raise ValueError(f"{name} must have {n} entries (one per sample), got {values.numel()}")
    return values


def check_policies(policies: Sequence[Policy], n: int, has_gt: bool) -> None:
    """Fail early, naming the bad policy: unknown names, adaptive without GT, wrongly sized threshold tensors."""
    for policy in policies:
        if isinstance(policy, str):
            if policy not in RANK_POLICIES:
                raise ValueError(f'policy must be "median", "adaptive" or a threshold, got {policy!r}')
            if policy == "adaptive" and not has_gt:
                raise ValueError('the "adaptive" policy needs the GT map (gt=...)')
        elif isinstance(policy, Tensor):
            if policy.dim() > 1 or (policy.dim() == 1 and policy.numel() != n):
                raise ValueError(f"a threshold tensor must be a scalar or have {n} entries (one per sample), "
                                 f"got shape {tuple(policy.shape)}")
        elif not isinstance(policy, (int, float)):
            raise TypeError(f"policy must be a str, a float or a tensor, got {type(policy).__name__}")


def raise_if_non_finite(bad) -> None:
    """``bad``: a bool tensor or array, True for each sample whose map holds NaN or ±inf."""
    if bool(bad.any()):
        raise ValueError("maps contain NaN or infinite values")


def group_codes(ids, n: int, device) -> tuple[Tensor, int]:
    """Integer codes 0…G-1 (in sorted id order) for ``n`` ids given as a list of str/int or an int tensor."""
    if isinstance(ids, Tensor):
        ids = check_vector(ids, "image_ids", n)
        if ids.is_floating_point():
            raise ValueError("image_ids must be integers or strings, got a floating-point tensor")
        _, codes = torch.unique(ids, return_inverse=True)
        return codes.to(device), int(codes.max()) + 1
    ids = list(ids)
    if len(ids) != n:
        raise ValueError(f"image_ids must have {n} entries (one per sample), got {len(ids)}")
    index = {key: code for code, key in enumerate(sorted(set(ids)))}
    return torch.tensor([index[key] for key in ids], device=device), len(index)


def row_chunks(n: int, cost_per_row: int):
    """Row slices of about ``_CHUNK_PIXELS`` elements each (a Python loop over chunks, never over samples)."""
    step = max(1, _CHUNK_PIXELS // cost_per_row)
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))
