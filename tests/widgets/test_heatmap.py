import colorsys
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rich._palettes import EIGHT_BIT_PALETTE
from rich.color import ColorSystem
from rich.style import Style

from supertui.widgets.heatmap import ASCII_RAMP, CURSOR_COLOR, HeatMap, pool_signed_max
from supertui.widgets.palette import diverging
from supertui.widgets.terminal_colors import DIVERGING_16, DIVERGING_256
from tests.widgets.harness import WidgetHarness, sample_W


def gram_of(W):
    return W.T @ W


def plain(widget) -> str:
    return widget.render().plain


def styled(text):
    """(characters, Style) of every span of a rich Text."""
    return [(text.plain[s.start : s.end], Style.parse(s.style) if isinstance(s.style, str) else s.style) for s in text.spans]


class Recorder(WidgetHarness):
    def __init__(self, *widgets, **kwargs):
        super().__init__(*widgets, **kwargs)
        self.moves: list[HeatMap.CursorMoved] = []

    def on_heat_map_cursor_moved(self, message: HeatMap.CursorMoved) -> None:
        self.moves.append(message)


async def test_legend_readout_and_cursor_keys():
    G = gram_of(sample_W())
    hm = HeatMap(G, title="WᵀW relu")
    app = Recorder(hm)
    async with app.run_test(size=(80, 24)) as pilot:
        hm.focus()
        await pilot.pause()
        text = plain(hm)
        assert "WᵀW relu" in text
        assert f"min {G.min():+.3f}" in text and f"max {G.max():+.3f}" in text and " 0 " in text
        assert "W^TW[0,0] = " in text
        await pilot.press("right", "right", "down", "l", "j", "j", "h")
        await pilot.pause()
        assert hm.cursor == (3, 2)
        assert f"W^TW[3,2] = {G[3, 2]:+.3f}  (feature 3 × feature 2)" in plain(hm)
        last = app.moves[-1]
        assert (last.row, last.col) == (3, 2) and last.value == pytest.approx(G[3, 2])
        assert last.control is hm
        # The cursor cannot leave the matrix.
        await pilot.press(*["up"] * 20, *["left"] * 20)
        assert hm.cursor == (0, 0)


async def test_cells_are_half_blocks_coloured_by_value():
    G = np.zeros((12, 12))
    G[0, 0], G[0, 1], G[1, 1] = 1.0, -1.0, 0.5
    hm = HeatMap(G)
    async with WidgetHarness(hm).run_test(size=(40, 12)):  # 8 lines for 12 rows: two rows per line
        text = hm.render()
        assert "▀" in text.plain
        styles = [style for chars, style in styled(text) if chars.startswith("▀")]
        colours = {(s.color, s.bgcolor) for s in styles}
        # Row 0 over row 1 in one terminal row: column 0 is (1 over 0), column 1 (-1 over 0.5).
        assert (diverging(1.0, 1.0), diverging(0.0, 1.0)) in colours
        assert (diverging(-1.0, 1.0), diverging(0.5, 1.0)) in colours


def hex_of(color) -> str | None:
    return color.triplet.hex if color is not None and color.triplet is not None else None


