import numpy as np
import pytest
from rich.color import Color, ColorSystem

from engine.science.agreement import LEGEND_SWATCH, agreement_alpha, agreement_shade
from engine.science.phase import PHASES
from supertui.widgets.palette import PHASE_COLORS
from supertui.widgets.phase_grid import (
    BOUNDARY_MARK,
    TRIPLE_MARK,
    CURSOR_MARK,
    UNTRAINED,
    PhaseGrid,
    boundary_crosses,
    triple_point_box,
)
from supertui.widgets.terminal_colors import PHASE_COLORS_16
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
        assert not bgcolours(text) - {PHASE_COLORS[p] for p in PHASES} - _legend_swatches(3)  # only the legend
        grid.update_grid(d, r, phases[:18] + [None] * 18)
        text = grid.render()
        assert "18/36 points" in text.plain
        assert PHASE_COLORS["superposition"].upper() in bgcolours(text)


def _legend_swatches(seeds):
    return {agreement_shade(LEGEND_SWATCH, k / seeds) for k in range(1, seeds + 1)}


async def test_legend_axes_and_ticks():
    grid = PhaseGrid(title="relu phases")
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid(*reference_phase_grid(12, 12, trained=0.9))
        text = grid.render().plain
        for label in ("feature 1 only", "feature 2 only", "superposition", "neither", "not yet trained", "exact ReLU boundary"):
            assert label in text
        assert "density 1-S (log)" in text and "relative importance" in text
        lines = text.splitlines()
        tick_line = next(line for line in lines if "0.01" in line)
        assert "0.1" in tick_line.replace("0.01", "") and tick_line.rstrip().endswith("1")
        assert lines[1].lstrip().startswith("10")  # largest importance at the top
        assert any(line.lstrip().startswith("0.1") for line in lines[-8:-3])


@pytest.mark.parametrize("width", [58, 38])  # the run view's phase pane at 120x40, compare's at 80x24
async def test_axis_names_and_the_readout_fit_narrow_panes(width):
    grid = PhaseGrid()
    grid.styles.width = width
    async with WidgetHarness(grid).run_test(size=(120, 40)):
        grid.update_grid(*reference_phase_grid(6, 6, trained=0.5))
        grid.set_cursor(0, 1)
        lines = grid.render().plain.splitlines()
        assert max(map(len, lines)) <= width
        names = next(line for line in lines if "density" in line and "importance r" in line)
        assert names.rstrip().endswith(("r of feature 2", "importance r"))
        readout = " ".join(lines[-2:]) if width < 50 else lines[-1]
        assert readout.endswith("seeds agree") and readout.startswith(f"density {grid._densities[0]:.3g}")


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


def test_boundary_geometry_is_the_exact_reference():
    # The exact boundary (SCIENCE.md 7.4) lies at s = 0.1812 at r = 0.1 and r = 10, not at the
    # closed-form bound's 0.16, and its triple point at s = 0.7131, not 4/7.
    assert boundary_crosses(0.175, 0.19, 0.1, 0.105)
    assert not boundary_crosses(0.15, 0.17, 0.1, 0.105)  # where the bound's line runs
    assert boundary_crosses(0.175, 0.19, 9.5, 10.0)
    assert not boundary_crosses(0.5, 0.9, 0.1, 0.105)
    # The r = 1 line (feature 1 | feature 2) exists only above the triple point.
    assert boundary_crosses(0.8, 0.9, 0.95, 1.05)
    assert not boundary_crosses(0.6, 0.65, 0.95, 1.05)  # the bound's r = 1 line started at 4/7
    assert not boundary_crosses(0.2, 0.3, 0.95, 1.05)
    s_edges, r_edges = np.array([0.5, 0.7, 0.75, 0.9]), np.array([2.0, 1.1, 0.9, 0.5])
    assert triple_point_box(s_edges, r_edges) == (1, 1)
    assert triple_point_box(np.array([0.01, 0.1]), r_edges) is None


async def test_the_triple_point_is_marked():
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(120, 40)):
        grid.update_grid(*reference_phase_grid(12, 12))
        plain = grid.render().plain
        assert plain.count(TRIPLE_MARK) == 2  # on the grid, and in the legend
        grid.show_boundary = False
        assert grid.render().plain.count(TRIPLE_MARK) == 1


SUPERPOSITION_ROW = ["superposition"] * 3 + ["feature1"]


async def test_agreement_is_graded_as_in_the_png():
    """Issue 12: the app drew 1/3 and 2/3 agreement in one shade, so in the quick ReLU run every
    superposition cell read as 'split'. Each level k/N is now its own shade: the phase colour at
    the PNG's opacity over white."""
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid([0.01, 0.03, 0.1, 1.0], [1.0], SUPERPOSITION_ROW, [1.0, 2 / 3, 1 / 3, 1.0], seeds=3)
        colours = bgcolours(grid.render())
        shades = [agreement_shade(PHASE_COLORS["superposition"], k / 3) for k in (3, 2, 1)]
        assert shades[0] == PHASE_COLORS["superposition"].upper() and len(set(shades)) == 3
        assert set(shades) <= colours
        for cell in (1, 2):  # the cursor marks a cell without hiding its shade
            grid.set_cursor(cell, 0)
            assert set(shades) <= bgcolours(grid.render()) and CURSOR_MARK in grid.render().plain
        # The PNG draws the phase colour with alpha 0.2 + 0.8 k/N over white: the same pixels.
        for k, shade in zip((3, 2, 1), shades):
            assert np.abs(np.subtract(png_pixel(PHASE_COLORS["superposition"], agreement_alpha(k / 3)), hex_rgb(shade))).max() <= 1


