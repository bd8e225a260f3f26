"""The base of the plotext plots: a failed draw shows in the pane instead of ending the app, and
the legend is a strip under the axes, where it cannot cover data (plotext draws its own legend
inside the plot area, over the top-left corner, where loss curves start)."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual_plotext import PlotextPlot

LEGEND_SAMPLE = "━━"
SEPARATOR = "  "
ELLIPSIS = "…"
MIN_PLOT_ROWS = 6  # the axes keep at least this many rows; a legend that needs more is cut short


def fit_label(label: str, width: int) -> str:
    """A label in at most `width` cells, shortened with … before its last part where that is a
    tail that tells runs apart (`lr=0.001, +4 more (e7da78a0)`: the id's tail stays)."""
    if len(label) <= width:
        return label
    head, tail = label, ""
    if label.endswith(")") and " (" in label:
        head, tail = label[: label.rindex(" (")], label[label.rindex(" ("):]
        if len(tail) > width // 2:
            head, tail = label, ""
    return head[: max(width - len(tail) - 1, 0)] + ELLIPSIS + tail


def legend_lines(entries: list[tuple[str, str]], width: int, max_lines: int) -> list[Text]:
    """(label, colour) entries as `━━ label` items wrapped to `width`, at most `max_lines`
    lines; a label too long for a line is shortened (fit_label), never wrapped, so it cannot
    push the others out of sight; the items that do not fit are counted at the end ("+3 more")."""
    room = max(width - len(LEGEND_SAMPLE) - 1, 1)
    items = [Text.assemble((LEGEND_SAMPLE, Style(color=colour)), f" {fit_label(label, room)}") for label, colour in entries]
    rows: list[list[Text]] = [[]]
    for item in items:
        if rows[-1] and _row_width(rows[-1]) + len(SEPARATOR) + item.cell_len > width:
            rows.append([])
        rows[-1].append(item)
    if len(rows) > max_lines:
        rows = rows[:max_lines]
        hidden = len(items) - sum(map(len, rows))
        while rows[-1] and _row_width(rows[-1]) + len(f"{SEPARATOR}+{hidden + 1} more") > width:
            rows[-1].pop()
            hidden += 1
        rows[-1].append(Text(f"+{hidden} more", style="dim"))
    return [Text(SEPARATOR).join(row) for row in rows]


def _row_width(row: list[Text]) -> int:
    return sum(item.cell_len for item in row) + len(SEPARATOR) * max(0, len(row) - 1)


def sorted_finite(label: str, x, y, what: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """A curve's points ready for a log x axis: finite, x > 0, sorted by x (ValueError naming the
    curve when x and y differ in shape)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"curves[{label!r}]: x has shape {x.shape} but {what} has {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order]


class SafePlot(PlotextPlot):
    def legend_entries(self) -> list[tuple[str, str]]:
        """(label, colour) of each named curve, listed under the plot; none by default."""
        return []

    def legend_strip(self, width: int, height: int) -> list[Text]:
        """The legend lines that fit under a plot of this size."""
        entries = self.legend_entries()
        if not entries or width <= 0:
            return []
        return legend_lines(entries, width, max(1, height - MIN_PLOT_ROWS))

    def render(self):
        # plotext 5 has edge cases (e.g. odd sizes) that raise while building; a live view must
        # keep running, so say so in the pane instead of taking the app down.
        try:
            width, height = self.size.width, self.size.height
            strip = self.legend_strip(width, height)
            rows = max(1, height - len(strip))
            self._plot.plotsize(width, rows)
            self._plot._set_size(width, rows)  # as PlotextPlot.render does: resizing needs both
            self._plot.theme(self._get_plotext_theme_name(self.app.theme))
            canvas = Text.from_ansi(self._plot.build().rstrip("\n"))  # no blank line before the strip
            return Text("\n").join([canvas, *strip]) if strip else canvas
        except Exception as error:  # noqa: BLE001
            self.log.error(f"{type(self).__name__} failed to draw: {error!r}")
            return Text(f"plot unavailable: {error}", style="dim")
