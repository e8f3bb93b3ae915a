"""Datasets, all producing :class:`~sslsan.data.records.Query` records.

- :mod:`sslsan.data.records` — the record type, box ground truth;
- :mod:`sslsan.data.is3` — the IS3 folder format that ``sslsan train`` / ``evaluate`` read (IS3+-mini is written in
  it); :mod:`sslsan.data.dataset` — images, masks and a torch ``Dataset`` over records;
  :mod:`sslsan.data.augment` — audio augmentation;
- :mod:`sslsan.data.mini` — IS3+-mini, built offline from packaged recordings and photo cut-outs;
- readers of the real datasets, one module per format, and the metadata and media helpers of
  ``data_scripts/prepare_*.py``.

Nothing here imports the model, training or evaluation layers.
"""

from sslsan.data.records import AnnotationError, Query, box_map, resolve

__all__ = ["AnnotationError", "Query", "box_map", "resolve"]
