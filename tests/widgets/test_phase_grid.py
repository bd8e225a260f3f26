import numpy as np
import pytest

from engine.phase import PHASES
from supertui.widgets.palette import PHASE_COLORS, blend
from supertui.widgets.phase_grid import (
    BOUNDARY_MARK,
    CURSOR_MARK,
    DISAGREE_AMOUNT,
    DISAGREE_TOWARD,
    UNTRAINED,
    PhaseGrid,
    boundary_crosses,
)
from tests.widgets.harness import WidgetHarness, reference_phase_grid


def bgcolours(text):
    out = set()
    for span in text.spans:
        style = span.style
        if not isinstance(style, str) and style.bgcolor is not None:
            out.add(style.bgcolor.triplet.hex.upper())
    return out


async def test_untrained_points_are_dots_and_fill_in():
    d, r, phases, agreement = reference_phase_grid(6, 6)
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(d, r, [None] * 36)
        grid.show_boundary = False
        text = grid.render()
        assert "0/36 points" in text.plain
        # one per cell, one in the legend, less the cell under the cursor
        assert text.plain.count(UNTRAINED) == 36 + 1 - 1 and CURSOR_MARK in text.plain
        assert not bgcolours(text) - {PHASE_COLORS[p] for p in PHASES} - {_legend_light()}  # only legend swatches
        grid.update_grid(d, r, phases[:18] + [None] * 18)
        text = grid.render()
        assert "18/36 points" in text.plain
        assert PHASE_COLORS["superposition"].upper() in bgcolours(text)


def _legend_light():
    return blend(PHASE_COLORS["superposition"], DISAGREE_TOWARD, DISAGREE_AMOUNT).upper()


async def test_legend_axes_and_ticks():
    grid = PhaseGrid(title="relu phases")
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(*reference_phase_grid(12, 12))
        text = grid.render().plain
        for label in ("feature 1 only", "feature 2 only", "superposition", "neither", "not yet trained", "exact ReLU boundary"):
            assert label in text
        assert "density 1-S (log)" in text and "relative importance" in text
        lines = text.splitlines()
        tick_line = next(line for line in lines if "0.01" in line)
        assert "0.1" in tick_line.replace("0.01", "") and tick_line.rstrip().endswith("1")
        assert lines[1].lstrip().startswith("10")  # largest importance at the top
        assert any(line.lstrip().startswith("0.1") for line in lines[-8:-3])


async def test_relu_phases_land_on_the_expected_side_of_the_boundary():
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        d, r, phases, _ = reference_phase_grid(12, 12)
        grid.update_grid(d, r, phases)
        assert grid.phase_at(0, 0) == "superposition"  # sparse: both features share
        assert grid.phase_at(11, 0) == "feature1"  # dense, feature 2 unimportant
        assert grid.phase_at(11, 11) == "feature2"


async def test_boundary_marks_toggle_with_b():
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)) as pilot:
        grid.update_grid(*reference_phase_grid(12, 12))
        grid.focus()
        await pilot.pause()
        marks = grid.render().plain.count(BOUNDARY_MARK)
        assert marks > 12  # a curve, not a point (one is in the legend)
        await pilot.press("b")
        assert not grid.show_boundary
        assert grid.render().plain.count(BOUNDARY_MARK) == 1  # the legend only
        assert "b: show" in grid.render().plain
        await pilot.press("b")
        assert grid.render().plain.count(BOUNDARY_MARK) == marks


def test_boundary_geometry():
    # The superposition boundary crosses s = 4r/(2+5r) below r=1 and 4/(5+2r) above.
    assert boundary_crosses(0.15, 0.17, 0.09, 0.11)  # s_b(0.1) = 0.16
    assert not boundary_crosses(0.5, 0.9, 0.09, 0.11)
    assert boundary_crosses(0.15, 0.17, 9.0, 11.0)  # s_b(10) = 0.16
    # The r = 1 line exists only above the triple point density 4/7.
    assert boundary_crosses(0.8, 0.9, 0.95, 1.05)
    assert not boundary_crosses(0.2, 0.3, 0.95, 1.05)


