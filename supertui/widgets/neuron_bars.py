"""The neuron-feature distribution: for each hidden neuron k, the weights W[k, i] of every
feature i as one stacked bar, negative weights to the left of the axis and positive to the right,
one stable colour per feature (palette.feature_color). A feature's segment carries its index when
the segment is wide enough, so the picture also reads without colour; with NO_COLOR (or
ascii=True) segments are drawn with the feature's index character instead.

For many features (n=200) each neuron shows its top features by |weight| in colour, the rest as
one grey segment per side (so bar lengths stay true), and lists the top ones by name.
"""

from __future__ import annotations


import numpy as np
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from supertui.widgets.no_color import NoColorAware
from supertui.widgets.palette import feature_color

REST_COLOR = "#4A4A4A"
GLYPHS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
AXIS = "│"
CHROME_LINES = 3  # title, axis scale, legend


def _feature_glyph(i: int) -> str:
    return GLYPHS[i % len(GLYPHS)]


def _segments(values: np.ndarray, order: np.ndarray, scale: float, half: int) -> list[tuple[int, int]]:
    """(feature, length in characters) of each segment, stacked outward in `order`; rounding the
    cumulative ends (not each length) keeps the total bar length exact."""
    out, total, drawn = [], 0.0, 0
    for i in order:
        total += abs(float(values[i]))
        end = round(total / scale * half) if scale > 0 else 0
        if end > drawn:
            out.append((int(i), end - drawn))
            drawn = end
    return out


