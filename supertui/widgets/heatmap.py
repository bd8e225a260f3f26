"""A signed matrix (usually WᵀW) as a heatmap of half-block cells, with a keyboard cursor.

plotext's matrix_plot is greyscale, so this draws its own cells from half-line "pixels": `▀`
with the foreground colour for the upper half of a terminal line and the background colour for
the lower half. A terminal cell is about twice as tall as wide, so a pixel is about one column
square; a matrix cell is `cell_pixels` pixels tall and `cell_width` columns wide, as large as the
pane allows and at most 1.5 times as wide as tall. Colours come from a diverging map centred on 0
(palette's RdBu), quantised onto the terminal's own colours in 256 and 16 colours
(terminal_colors). The cursor's cell keeps its colour: its row and column labels are lit, and
inside the cell thin brackets or a box are drawn over the colour. With NO_COLOR (or ascii=True)
each cell becomes two characters, a sign and a magnitude from an ASCII ramp, one matrix row per
terminal row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from supertui.widgets.no_color import NoColorAware
from supertui.widgets.palette import DIVERGING_LEVELS, diverging_level
from supertui.widgets.terminal_colors import TRUECOLOR, color_system, diverging_color, nan_color

HALF_BLOCK = "▀"
ASCII_RAMP = ".:;=*o#%@"  # magnitude from ~0 to vmax; no + or -, which are the sign
CURSOR_COLOR = "#FFD700"  # gold: not on the blue-white-red map, so the cursor's labels stand out
CHROME_LINES = 4  # title, column header, legend, readout
MAX_CELL_PIXELS = 8  # a 2x2 matrix gets cells four lines tall, not a whole pane
MAX_ASPECT = 1.5  # a cell is at most this many times as wide as it is tall


def pool_signed_max(matrix: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Downsample by `factor` in both axes keeping, per block, the entry of largest |v| (with
    its sign), so a single strong interference is never averaged away.

    Returns (values [C, C'], rows [C, C'], cols [C, C']): the peak and where it came from."""
    rows_n, cols_n = matrix.shape
    if factor <= 1:
        r, c = np.indices(matrix.shape)
        return matrix, r, c
    R, C = -(-rows_n // factor), -(-cols_n // factor)
    padded = np.full((R * factor, C * factor), np.nan)
    padded[:rows_n, :cols_n] = matrix
    blocks = padded.reshape(R, factor, C, factor).transpose(0, 2, 1, 3).reshape(R, C, factor * factor)
    magnitude = np.where(np.isnan(blocks), -1.0, np.abs(blocks))
    best = magnitude.argmax(-1)  # [R, C]
    values = np.take_along_axis(blocks, best[..., None], -1)[..., 0]
    rows = np.arange(R)[:, None] * factor + best // factor
    cols = np.arange(C)[None, :] * factor + best % factor
    return values, rows, cols


NAN_LEVEL = 10**6  # sentinel level: a NaN entry (a diverged model), drawn off the colour map
NAN_COLOR = nan_color(TRUECOLOR)


def _level_color(level: int, system: str | None) -> Color:
    return nan_color(system) if level == NAN_LEVEL else diverging_color(level, system)


@lru_cache(maxsize=4096)
def _half_style(upper: int, lower: int | None, system: str | None) -> Style:
    """Style of a `▀` cell from two quantised diverging levels (None: no lower row)."""
    bgcolor = None if lower is None else _level_color(lower, system)
    return Style(color=_level_color(upper, system), bgcolor=bgcolor)


@lru_cache(maxsize=1024)
def _mark_style(level: int, system: str | None) -> Style:
    """The cursor's marks drawn over a cell: the cell's colour behind, black or white lines."""
    colour = _level_color(level, system)
    r, g, b = colour.get_truecolor()
    ink = "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#FFFFFF"
    return Style(color=ink, bgcolor=colour, bold=True)


def cursor_marks(width: int, full_lines: int) -> list[str]:
    """What the cursor draws on each full line of its cell (a line both of whose pixels lie in
    the cell): brackets on one line, a box on several. Only thin glyphs, so the colour shows."""
    if full_lines <= 0:
        return []
    if full_lines == 1:
        return ["[" + " " * (width - 2) + "]"]
    inner = width - 2
    return ["┌" + "─" * inner + "┐"] + ["│" + " " * inner + "│"] * (full_lines - 2) + ["└" + "─" * inner + "┘"]


def ascii_cell(value: float, vmax: float) -> str:
    """Two characters: sign (+, -, or space near 0) and magnitude on ASCII_RAMP."""
    if value != value:
        return " ?"
    level = min(len(ASCII_RAMP) - 1, int(round(abs(value) / vmax * (len(ASCII_RAMP) - 1)))) if vmax > 0 else 0
    sign = " " if level == 0 else ("+" if value > 0 else "-")
    return sign + ASCII_RAMP[level]


@dataclass(frozen=True)
class _Layout:
    factor: int  # matrix entries per displayed cell along each axis
    cell_width: int  # terminal columns per displayed cell
    cell_pixels: int  # half-line "pixels" per displayed cell: 1 (two rows a line), 2 or 4
    gutter: int  # width of the row-index column


def _color_sizes() -> tuple[tuple[int, int], ...]:
    """(cell_width, cell_pixels) in order of preference: the tallest cell first, each as wide as
    MAX_ASPECT allows down to square; last the dense forms of two matrix rows per line."""
    sizes = []
    for pixels in range(MAX_CELL_PIXELS, 1, -1):
        sizes += [(width, pixels) for width in range(int(MAX_ASPECT * pixels), pixels - 1, -1)]
    return (*sizes, (2, 1), (1, 1))


_COLOR_SIZES = _color_sizes()
_ASCII_SIZES = ((2, 2),)  # sign + magnitude, one matrix row per line


class HeatMap(NoColorAware, Widget, can_focus=True):
    """A signed n x n matrix with a diverging colour map centred on 0 and a cursor readout.

    `update_matrix(WᵀW, title=..., vmax=...)`: several heatmaps given the same vmax share one
    scale. Arrow keys or hjkl move the cursor; each move posts `HeatMap.CursorMoved`.
    """

    DEFAULT_CSS = """
    HeatMap {
        width: 1fr;
        height: 1fr;
        min-height: 6;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    BINDINGS = [
        Binding("up,k", "move_cursor(-1, 0)", "cursor", show=False),
        Binding("down,j", "move_cursor(1, 0)", "cursor", show=False),
        Binding("left,h", "move_cursor(0, -1)", "cursor", show=False),
        Binding("right,l", "move_cursor(0, 1)", "Cell", key_display="←→↑↓", id="heatmap.cursor"),
    ]

    @dataclass
    class CursorMoved(Message):
        """The cursor now reads matrix entry [row, col] (the block's peak when downsampled)."""

        row: int
        col: int
        value: float
        heatmap: "HeatMap | None" = None

        @property
        def control(self) -> "HeatMap | None":
            return self.heatmap

    def __init__(
        self,
        matrix: np.ndarray | None = None,
        *,
        title: str = "",
        labels: str = "feature",
        vmax: float | None = None,
        ascii: bool | None = None,
        symbol: str = "W^TW",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._matrix: np.ndarray | None = None
        self._title = title
        self._labels = labels
        self._vmax_given: float | None = vmax
        self._ascii = ascii
        self.symbol = symbol
        self._cursor = (0, 0)
        self._version = 0  # bumped on every change that alters the picture
        self._cache: tuple[tuple, Text] | None = None
        if matrix is not None:
            self.update_matrix(matrix, title=title, labels=labels, vmax=vmax)

    # ----- data -------------------------------------------------------------------------------
    def update_matrix(
        self, matrix: np.ndarray, *, title: str = "", labels: str = "feature", vmax: float | None = None
    ) -> None:
        """Show `matrix` (2-D, usually square). `vmax` fixes the colour scale to ±vmax (share it
        between heatmaps to compare them); by default the scale is ±max|v| of this matrix."""
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim != 2:
            raise ValueError(f"HeatMap needs a 2-D matrix, got shape {matrix.shape}")
        same = (
            self._matrix is not None
            and self._matrix.shape == matrix.shape
            and np.array_equal(self._matrix, matrix, equal_nan=True)
            and (title, labels, vmax) == (self._title, self._labels, self._vmax_given)
        )
        if same:
            return
        self._matrix = matrix.copy()
        self._title, self._labels, self._vmax_given = title, labels, vmax
        row, col = self._cursor
        self._cursor = (min(row, matrix.shape[0] - 1), min(col, matrix.shape[1] - 1))
        self._changed()

    def clear(self) -> None:
        self._matrix = None
        self._changed()

    @property
    def matrix(self) -> np.ndarray | None:
        return self._matrix

    @property
    def vmax(self) -> float:
        """Half-width of the colour scale in use."""
        if self._vmax_given is not None:
            return float(self._vmax_given)
        if self._matrix is None or not np.isfinite(self._matrix).any():
            return 0.0
        return float(np.nanmax(np.abs(np.where(np.isfinite(self._matrix), self._matrix, np.nan))))

    @property
    def cursor(self) -> tuple[int, int]:
        return self._cursor

    def _changed(self) -> None:
        self._version += 1
        self.refresh()

    # ----- layout ----------------------------------------------------------------------------
    def _layout(self, width: int, height: int) -> _Layout:
        assert self._matrix is not None
        n_rows, n_cols = self._matrix.shape
        gutter = len(str(max(n_rows - 1, 0))) + 1
        sizes = _ASCII_SIZES if self.ascii else _COLOR_SIZES
        avail_w = max(1, width - gutter)
        avail_pixels = 2 * max(1, height - CHROME_LINES)
        for factor in range(1, max(n_rows, n_cols) + 1):
            cells_r, cells_c = -(-n_rows // factor), -(-n_cols // factor)
            for cell_width, cell_pixels in sizes:
                if cells_c * cell_width <= avail_w and cells_r * cell_pixels <= avail_pixels:
                    return _Layout(factor, cell_width, cell_pixels, gutter)
        return _Layout(max(n_rows, n_cols), sizes[-1][0], sizes[-1][1], gutter)

    # ----- cursor ----------------------------------------------------------------------------
    def _current_layout(self) -> _Layout:
        return self._layout(self.content_size.width, self.content_size.height)

    def action_move_cursor(self, d_row: int, d_col: int) -> None:
        if self._matrix is None:
            return
        f = self._current_layout().factor
        n_rows, n_cols = self._matrix.shape
        row, col = self._cursor
        row = min(max((row // f + d_row) * f, 0), (n_rows - 1) // f * f)
        col = min(max((col // f + d_col) * f, 0), (n_cols - 1) // f * f)
        self.set_cursor(row, col)

    def set_cursor(self, row: int, col: int) -> None:
        """Put the cursor on matrix entry [row, col]; a move posts CursorMoved. Setting the
        position it already has posts nothing, so screens can mirror the cursor across several
        heatmaps from the message without echoes."""
        if self._matrix is None:
            return
        n_rows, n_cols = self._matrix.shape
        row, col = min(max(row, 0), n_rows - 1), min(max(col, 0), n_cols - 1)
        if (row, col) == self._cursor:
            return
        self._cursor = (row, col)
        self._changed()
        peak_row, peak_col, value = self._cursor_reading(self._current_layout().factor)
        self.post_message(self.CursorMoved(peak_row, peak_col, value, self))

    def _cursor_reading(self, factor: int) -> tuple[int, int, float]:
        """(row, col, value) under the cursor: the entry itself, or its block's peak."""
        assert self._matrix is not None
        row, col = self._cursor
        if factor <= 1:
            return row, col, float(self._matrix[row, col])
        r0, c0 = row // factor * factor, col // factor * factor
        block = self._matrix[r0 : r0 + factor, c0 : c0 + factor]
        mag = np.where(np.isnan(block), -1.0, np.abs(block))
        i, j = np.unravel_index(int(mag.argmax()), block.shape)
        return r0 + int(i), c0 + int(j), float(block[i, j])

    def readout(self) -> str:
        """The cursor line, e.g. `W^TW[3,7] = -0.412  (feature 3 × feature 7)`."""
        if self._matrix is None:
            return ""
        layout = self._current_layout()
        row, col, value = self._cursor_reading(layout.factor)
        pair = f"({self._labels} {row} × {self._labels} {col})"
        if layout.factor == 1:
            return f"{self.symbol}[{row},{col}] = {value:+.3f}  {pair}"
        f = layout.factor
        r0, c0 = self._cursor[0] // f * f, self._cursor[1] // f * f
        n_rows, n_cols = self._matrix.shape
        return (
            f"{self.symbol}[{r0}:{min(r0 + f, n_rows)},{c0}:{min(c0 + f, n_cols)}] peak "
            f"[{row},{col}] = {value:+.3f}  {pair}"
        )

    def on_click(self, event: events.Click) -> None:
        if self._matrix is None:
            return
        layout = self._current_layout()
        x, y = event.x - layout.gutter, event.y - 2  # title and header lines come first
        if x < 0 or y < 0:
            return
        cell_col = x // layout.cell_width
        cell_row = 2 * y // layout.cell_pixels  # a click lands on the upper half of a ▀ line
        self.set_cursor(cell_row * layout.factor, cell_col * layout.factor)

    # ----- rendering -------------------------------------------------------------------------
    def render(self) -> Text:
        width, height = self.content_size.width, self.content_size.height
        key = (self._version, width, height, self.has_focus, self.ascii, color_system(self))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        text = self._build(width, height)
        self._cache = (key, text)
        return text

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def _build(self, width: int, height: int) -> Text:
        if self._matrix is None or self._matrix.size == 0:
            return Text(self._title + ("\n" if self._title else "") + "no data yet", style="dim", no_wrap=True)
        layout = self._layout(width, height)
        vmax = self.vmax
        values, _, _ = pool_signed_max(self._matrix, layout.factor)  # [R, C]
        cur_r, cur_c = self._cursor[0] // layout.factor, self._cursor[1] // layout.factor
        lines: list[Text] = [self._title_line(layout), self._header_line(layout, values.shape[1], cur_c)]
        if self.ascii:
            lines += self._ascii_rows(values, vmax, layout, cur_r, cur_c)
        else:
            lines += self._half_block_rows(values, vmax, layout, cur_r, cur_c)
        lines.append(self._legend_line(vmax, width))
        readout = self.readout()
        if len(readout) > width > 0:  # a narrow pane (compare): the indices say which features
            readout = readout[: readout.rindex("  (")]
        lines.append(Text(readout, style="bold" if self.has_focus else ""))
        text = Text("\n", no_wrap=True, overflow="crop").join(lines)
        text.no_wrap = True
        text.overflow = "crop"
        return text

    def _title_line(self, layout: _Layout) -> Text:
        line = Text(self._title, style="bold")
        if layout.factor > 1:
            n = self._matrix.shape[0]
            note = f"{n}×{n} pooled {layout.factor}×{layout.factor} (signed max |v|)"
            line.append(("  " if self._title else "") + note, style="italic dim")
        return line

    def _header_line(self, layout: _Layout, cells: int, cursor_col: int) -> Text:
        """Column indices at a spacing that leaves room between labels; the cursor's is lit."""
        chars = [" "] * (layout.gutter + cells * layout.cell_width)
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 10**9) if s * layout.cell_width >= len(str(cells * layout.factor)) + 1)
        for c in range(0, cells, step):
            label = str(c * layout.factor)
            x = layout.gutter + c * layout.cell_width
            chars[x : x + len(label)] = label
        line = Text("".join(chars), style="dim")
        x = layout.gutter + cursor_col * layout.cell_width
        line.stylize(Style(color="black", bgcolor=CURSOR_COLOR) if not self.ascii else Style(reverse=True), x, x + layout.cell_width)
        return line

    def _gutter(self, layout: _Layout, label: int | None, lit: bool) -> Text:
        text = "" if label is None else str(label)
        if lit:
            style = Style(reverse=True) if self.ascii else Style(color="black", bgcolor=CURSOR_COLOR)
        else:
            style = Style(dim=True)
        # assemble, not Text(style=...) + Text: a base style would spread over the appended text
        return Text.assemble((text.rjust(layout.gutter - 1), style if text else Style()), " ")

    def _half_block_rows(self, values: np.ndarray, vmax: float, layout: _Layout, cur_r: int, cur_c: int) -> list[Text]:
        """Each displayed cell is cell_pixels half-lines tall; a line draws two of them as ▀."""
        system = color_system(self)
        with np.errstate(invalid="ignore", divide="ignore"):  # the same quantisation as diverging_level
            scaled = np.clip(values / vmax, -1.0, 1.0) if vmax > 0 else np.zeros_like(values)
        levels = np.round(np.nan_to_num(scaled) * DIVERGING_LEVELS).astype(int)  # [R, C]
        levels[np.isnan(values)] = NAN_LEVEL
        p = layout.cell_pixels
        pixel_cell = np.repeat(np.arange(values.shape[0]), p)  # cell row of each pixel row
        # The cursor cell's full lines (both pixels inside it) carry its marks.
        first_full = (cur_r * p + 1) // 2
        marks = cursor_marks(layout.cell_width, max(0, ((cur_r + 1) * p) // 2 - first_full))
        lines = []
        cells_c = values.shape[1]
        for top in range(0, len(pixel_cell), 2):
            upper_row = pixel_cell[top]
            lower_row = pixel_cell[top + 1] if top + 1 < len(pixel_cell) else None
            starts = top % p == 0 or (lower_row is not None and lower_row != upper_row)
            label_row = upper_row if top % p == 0 else lower_row
            lit = cur_r in (upper_row, lower_row)
            line = self._gutter(layout, label_row * layout.factor if starts else None, lit)
            uppers = levels[upper_row].tolist()
            lowers = [None] * cells_c if lower_row is None else levels[lower_row].tolist()
            mark = marks[top // 2 - first_full] if upper_row == lower_row == cur_r else None
            run_style, run_length = None, 0  # neighbouring cells of one colour become one span
            for c in range(cells_c):
                style = _half_style(uppers[c], lowers[c], system)
                if mark is not None and c == cur_c:
                    if run_length:
                        line.append(HALF_BLOCK * (run_length * layout.cell_width), run_style)
                    line.append(mark, _mark_style(uppers[c], system))
                    run_style, run_length = None, 0
                    continue
                if style is not run_style and run_length:
                    line.append(HALF_BLOCK * (run_length * layout.cell_width), run_style)
                    run_length = 0
                run_style, run_length = style, run_length + 1
            if run_length:
                line.append(HALF_BLOCK * (run_length * layout.cell_width), run_style)
            lines.append(line)
        return lines

    def _ascii_rows(self, values: np.ndarray, vmax: float, layout: _Layout, cur_r: int, cur_c: int) -> list[Text]:
        lines = []
        for r in range(values.shape[0]):
            line = self._gutter(layout, r * layout.factor, r == cur_r)
            line.append("".join(ascii_cell(v, vmax) for v in values[r]))
            if r == cur_r:
                x = layout.gutter + cur_c * 2
                line.stylize(Style(reverse=True, bold=True), x, x + 2)
            lines.append(line)
        return lines

    def _legend_line(self, vmax: float, width: int = 0) -> Text:
        """min, 0, max and the scale; in a pane too narrow for all of it (compare's), the scale
        in short and the values unnamed (`██ -0.374  ██ 0  ██ +0.843  ±0.843`), never cut in the
        middle of a number."""
        finite = self._matrix[np.isfinite(self._matrix)]
        if finite.size == 0:
            return Text("no finite values (diverged?)", style="bold red" if not self.ascii else "bold")
        lo, hi = float(finite.min()), float(finite.max())
        line = self._full_legend(lo, hi, vmax)
        if 0 < width < line.cell_len:
            line = self._full_legend(lo, hi, vmax, short=True)
        return line

    def _full_legend(self, lo: float, hi: float, vmax: float, short: bool = False) -> Text:
        scale = f"scale ±{vmax:.3g}" + (" (shared)" if self._vmax_given is not None else "")
        if short:
            scale = f"±{vmax:.3g}"
        if self.ascii:
            return Text(
                f"min {lo:+.3f} [{ascii_cell(lo, vmax)}]  0 [{ascii_cell(0.0, vmax)}]  max {hi:+.3f} "
                f"[{ascii_cell(hi, vmax)}]  " + (scale if short else f"|v| {ASCII_RAMP} {scale}")
            )
        system = color_system(self)
        line = Text()
        for label, value in (("min", lo), ("0", 0.0), ("max", hi)):
            line.append("██", Style(color=diverging_color(diverging_level(value, vmax), system)))
            if short:  # `██ -0.374  ██ 0  ██ +0.843  ±0.843`
                line.append(" 0  " if label == "0" else f" {value:+.3f}  ")
            else:
                line.append(f" {label}" + ("" if label == "0" else f" {value:+.3f}") + "  ")
        line.append(scale + " ", style="dim")
        if not short:
            for t in np.linspace(-1, 1, 9):
                line.append("█", Style(color=diverging_color(diverging_level(t * vmax, vmax), system)))
        return line