def cell_colours(hm, row, col):
    """{(characters, Style)} drawn inside matrix cell [row, col] (factor 1) of a rendered heatmap."""
    layout = hm._current_layout()
    lines = hm.render().split("\n")[2 : 2 + -(-hm.matrix.shape[0] * layout.cell_pixels // 2)]
    x0 = layout.gutter + col * layout.cell_width
    out = []
    for y, line in enumerate(lines):
        if row * layout.cell_pixels <= 2 * y + 1 and 2 * y < (row + 1) * layout.cell_pixels:
            out += styled(line[x0 : x0 + layout.cell_width])
    return out


@pytest.mark.parametrize("size", [(80, 24), (60, 17)])
async def test_the_cursor_marks_its_cell_without_hiding_the_colour(size):
    """Issue 12: the cursor started on [0,0] painted gold over it, so the first diagonal entry
    could not be read. Now every line of the cursor's cell still shows the entry's colour."""
    G = gram_of(sample_W())
    hm = HeatMap(G)
    async with Recorder(hm).run_test(size=size) as pilot:
        for row, col in ((0, 0), (3, 7)):
            hm.set_cursor(row, col)
            await pilot.pause()
            own = diverging(G[row, col], hm.vmax)
            inside = cell_colours(hm, row, col)
            assert inside and all(own in (style.color, style.bgcolor) for _, style in inside)
            assert not any(CURSOR_COLOR.lower() in (hex_of(style.color), hex_of(style.bgcolor)) for _, style in inside)
            marks = "".join(chars for chars, style in inside if style.bgcolor == own and style.color != own)
            assert set(marks) & set("[]┌┐└┘"), marks  # thin marks drawn over the colour
            lines = hm.render().split("\n")
            gutter_labels = [line for line in lines[2:] if line.plain[: hm._current_layout().gutter].strip() == str(row)]
            assert gutter_labels and any(hex_of(style.bgcolor) == CURSOR_COLOR.lower() for _, style in styled(gutter_labels[0]))


@pytest.mark.parametrize("size, width", [((60, 17), 58), ((80, 24), 78)])
async def test_a_ten_by_ten_gram_uses_the_pane(size, width):
    """Issue 12: a 10x10 WᵀW drew 2-column cells, 20 of 58 columns. Cells grow until the pane is
    used, but stay square-ish: at most 1.5 times as wide as tall (a line is two columns tall)."""
    hm = HeatMap(gram_of(sample_W()))
    async with WidgetHarness(hm).run_test(size=size):
        layout = hm._current_layout()
        assert layout.factor == 1
        assert layout.cell_pixels <= layout.cell_width <= 1.5 * layout.cell_pixels
        assert 10 * layout.cell_width >= width // 2
        lines = hm.render().plain.splitlines()
        assert len(lines) <= size[1] and max(map(len, lines)) <= size[0]


async def test_shared_vmax_is_honoured():
    G = np.array([[0.5, -0.25], [-0.25, 0.5]])
    own, shared = HeatMap(G), HeatMap(G, vmax=2.0)
    async with WidgetHarness(own, shared).run_test(size=(120, 24)):  # room for the whole legend
        assert own.vmax == pytest.approx(0.5) and shared.vmax == 2.0
        assert "scale ±2 (shared)" in plain(shared)
        assert "scale ±0.5" in plain(own)
        # The off-diagonal -0.25 (lower row, column 0) is coloured on each map's own scale.
        assert any(style.bgcolor == diverging(-0.25, 0.5) for _, style in styled(own.render()))
        assert any(style.bgcolor == diverging(-0.25, 2.0) for _, style in styled(shared.render()))
        assert diverging(-0.25, 0.5) != diverging(-0.25, 2.0)
        shared.update_matrix(G, vmax=None)
        assert shared.vmax == pytest.approx(0.5)


async def test_a_narrow_heatmap_shortens_its_legend_and_readout_instead_of_cutting_them():
    """Compare's WᵀW panes are 36 cells wide: the legend lost its scale mid-word ("sc") and the
    readout its feature pair mid-word; now they take a short form that fits."""
    G = np.array([[0.5, -0.25], [-0.25, 0.5]])
    narrow, wide = HeatMap(G, vmax=0.843), HeatMap(G, vmax=0.843)
    async with WidgetHarness(narrow).run_test(size=(36, 24)):
        lines = plain(narrow).splitlines()
        width = narrow.content_size.width
        assert all(len(line) <= width for line in lines), (width, lines)
        assert lines[-2].strip() == "██ -0.250  ██ 0  ██ +0.500  ±0.843" and lines[-1].strip() == "W^TW[0,0] = +0.500"
    async with WidgetHarness(wide).run_test(size=(120, 24)):
        assert "scale ±0.843 (shared)" in plain(wide) and "(feature 0 × feature 0)" in plain(wide)


async def test_no_color_switches_to_ascii_ramp(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    G = gram_of(sample_W())
    hm = HeatMap(G)
    async with WidgetHarness(hm).run_test(size=(80, 24)):
        text = plain(hm)
        assert "▀" not in text
        assert "+@" in text  # the largest positive entry: sign and top of the ramp
        assert "-" in text and ASCII_RAMP in text  # the legend explains the ramp
        assert all(style.color is None and style.bgcolor is None for _, style in styled(hm.render()))


async def test_a_terminal_without_colours_gets_the_ascii_ramp(monkeypatch):
    """TERM=dumb: Textual draws no colour at all, so coloured cells would be blank."""
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", "dumb")
    hm = HeatMap(gram_of(sample_W()))
    async with WidgetHarness(hm).run_test(size=(80, 24)):
        assert hm.app.console.color_system is None
        assert "▀" not in plain(hm) and "+@" in plain(hm)


async def test_ascii_flag_without_no_color():
    hm = HeatMap(np.array([[1.0, -0.5], [-0.5, 0.0]]), ascii=True)
    async with WidgetHarness(hm).run_test(size=(40, 10)):
        rows = plain(hm).splitlines()[2:4]
        assert rows[0].endswith("+@-%") or "+@" in rows[0]
        assert " ." in rows[1]


async def test_cell_width_follows_available_width():
    G = gram_of(sample_W(10, 40))
    hm = HeatMap(G)
    app = WidgetHarness(hm)
    async with app.run_test(size=(120, 40)) as pilot:
        wide = hm._current_layout()
        assert wide.factor == 1 and wide.cell_width == 2
        await pilot.resize_terminal(50, 30)
        await pilot.pause()
        narrow = hm._current_layout()
        assert narrow.factor == 1 and narrow.cell_width == 1
        assert max(len(line) for line in plain(hm).splitlines()[1:-2]) <= 50


async def test_large_matrix_is_downsampled_and_says_so():
    W = sample_W(20, 200)
    G = gram_of(W)
    hm = HeatMap(G, title="n=200")
    async with WidgetHarness(hm).run_test(size=(80, 24)) as pilot:
        layout = hm._current_layout()
        assert layout.factor > 1
        text = plain(hm)
        f = layout.factor
        assert f"200×200 pooled {f}×{f} (signed max |v|)" in text
        grid = text.splitlines()[2:-2]
        assert len(grid) <= 24 - 4 and all(len(line) <= 80 for line in grid)
        hm.focus()
        await pilot.press("right")
        # The readout names the block and where its peak is.
        f = layout.factor
        assert f"W^TW[0:{f},{f}:{2 * f}] peak" in plain(hm)


def test_pool_keeps_the_sign_of_the_largest_magnitude():
    M = np.array([[0.1, -0.9, 0.2], [0.3, 0.4, 0.0], [0.5, 0.0, -0.05]])
    values, rows, cols = pool_signed_max(M, 2)
    assert values.shape == (2, 2)
    assert values[0, 0] == -0.9 and (rows[0, 0], cols[0, 0]) == (0, 1)
    assert values[1, 1] == -0.05 and values[1, 0] == 0.5


async def test_update_with_same_matrix_does_not_redraw():
    G = gram_of(sample_W())
    hm = HeatMap(G)
    async with WidgetHarness(hm).run_test(size=(60, 20)):
        version = hm._version
        hm.update_matrix(G.copy())
        assert hm._version == version
        hm.update_matrix(G * 2)
        assert hm._version == version + 1


def test_rejects_non_matrix():
    with pytest.raises(ValueError, match="2-D"):
        HeatMap().update_matrix(np.zeros(3))


async def test_click_moves_the_cursor():
    G = gram_of(sample_W())
    hm = HeatMap(G)
    app = Recorder(hm)
    async with app.run_test(size=(80, 24)) as pilot:
        layout = hm._current_layout()
        # column 3, row 4: x past the gutter, y past the title and header lines
        x = layout.gutter + 3 * layout.cell_width
        y = 2 + 4 * layout.cell_pixels // 2
        await pilot.click(HeatMap, offset=(x, y))
        assert hm.cursor == (4, 3)
        assert (app.moves[-1].row, app.moves[-1].col) == (4, 3)


async def test_mirrored_cursors_do_not_echo():
    """A screen that copies one heatmap's cursor to another must not loop forever."""
    G = gram_of(sample_W())
    left, right = HeatMap(G, id="left"), HeatMap(G, id="right")

    class Mirror(Recorder):
        # Textual also calls Recorder's handler (handlers run along the MRO), which records.
        def on_heat_map_cursor_moved(self, message):
            other = right if message.control is left else left
            other.set_cursor(*message.control.cursor)

    app = Mirror(left, right)
    async with app.run_test(size=(80, 40)) as pilot:
        left.focus()
        await pilot.press("right", "down")
        await pilot.pause()
        assert right.cursor == left.cursor == (1, 1)
        assert len(app.moves) == 4  # two moves of left, each mirrored once


# ----- colour systems ------------------------------------------------------------------------
TERMINALS = {  # what a user's terminal sets, and the colour system Rich detects from it
    "truecolor": {"COLORTERM": "truecolor", "TERM": "xterm-256color"},
    "256": {"TERM": "xterm-256color"},  # e.g. over SSH: no COLORTERM
    "standard": {"TERM": "xterm"},
}
SCALES = {"256": DIVERGING_256, "standard": DIVERGING_16}


def use_terminal(monkeypatch, system):
    monkeypatch.delenv("COLORTERM", raising=False)
    for name, value in TERMINALS[system].items():
        monkeypatch.setenv(name, value)


def hue_and_lightness(rgb) -> tuple[float, float]:
    h, l, _ = colorsys.rgb_to_hls(*(c / 255 for c in rgb))
    return h * 360, l


def entry_colour(hm, row, col):
    """The colour matrix entry [row, col] is drawn in: the background of most of its cell's
    lines (cells at least two pixels tall: a line shared with the next cell is the minority)."""
    assert hm._current_layout().cell_pixels >= 2
    return Counter(style.bgcolor for _, style in cell_colours(hm, row, col)).most_common(1)[0][0]


@pytest.mark.parametrize("system", ["truecolor", "256", "standard"])
async def test_the_scale_stays_blue_white_red_in_every_colour_system(monkeypatch, system):
    """Issue 12: over SSH in a 256-colour terminal, strong positive entries showed magenta
    (Rich's nearest entry to RdBu's red is #AF005F). Each system gets its own blue-white-red
    scale, handed over as colours the terminal receives unchanged."""
    use_terminal(monkeypatch, system)
    M = np.linspace(-1.0, 1.0, 81).reshape(9, 9)  # every level of the scale, ±1 at the corners
    hm = HeatMap(M)
    async with WidgetHarness(hm).run_test(size=(80, 30)):
        assert hm.app.console.color_system == system
        received = {}
        for (row, col), value in np.ndenumerate(M):
            colour = entry_colour(hm, row, col)
            if system == "truecolor":
                assert colour == diverging(value, 1.0)
                continue
            number = colour.downgrade(ColorSystem.EIGHT_BIT if system == "256" else ColorSystem.STANDARD).number
            assert number in SCALES[system], (value, number)
            received[value] = number
        if system == "truecolor":
            return
        scale = SCALES[system]
        assert received[-1.0] == scale[0] and received[1.0] == scale[-1] and received[0.0] == scale[len(scale) // 2]
        # Sorted by value, the entries walk the scale in order: blue ... white ... red.
        walked = [scale.index(received[v]) for v in sorted(received)]
        assert walked == sorted(walked) and len(set(walked)) == len(scale)
    for number in DIVERGING_256[:4]:
        hue, _ = hue_and_lightness(EIGHT_BIT_PALETTE[number])
        assert 195 <= hue <= 245, (number, hue)  # blue
    for number in DIVERGING_256[5:]:
        hue, _ = hue_and_lightness(EIGHT_BIT_PALETTE[number])
        assert hue >= 345 or hue <= 25, (number, hue)  # red, not magenta (#AF005F is 327°)
    lightness = [hue_and_lightness(EIGHT_BIT_PALETTE[n])[1] for n in DIVERGING_256]
    assert lightness[:5] == sorted(lightness[:5]) and lightness[4:] == sorted(lightness[4:], reverse=True)
    assert set(DIVERGING_16) == {4, 12, 15, 9, 1}  # blue, bright blue, bright white, bright red, red


def sgr_cells(line: str) -> list[tuple[str, str | None, str | None]]:
    """(character, foreground, background) of each character of a `tmux capture-pane -e` line;
    colours as '5;N' (256 colours), '2;R;G;B' (truecolor) or 'N' (the 16 colours, 0-15)."""
    fg = bg = None
    out = []
    for match in re.finditer(r"\x1b\[([0-9;]*)m|(.)", line):
        if match.group(2) is not None:
            out.append((match.group(2), fg, bg))
            continue
        codes = [int(c) for c in match.group(1).split(";") if c] or [0]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48):
                size = 3 if codes[i + 1] == 5 else 5
                value = ";".join(map(str, codes[i + 1 : i + size]))
                fg, bg = (value, bg) if code == 38 else (fg, value)
                i += size
                continue
            if code == 0:
                fg = bg = None
            elif code == 39:
                fg = None
            elif code == 49:
                bg = None
            elif 30 <= code <= 37 or 90 <= code <= 97:
                fg = str(code - 30 if code < 90 else code - 82)
            elif 40 <= code <= 47 or 100 <= code <= 107:
                bg = str(code - 40 if code < 100 else code - 92)
            i += 1
    return out


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("system, term", [("256", "xterm-256color"), ("standard", "xterm")])
def test_a_real_terminal_receives_only_the_scales_colours(system, term):
    """The heatmap demo in tmux with COLORTERM unset: every half-block cell the terminal draws
    is coloured from that system's blue-white-red scale, and both ends of it are used."""
    from tests.test_terminal import Terminal

    root = str(Path(__file__).resolve().parents[2])
    env = {"TERM": term, "PYTHONPATH": root, "PATH": os.environ.get("PATH", "")}
    command = f"env -u COLORTERM {shlex.quote(sys.executable)} -m tests.widgets.harness heatmap"
    terminal = Terminal(command, 80, 24, env)
    try:
        terminal.wait_for("W^TW[0,0]")
        captured = subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", terminal.name], capture_output=True, text=True).stdout
    finally:
        terminal.close()
    expected = {f"5;{n}" for n in DIVERGING_256} if system == "256" else {str(n) for n in DIVERGING_16}
    seen = {colour for line in captured.splitlines() for char, fg, bg in sgr_cells(line) if char == "▀" for colour in (fg, bg)}
    assert seen and seen <= expected, seen - expected
    ends = {f"5;{DIVERGING_256[-1]}", f"5;{DIVERGING_256[0]}"} if system == "256" else {"1", "4"}
    assert len(seen & ends) >= 1 and {f"5;{DIVERGING_256[4]}", "15"} & seen