class NeuronBars(NoColorAware, Widget):
    """Stacked bars of W[k, i] per hidden neuron k. `update_weights(W)` with W [m, n]."""

    DEFAULT_CSS = """
    NeuronBars {
        width: 1fr;
        height: 1fr;
        min-height: 5;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    def __init__(
        self,
        W: np.ndarray | None = None,
        *,
        title: str = "",
        top_features: int = 6,
        max_legend_features: int = 16,
        ascii: bool | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._W: np.ndarray | None = None
        self._title = title
        self.top_features = top_features
        self.max_legend_features = max_legend_features
        self._ascii = ascii
        self._version = 0
        self._cache: tuple[tuple, Text] | None = None
        if W is not None:
            self.update_weights(W, title=title)

    def update_weights(self, W: np.ndarray, *, title: str | None = None) -> None:
        """Show W [m, n] (hidden neurons by features)."""
        W = np.asarray(W, dtype=float)
        if W.ndim != 2:
            raise ValueError(f"NeuronBars needs W of shape [m, n], got {W.shape}")
        title = self._title if title is None else title
        if self._W is not None and self._W.shape == W.shape and np.array_equal(self._W, W, equal_nan=True) and title == self._title:
            return
        self._W, self._title = W.copy(), title
        self._version += 1
        self.refresh()

    @property
    def weights(self) -> np.ndarray | None:
        return self._W

    @property
    def summarised(self) -> bool:
        """True when only the top features per neuron are drawn individually."""
        return self._W is not None and self._W.shape[1] > self.max_legend_features

    def render(self) -> Text:
        key = (self._version, self.content_size.width, self.content_size.height, self.ascii)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._build(self.content_size.width, self.content_size.height))
        return self._cache[1]

    # ----- drawing ----------------------------------------------------------------------------
    def _build(self, width: int, height: int) -> Text:
        if self._W is None or self._W.size == 0:
            return Text((self._title + "\n" if self._title else "") + "no data yet", style="dim")
        W = np.where(np.isfinite(self._W), self._W, 0.0)
        m, n = W.shape
        gutter = len(f"h{m - 1}") + 1
        listing = 22 if self.summarised else 0
        bar_width = max(5, width - gutter - listing)
        half = (bar_width - 1) // 2
        pos_sum = np.clip(W, 0, None).sum(1)  # [m]
        neg_sum = -np.clip(W, None, 0).sum(1)  # [m]
        scale = float(max(pos_sum.max(), neg_sum.max()))
        avail = max(1, height - CHROME_LINES)
        lines_per_neuron = 2 if 2 * m <= avail and m <= 8 else 1
        shown = min(m, avail // lines_per_neuron)

        lines = [self._title_line(m, n, shown)]
        for k in range(shown):
            for repeat in range(lines_per_neuron):
                line = Text(f"h{k}".rjust(gutter - 1) + " " if repeat == 0 else " " * gutter, style="bold" if repeat == 0 else "")
                line.append_text(self._bar(W[k], half, scale, labelled=repeat == 0))
                if listing and repeat == 0:
                    line.append_text(self._top_listing(W[k]))
                lines.append(line)
        lines.append(self._axis_line(gutter, half, scale))
        lines.append(self._legend_line(n))
        return Text("\n").join(lines)

    def _title_line(self, m: int, n: int, shown: int) -> Text:
        line = Text(self._title or "neuron-feature weights W[k, i]", style="bold")
        notes = []
        if self.summarised:
            notes.append(f"top {self.top_features} of {n} features per neuron by |weight|")
        if shown < m:
            notes.append(f"neurons 0-{shown - 1} of {m}")
        if notes:
            line.append("  " + "; ".join(notes), style="italic dim")
        return line

    def _order(self, w: np.ndarray, sign: int) -> tuple[np.ndarray, float]:
        """Features of one sign, stacked from the axis outward by index (or, when summarised,
        the top ones by |weight|), and the summed weight of the features left out."""
        idx = np.flatnonzero(w > 0) if sign > 0 else np.flatnonzero(w < 0)
        if not self.summarised:
            return idx, 0.0
        top = np.argsort(-np.abs(w), kind="stable")[: self.top_features]
        kept = np.array([i for i in idx if i in set(top.tolist())], dtype=int)
        kept = kept[np.argsort(-np.abs(w[kept]), kind="stable")]
        rest = float(np.abs(w[np.setdiff1d(idx, kept)]).sum())
        return kept, rest

    def _bar(self, w: np.ndarray, half: int, scale: float, labelled: bool = True) -> Text:
        ascii_mode = self.ascii
        sides = []
        for sign in (-1, 1):
            order, rest = self._order(w, sign)
            values = np.abs(w).astype(float)
            segs = _segments(values, order, scale, half)
            if rest > 0:
                drawn = sum(length for _, length in segs)
                total = round((values[order].sum() + rest) / scale * half) if scale > 0 else 0
                if total > drawn:
                    segs.append((-1, total - drawn))
            if sign < 0:
                segs.reverse()  # mirrored: the first feature sits next to the axis
            side = Text()
            for feature, length in segs:
                side.append_text(self._segment(feature, length, ascii_mode, labelled))
            pad = Text(" " * (half - side.cell_len))
            sides.append(pad + side if sign < 0 else side + pad)
        return sides[0] + Text(AXIS, style="dim") + sides[1]

    def _segment(self, feature: int, length: int, ascii_mode: bool, labelled: bool = True) -> Text:
        if feature < 0:  # the summed rest
            return Text(("." if ascii_mode else " ") * length, style="" if ascii_mode else Style(bgcolor=REST_COLOR))
        if ascii_mode:
            return Text(_feature_glyph(feature) * length)
        label = str(feature)
        body = label.center(length) if labelled and length >= len(label) + 1 else " " * length
        return Text(body, style=Style(color="black", bgcolor=feature_color(feature)))

    def _top_listing(self, w: np.ndarray) -> Text:
        top = np.argsort(-np.abs(w), kind="stable")[:2]
        out = Text(" ")
        for i in top:
            out.append(f" {i}:", style="" if self.ascii else Style(color=feature_color(int(i)), bold=True))
            out.append(f"{w[i]:+.2f}")
        return out

    def _axis_line(self, gutter: int, half: int, scale: float) -> Text:
        left, right = f"-{scale:.2g}", f"+{scale:.2g}"
        mid = "0"
        line = [" "] * (gutter + 2 * half + 1)
        line[gutter : gutter + len(left)] = left
        line[gutter + half] = mid
        line[gutter + 2 * half + 1 - len(right) : gutter + 2 * half + 1] = right
        return Text("".join(line), style="dim")

    def _legend_line(self, n: int) -> Text:
        if self.summarised:
            text = Text("feature:weight = each neuron's two largest", style="dim")
            if not self.ascii:
                text.append("  ")
                text.append("  ", Style(bgcolor=REST_COLOR))
                text.append(" the rest", style="dim")
            return text
        text = Text("features ", style="dim")
        for i in range(n):
            if self.ascii:
                text.append(f"{_feature_glyph(i)}={i} " if _feature_glyph(i) != str(i) else f"{i} ")
            else:
                text.append(f" {i} ", Style(color="black", bgcolor=feature_color(i)))
                text.append(" ")
        return text