def hex_rgb(colour):
    return [int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]


def png_pixel(colour, alpha):
    """The colour matplotlib's Agg draws for a patch of `colour` at `alpha` on a white figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(0.2, 0.2), dpi=50)
    canvas = FigureCanvasAgg(fig)
    fig.patches.append(__import__("matplotlib.patches").patches.Rectangle((0, 0), 1, 1, transform=fig.transFigure, facecolor=colour, alpha=alpha))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[5, 5, :3].tolist()


async def test_legend_names_the_levels_in_the_pngs_words():
    """One wording in the run view, compare and the PNG: 'k/N seeds agree', not 'split' or
    'lighter: seeds disagree'; the same levels the PNG's legend lists."""
    from engine.export.figures import phase_legend_handles

    png_labels = [h.get_label() for h in phase_legend_handles(3) if "seeds agree" in h.get_label()]
    assert png_labels == ["3/3 seeds agree", "2/3 seeds agree", "1/3 seeds agree"]
    wide, short = PhaseGrid(), PhaseGrid()
    short.styles.height = 8
    async with WidgetHarness(wide, short).run_test(size=(80, 40)):
        for grid in (wide, short):
            grid.update_grid([0.01, 0.03, 0.1, 1.0], [1.0, 2.0], SUPERPOSITION_ROW * 2, [1.0, 2 / 3, 1 / 3, 1.0] * 2, seeds=3)
        full, compact = wide.render().plain, short.render().plain
        assert "f1" in compact and "f1" not in full  # the short pane uses the compact legend
        for text in (full, compact):
            assert "split" not in text and "disagree" not in text and "lighter" not in text
        for label in png_labels:
            assert label in full
        assert "3/3 2/3 1/3 agree" in " ".join(compact.split())


async def test_seeds_are_inferred_when_not_given():
    """The run view and compare pass agreement fractions only: N comes from their levels."""
    grid = PhaseGrid()
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        grid.update_grid([0.01, 0.03, 0.1, 1.0], [1.0], SUPERPOSITION_ROW, [1.0, 2 / 3, 1 / 3, 1.0])
        assert grid.seeds == 3 and "2/3 seeds agree" in grid.render().plain
        grid.update_grid([0.01, 0.03, 0.1, 1.0], [1.0], SUPERPOSITION_ROW, [1.0, 1.0, 1.0, 1.0])
        assert grid.seeds == 1 and "seeds agree" not in grid.render().plain.splitlines()[-1]


@pytest.mark.parametrize("system, term", [("256", "xterm-256color"), ("standard", "xterm")])
async def test_levels_and_phases_stay_apart_in_256_and_16_colours(monkeypatch, system, term):
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TERM", term)
    grid = PhaseGrid()
    grid.show_boundary = False
    async with WidgetHarness(grid).run_test(size=(80, 24)):
        assert grid.app.console.color_system == system
        phases = ["superposition"] * 3 + ["feature1", "feature2", "neither", "neither"]
        densities = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
        grid.update_grid(densities, [1.0], phases, [1.0, 2 / 3, 1 / 3, 1.0, 1.0, 1.0, 1.0], seeds=3)
        grid.set_cursor(6, 0)  # the cursor's reverse video off the cells looked at
        row = next(line for line in grid.render().split("\n") if line.plain.startswith("    1"))
        cells = [row[6 + 4 * i : 10 + 4 * i] for i in range(6)]
        depth = ColorSystem.EIGHT_BIT if system == "256" else ColorSystem.STANDARD
        drawn = []
        for cell in cells:
            (style,) = [span.style for span in cell.spans]
            drawn.append((cell.plain, *(c.downgrade(depth).number if c else None for c in (style.color, style.bgcolor))))
        assert len(set(drawn)) == 6, drawn  # three levels of one phase, three other phases
        if system == "standard":
            solid = [d for d in drawn if d[0] == "    "]
            assert sorted(bg for _, _, bg in solid) == sorted(PHASE_COLORS_16[p] for p in ("superposition", "feature1", "feature2", "neither"))
            assert {d[0] for d in drawn[1:3]} == {"▓▓▓▓", "▒▒▒▒"}  # 2/3 and 1/3: paler glyphs over white


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
        assert "1600/1600 points" in text and "20 of 40 rows hidden" in text
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
        assert readout == f"density {d[0]:.3g}  r {r[1]:.3g}: superposition, 1/2 seeds agree"
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
        legend = [line for line in grid.render().split("\n") if "seeds agree" in line.plain or "feature 1 only" in line.plain]
        assert legend
        for line in legend:
            for segment in line.render(console):
                if segment.style is not None and segment.style.bgcolor is not None:
                    assert segment.text == "  ", repr(segment.text)


async def test_a_pane_too_small_for_the_grid_says_what_it_hides():
    """A 12x12 grid in a 38x16 pane (the 120x40 run view's): the first line says how many rows
    are hidden, whole, and nothing of it is cut at the pane's edge."""
    grid = PhaseGrid(title="phases n=2 m=1")
    async with WidgetHarness(grid).run_test(size=(38, 16)):
        grid.update_grid(*reference_phase_grid(12, 12, trained=1.0))
        first = grid.render().plain.splitlines()[0]
        cols, rows = grid._shown
        assert len(rows) < 12
        assert f"{12 - len(rows)} of 12 rows hidden" in first and len(first) <= 38, first
