"""The pipeline diagram of the equations page draws, fits the book's width and names the negative columns."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from sslsan import viz  # noqa: E402


def test_pipeline_diagram_draws_within_seven_inches():
    ax = viz.pipeline_diagram(negatives=3)
    try:
        assert ax.figure.get_figwidth() <= 7
        texts = " ".join(t.get_text() for t in ax.texts)
        assert "SaN" in texts and "MIL max" in texts
        cells = [p for p in ax.patches if p.get_width() < 0.5]  # the score matrix: 4 rows × (4 + 3) columns
        assert len(cells) == 4 * 7
    finally:
        plt.close(ax.figure)
