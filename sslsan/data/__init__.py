"""Datasets: IS3+-mini (built offline) and readers for the real datasets, all producing :class:`Query` records."""

from sslsan.data.records import AnnotationError, Query, box_map, resolve

__all__ = ["AnnotationError", "Query", "box_map", "resolve"]