async def test_disagreeing_seeds_are_lighter():
    d, r = [0.01, 1.0], [0.1, 10.0]
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(d, r, ["superposition", "superposition", "feature1", "feature2"], [1.0, 0.5, 1.0, 1.0])
        colours = bgcolours(grid.render())
        assert PHASE_COLORS["feature1"].upper() in colours
        lighter = blend(PHASE_COLORS["superposition"], DISAGREE_TOWARD, DISAGREE_AMOUNT).upper()
        assert lighter in colours


async def test_no_color_uses_phase_letters(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        d, r, phases, agreement = reference_phase_grid(12, 12)
        grid.update_grid(d, r, phases, np.ones(len(phases)))
        text = grid.render()
        assert "SSSS" in text.plain and "1111" in text.plain and "2222" in text.plain
        assert "*" in text.plain and not bgcolours(text)


async def test_paper_grid_fits_80x24_by_showing_a_subset():
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(*reference_phase_grid(40, 40))
        text = grid.render().plain
        assert "1600/1600 points" in text and "showing" in text
        assert len(text.splitlines()) <= 24 and max(map(len, text.splitlines())) <= 80


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(phases=["feature1"] * 3), "expected 4 points"),
        (dict(phases=["feature1", "bogus", None, None]), "unknown phase 'bogus'"),
        (dict(phases=[None] * 4, agreement=[1.0]), "agreement"),
    ],
)
def test_bad_input_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PhaseGrid().update_grid([0.1, 1.0], [0.5, 2.0], **kwargs)


async def test_same_grid_does_not_redraw():
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        args = reference_phase_grid(6, 6)
        grid.update_grid(*args)
        v = grid._version
        grid.update_grid(*args)
        assert grid._version == v


class PointRecorder(WidgetHarness):
    def __init__(self, *widgets, **kwargs):
        super().__init__(*widgets, **kwargs)
        self.points: list[PhaseGrid.PointSelected] = []

    def on_phase_grid_point_selected(self, message: PhaseGrid.PointSelected) -> None:
        self.points.append(message)


async def test_cursor_reads_out_the_point_and_posts_it():
    d, r, phases, _ = reference_phase_grid(12, 12, trained=0.5)
    agreement = np.ones(len(phases))
    agreement[1] = 0.5
    grid = PhaseGrid()
    app = PointRecorder(grid)
    async with app.run_test(size=(80, 24)) as pilot:
        grid.update_grid(d, r, phases, agreement)
        grid.focus()
        await pilot.press("up")  # r index 0 -> 1 (up is larger r)
        assert grid.cursor == (0, 1)
        readout = grid.render().plain.splitlines()[-1]
        assert readout == f"density {d[0]:.3g}  r {r[1]:.3g}: superposition, 50% of seeds agree"
        message = app.points[-1]
        assert (message.density_index, message.importance_index, message.phase) == (0, 1, "superposition")
        assert message.agreement == 0.5 and message.control is grid
        await pilot.press(*["right"] * 11)
        assert grid.cursor == (11, 1)
        assert grid.render().plain.splitlines()[-1].endswith("not yet trained")
        await pilot.press(*["right"] * 3, *["down"] * 3)
        assert grid.cursor == (11, 0)  # clamped to the grid


async def test_cursor_walks_the_shown_points_of_a_subsampled_grid():
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)) as pilot:
        grid.update_grid(*reference_phase_grid(40, 40))
        grid.focus()
        await pilot.pause()
        await pilot.press("up")
        cols, rows = grid._shown
        assert len(rows) < 40 and grid.cursor == (0, int(rows[1]))


async def test_small_pane_switches_to_a_compact_legend_to_keep_every_row():
    grid = PhaseGrid()
    grid.styles.height = 16
    grid.styles.width = 58
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(*reference_phase_grid(12, 12))
        text = grid.render().plain
        assert "showing" not in text  # all 12 importances drawn
        assert "f1" in text and "both" in text and "density 1-S (log)" not in text
        assert len(text.splitlines()) <= 16


async def test_legend_swatches_colour_only_themselves():
    from rich.console import Console

    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(100, 30)):
        grid.update_grid(*reference_phase_grid(6, 6))
        console = Console(width=100, color_system="truecolor")
        legend = [line for line in grid.render().split("\n") if "seeds disagree" in line.plain or "feature 1 only" in line.plain]
        assert legend
        for line in legend:
            for segment in line.render(console):
                if segment.style is not None and segment.style.bgcolor is not None:
                    assert segment.text == "  ", repr(segment.text)
