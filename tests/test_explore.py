"""The interactive explorer: views, scores and the ipywidgets controls (built headless, no browser)."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from sslsan.data.is3 import read_queries
from sslsan.explore import Explorer
from sslsan.runs import load_run


@pytest.fixture(scope="module")
def explorer(synthetic_data, synthetic_run):
    model, _ = load_run(synthetic_run)
    queries = read_queries(synthetic_data, "test")
    return Explorer(synthetic_data, queries, {"tiny": model}, {"tiny": 0.1})


def test_sounds_list_each_object_then_the_negatives(explorer):
    scene = explorer.scenes()[0]
    objects = [q.class_name for q in explorer.queries if q.image_id == scene]
    assert explorer.sounds(scene) == [f"{c} (object)" for c in objects] + ["silence", "noise", "offscreen"]
    with pytest.raises(KeyError, match="no sound"):
        explorer.waves(scene, "thunder")
    with pytest.raises(KeyError, match="no scene"):
        explorer.sounds("nowhere")


def test_scores_match_the_map(explorer):
    scene = explorer.scenes()[0]
    sound = explorer.sounds(scene)[0]
    _, heat = explorer.heatmap(scene, sound, "tiny")
    assert heat.shape == (224, 224)
    scores = explorer.show(scene, sound, "tiny", threshold=float(heat.median()))
    assert scores["max"] == pytest.approx(float(heat.max()))
    assert scores["pia"] == pytest.approx(float((heat > heat.median()).double().mean()))
    # above the maximum nothing is marked; the model's own threshold is the default
    assert explorer.show(scene, sound, "tiny", threshold=float(heat.max()) + 1e-3)["pia"] == 0
    assert explorer.show(scene, sound, "tiny")["threshold"] == 0.1


def test_silence_differs_from_the_objects_sound(explorer):
    scene = explorer.scenes()[0]
    _, own = explorer.heatmap(scene, explorer.sounds(scene)[0], "tiny")
    _, silence = explorer.heatmap(scene, "silence", "tiny")
    assert not torch.allclose(own, silence)


def test_widget_builds_and_redraws_headless(explorer):
    widgets = pytest.importorskip("ipywidgets")
    box = explorer.widget()
    assert isinstance(box, widgets.VBox)
    scene, sound = box.children[0].children
    model, threshold = box.children[1].children
    assert list(sound.options) == explorer.sounds(scene.value)
    sound.value = "silence"  # triggers a redraw through the observers
    threshold.value = 0.5
    assert explorer._cache, "the redraw computed (and cached) a map"
