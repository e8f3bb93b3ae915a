"""Reference rows: the maps every number is printed beside, so that nobody is fooled by a high score.

- ``centre_prior``: an audio-agnostic Gaussian at the image centre (the photographer's bias to centre objects);
- ``gt_pooled``: each query's ground truth averaged over the model's grid cells — the ceiling of a grid-resolution
  map under the median policy, and a check that the metric code can reach high scores;
- ``objectness``: the image trunk's mean absolute activation per cell (EZ-VSL's object-guided map, OGL);
- ``untrained``: the same architecture with random weights (built by the evaluation runner).

Each map is defined once here; :mod:`sslsan.evaluate` scores them with the same pipeline as a trained model
(grid → :func:`sslsan.models.upsample` → threshold policy → metrics), wherever the numbers are shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslsan.protocol import QueryTable

REFERENCE_ROWS = ("untrained", "centre_prior", "objectness", "gt_pooled")
#: The rows that do not depend on any model: what a dataset alone can be scored against.
LAYOUT_ROWS = ("centre_prior", "gt_pooled")


@dataclass
class ConditionMaps:
    """Localisation maps of one audio condition on the model's grid, with the embeddings behind them.

    ``maps``: N×h×w cosines (row i = query i); ``audio``: N×C audio embeddings (None for audio-agnostic rows).
    """

    maps: torch.Tensor
    audio: torch.Tensor | None = None


def centre_prior(count: int, grid: int, sigma: float = 0.25) -> ConditionMaps:
    """A Gaussian bump at the image centre (σ = ``sigma`` × image side) on the ``grid``×``grid`` map, per query."""
    axis = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid - 0.5
    bump = torch.exp(-(axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2) / (2 * sigma**2))
    return ConditionMaps(bump.expand(count, grid, grid).clone())


def pooled_ground_truth(table: QueryTable, grid: int) -> ConditionMaps:
    """Each query's ground truth averaged over the cells of a ``grid``×``grid`` map (the median policy's ceiling)."""
    return ConditionMaps(F.adaptive_avg_pool2d(table.gt.unsqueeze(1), grid)[:, 0])


def objectness(trunk_features: torch.Tensor, table: QueryTable) -> ConditionMaps:
    """Audio-agnostic objectness from the image trunk's features of each unique image (``I×512×h×w``): the mean
    absolute activation per cell, one map per query."""
    return ConditionMaps(trunk_features.float().abs().mean(1)[torch.as_tensor(table.image_index)])
