"""An interactive explorer of localisation maps: a scene, a sound (its objects' own, or a negative), a model, a
threshold → the heatmap, its scores and the sound.

``Explorer.show(...)`` draws one view (what the static book shows); ``Explorer.widget()`` wires the same function
to ipywidgets controls in a live notebook (Jupyter, Colab). Maps are computed once per (scene, sound, model) and
cached, so moving the threshold slider is instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from IPython.display import display
import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from sslsan import viz
from sslsan.data.records import Query
from sslsan.evaluate import audio_conditions, query_maps
from sslsan.models import AVModel, upsample
from sslsan.negatives import NoiseConfig


@dataclass
class Explorer:
    """``models``: ``{label: model}``; ``thresholds``: each model's universal threshold (from its report);
    ``queries``: the test queries to choose from (grouped by image)."""

    data: Path
    queries: Sequence[Query]
    models: dict[str, AVModel]
    thresholds: dict[str, float]
    noise: NoiseConfig = NoiseConfig("white", 1.0)
    _cache: dict = field(default_factory=dict, repr=False)

    def scenes(self) -> list[str]:
        return list(dict.fromkeys(q.image_id for q in self.queries))

    def sounds(self, scene: str) -> list[str]:
        """The sounds of a scene: each object's own clip, then silence, noise and an offscreen clip."""
        return [f"{q.class_name} (object)" for q in self._of(scene)] + ["silence", "noise", "offscreen"]

    def _of(self, scene: str) -> list[Query]:
        found = [q for q in self.queries if q.image_id == scene]
        if not found:
            raise KeyError(f"no scene {scene!r} among the explorer's queries")
        return found

    def waves(self, scene: str, sound: str) -> tuple[Query, torch.Tensor]:
        queries = self._of(scene)
        num_samples = next(iter(self.models.values())).audio.front_end.config.num_samples
        for q in queries:
            if sound == f"{q.class_name} (object)":
                return q, audio_conditions(self.data, q, num_samples, self.noise)["positive"]
        if sound not in ("silence", "noise", "offscreen"):
            raise KeyError(f"scene {scene!r} has no sound {sound!r}; choose one of {self.sounds(scene)}")
        return queries[0], audio_conditions(self.data, queries[0], num_samples, self.noise)[sound]

    def heatmap(self, scene: str, sound: str, model: str) -> tuple[Query, torch.Tensor]:
        """The 224×224 map of ``sound`` on ``scene`` under ``model`` (cached)."""
        key = (scene, sound, model)
        if key not in self._cache:
            query, waves = self.waves(scene, sound)
            grid = query_maps(self.models[model], self.data, [query], waves)
            self._cache[key] = (query, upsample(grid, 224)[0])
        return self._cache[key]

    def show(self, scene: str, sound: str, model: str, threshold: float | None = None, ax=None):
        """Draw one view and return its scores: map maximum, threshold, share of the image above it (pIA)."""
        query, heat = self.heatmap(scene, sound, model)
        threshold = self.thresholds[model] if threshold is None else threshold
        pia = float((heat > threshold).double().mean())
        box = query.boxes[0] if sound.endswith("(object)") else None
        viz.overlay(self.data / query.image, heat, ax=ax, threshold=threshold, box=box,
                    title=f"{model} · {sound}\nmax {float(heat.max()):.2f} · pIA {pia:.2f} @ {threshold:.2f}",
                    show_range=False)
        return {"max": float(heat.max()), "threshold": threshold, "pia": pia}

    def widget(self):
        """ipywidgets controls (scene, sound, model, threshold) around :meth:`show`, with an audio player."""
        scenes = self.scenes()
        scene = widgets.Dropdown(options=scenes, description="scene")
        sound = widgets.Dropdown(options=self.sounds(scenes[0]), description="sound")
        model = widgets.Dropdown(options=list(self.models), description="model")
        threshold = widgets.FloatSlider(value=self.thresholds[model.value], min=-0.2, max=1.0, step=0.01,
                                        description="threshold", continuous_update=False)
        out = widgets.Output()

        def on_scene(change):
            sound.options = self.sounds(change["new"])

        def on_model(change):
            threshold.value = self.thresholds[change["new"]]

        def draw(*_):
            with out:
                out.clear_output(wait=True)
                fig, ax = plt.subplots(figsize=(4, 4))
                self.show(scene.value, sound.value, model.value, threshold.value, ax=ax)
                plt.show()
                display(viz.audio_player(self.waves(scene.value, sound.value)[1][0], label=sound.value))

        scene.observe(on_scene, names="value")
        model.observe(on_model, names="value")
        for control in (scene, sound, model, threshold):
            control.observe(draw, names="value")
        draw()
        return widgets.VBox([widgets.HBox([scene, sound]), widgets.HBox([model, threshold]), out])
