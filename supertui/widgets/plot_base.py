"""The base of the plotext plots: a failed draw shows in the pane instead of ending the app."""

from __future__ import annotations

from rich.text import Text
from textual_plotext import PlotextPlot


class SafePlot(PlotextPlot):
    def render(self):
        # plotext 5 has edge cases (e.g. odd sizes) that raise while building; a live view must
        # keep running, so say so in the pane instead of taking the app down.
        try:
            return super().render()
        except Exception as error:  # noqa: BLE001
            self.log.error(f"{type(self).__name__} failed to draw: {error!r}")
            return Text(f"plot unavailable: {error}", style="dim")
