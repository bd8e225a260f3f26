"""The standard figure of Toy Models of Superposition: one bar per feature i, its length the norm
‖W_i‖ (how strongly the feature is represented), its colour the superposition
Σ_{j≠i} (Ŵ_i·W_j)² (how much of its direction other features share): dark for a feature alone in
its direction, bright yellow for one sharing it whole (engine.palette.SEQUENTIAL_STOPS; the
exported figure uses the same scale). Each bar also prints both numbers, so the picture reads
without colour; with NO_COLOR (or ascii=True) bars are drawn with `#`.

    bars.update_model(W)   # W [m, n]; norms and superposition from engine.science.metrics
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.science.metrics import REPRESENTED_NORM, feature_norms, superposition
from supertui.widgets.no_color import NoColorAware
from supertui.widgets.palette import sequential_color

CHROME_LINES = 2  # title, legend
LABEL_WIDTH = 17  # " 0.98  s 0.02" after the bar


class FeatureNormBars(NoColorAware, Widget):
    """‖W_i‖ per feature, coloured by its superposition. `update_model(W)` with W [m, n]."""

    DEFAULT_CSS = """
    FeatureNormBars {
        width: 1fr;
        height: 1fr;
        min-height: 4;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    def __init__(self, *, title: str = "", ascii: bool | None = None, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._title = title
        self._ascii = ascii
        self._norms: np.ndarray | None = None  # [n]
        self._superposition: np.ndarray | None = None  # [n]
        self._version = 0
        self._cache: tuple[tuple, Text] | None = None

    def update_model(self, W: np.ndarray, *, title: str | None = None) -> None:
        W = np.asarray(W, dtype=float)
        if W.ndim != 2:
            raise ValueError(f"FeatureNormBars needs W of shape [m, n], got {W.shape}")
        W = np.where(np.isfinite(W), W, 0.0)
        norms, shared = feature_norms(W), superposition(W)
        title = self._title if title is None else title
        if (self._norms is not None and np.array_equal(norms, self._norms) and np.array_equal(shared, self._superposition)
                and title == self._title):
            return
        self._norms, self._superposition, self._title = norms, shared, title
        self._version += 1
        self.refresh()

    @property
    def norms(self) -> np.ndarray | None:
        return self._norms

    @property
    def superpositions(self) -> np.ndarray | None:
        return self._superposition

    def render(self) -> Text:
        key = (self._version, self.content_size.width, self.content_size.height, self.ascii)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build(self.content_size.width, self.content_size.height))
        return self._cache[1]

    def _build(self, width: int, height: int) -> Text:
        if self._norms is None:
            return Text((self._title + "\n" if self._title else "") + "no data yet", style="dim")
        n = len(self._norms)
        shown = max(1, min(n, height - CHROME_LINES))
        gutter = len(str(n - 1)) + 1
        bar_room = max(4, width - gutter - LABEL_WIDTH)
        scale = max(1.0, float(self._norms.max()))
        title = Text(self._title or "feature norms ‖W_i‖, colour: superposition", style="bold")
        if shown < n:
            title.append(f"  features 0-{shown - 1} of {n}", style="italic dim")
        lines = [title]
        for i in range(shown):
            lines.append(self._bar(i, gutter, bar_room, scale))
        lines.append(self._legend(bar_room))
        return Text("\n").join(lines)

    def _bar(self, i: int, gutter: int, room: int, scale: float) -> Text:
        norm, shared = float(self._norms[i]), float(self._superposition[i])
        length = int(round(norm / scale * room))
        line = Text(str(i).rjust(gutter - 1) + " ", style="bold" if norm >= REPRESENTED_NORM else "dim")
        if self.ascii:
            line.append("#" * length)
        else:
            line.append("█" * length, Style(color=sequential_color(min(shared, 1.0))))
        line.append(" " * (room - length))
        line.append(f" {norm:5.2f}  s {shared:5.2f}", style="" if norm >= REPRESENTED_NORM else "dim")
        return line

    def _legend(self, room: int) -> Text:
        text = Text("superposition Σⱼ≠ᵢ(Ŵᵢ·Wⱼ)²: ", style="dim")
        if self.ascii:
            text.append("printed as s", style="dim")
            return text
        text.append("0 ", style="dim")
        for t in np.linspace(0, 1, 8):
            text.append("█", Style(color=sequential_color(float(t))))
        text.append(" ≥1", style="dim")
        return text
