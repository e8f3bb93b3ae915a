"""Building blocks of IS3+-mini: the class map, package containers, instrument synthesis and scene drawing.

The public entry points live one level up: :mod:`sslsan.data.assets` (fetch and clean the real material) and
:mod:`sslsan.data.is3plus_mini` (compose the dataset).
"""
