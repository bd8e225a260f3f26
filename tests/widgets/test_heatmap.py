import numpy as np
import pytest
from rich.style import Style

from supertui.widgets.heatmap import ASCII_RAMP, CURSOR_COLOR, HeatMap, pool_signed_max
from supertui.widgets.palette import diverging
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


async def test_cells_are_half_blocks_coloured_by_value_and_cursor_is_marked():
    G = np.zeros((12, 12))
    G[0, 0], G[0, 1], G[1, 1] = 1.0, -1.0, 0.5
    hm = HeatMap(G)
    async with WidgetHarness(hm).run_test(size=(40, 12)):  # 8 lines for 12 rows: two rows per line
        text = hm.render()
        assert "▀" in text.plain
        styles = [style for chars, style in styled(text) if chars.startswith("▀")]
        colours = {(s.color, s.bgcolor) for s in styles}
        # Row 0 over row 1 in one terminal row: column 1 is (-1 over 0.5); the cursor owns (0, 0).
        assert (diverging(-1.0, 1.0), diverging(0.5, 1.0)) in colours
        assert any(s.color is not None and s.color.name.lower() == CURSOR_COLOR.lower() for s in styles)


async def test_shared_vmax_is_honoured():
    G = np.array([[0.5, -0.25], [-0.25, 0.5]])
    own, shared = HeatMap(G), HeatMap(G, vmax=2.0)
    async with WidgetHarness(own, shared).run_test(size=(60, 24)):
        assert own.vmax == pytest.approx(0.5) and shared.vmax == 2.0
        assert "scale ±2 (shared)" in plain(shared)
        assert "scale ±0.5" in plain(own)
        # The off-diagonal -0.25 (lower row, column 0) is coloured on each map's own scale.
        assert any(style.bgcolor == diverging(-0.25, 0.5) for _, style in styled(own.render()))
        assert any(style.bgcolor == diverging(-0.25, 2.0) for _, style in styled(shared.render()))
        assert diverging(-0.25, 0.5) != diverging(-0.25, 2.0)
        shared.update_matrix(G, vmax=None)
        assert shared.vmax == pytest.approx(0.5)


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
