import re

import pytest
from rich.style import Style


def test_log_tick_labels_are_thinned_to_fit_the_rows():
    from supertui.widgets.loss_plot import log_ticks, thin_ticks

    decades = log_ticks(1e-9, 10.0)  # eleven decades
    assert len(decades) == 11
    fitted = thin_ticks(decades, rows=8)
    assert len(fitted) <= 4 and fitted[0] == decades[0]
    assert thin_ticks(decades, rows=40) == decades


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (58, 15)])  # 58x15: a run view pane at 120x40
async def test_the_legend_sits_under_the_axes_and_never_covers_a_curve(size):
    """Issue 12: with seven densities plotext's legend (top left, inside the axes) hid the dense
    p=1 curve, which starts there. The legend is now a strip under the axes; every label is in
    it once, in its curve's colour, and p=1 is drawn in the corner the legend used to cover."""
    from supertui.widgets.loss_plot import LossPlot
    from tests.widgets.harness import WidgetHarness, sample_density_losses

    steps, curves = sample_density_losses()
    plot = LossPlot()
    async with WidgetHarness(plot).run_test(size=size):
        plot.update_curves(steps, curves)
        text = plot.render()
        lines = text.split("\n")
        assert len(lines) <= size[1]
        bottom = next(i for i, line in enumerate(lines) if "└" in line.plain)
        top = next(i for i, line in enumerate(lines) if "┌" in line.plain)
        inside, below = lines[top + 1 : bottom], lines[bottom + 1 :]
        colours = {s.label: s.color for s in plot.series}
        for label, colour in colours.items():
            assert not any(label in line.plain for line in inside)
            items = [line for line in below if re.search(rf"━━ {re.escape(label)}(\s|$)", line.plain)]
            assert len(items) == 1, label
            x = items[0].plain.index(f"━━ {label}")
            assert any(span.start == x and colour_of(span.style) == colour.lower() for span in items[0].spans)
        # p=1 in the top left quarter of the axes, where plotext's legend used to be.
        left = lines[top].plain.index("┌")
        width = len(lines[top].plain.rstrip()) - left
        corner = [
            span for line in inside[: len(inside) // 3] for span in line.spans
            if colour_of(span.style) == colours["p=1"].lower() and span.start < left + width // 4
        ]
        assert corner


def colour_of(style) -> str | None:
    style = Style.parse(style) if isinstance(style, str) else style
    return style.color.triplet.hex if style.color is not None and style.color.triplet is not None else None


def test_a_long_legend_is_cut_short_and_says_how_many_are_left():
    from supertui.widgets.plot_base import legend_lines

    entries = [(f"curve {i}", "#E69F00") for i in range(30)]
    lines = legend_lines(entries, width=40, max_lines=2)
    assert len(lines) == 2 and all(line.cell_len <= 40 for line in lines)
    shown = sum(line.plain.count("━━") for line in lines)
    assert lines[-1].plain.endswith(f"+{30 - shown} more")
    assert [line.plain for line in legend_lines(entries[:2], 40, 2)] == ["━━ curve 0  ━━ curve 1"]


def test_long_labels_each_keep_one_line_so_every_run_is_named():
    """Compare's overlaid losses showed only the first long label: it wrapped over the lines the
    others needed. Each label now keeps one line, cut before the id tail that tells runs apart."""
    from supertui.widgets.plot_base import fit_label, legend_lines

    labels = [f"preset=dims, n=20, batch_size={b}, +8 more ({tail})" for b, tail in ((512, "cfe9ec14"), (512, "7c604e02"))]
    labels += ["preset=correlated, n=4, batch_size=1024, +8 more"]
    lines = legend_lines([(label, "#E69F00") for label in labels], width=36, max_lines=4)
    assert len(lines) == 3 and all(line.cell_len <= 36 for line in lines)
    assert lines[0].plain.endswith("… (cfe9ec14)") and lines[1].plain.endswith("… (7c604e02)")
    assert lines[2].plain.startswith("━━ preset=correlated") and lines[2].plain.endswith("…")
    assert fit_label("relu", 10) == "relu" and fit_label("x" * 30 + " (" + "y" * 30 + ")", 20) == "x" * 19 + "…"
