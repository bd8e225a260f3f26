"""Every widget at awkward sizes and with diverged (NaN) data: nothing raises, nothing overflows."""

import numpy as np
import pytest

from supertui.widgets import DStarPlot, HeatMap, LossPlot, NeuronBars, PhaseGrid
from supertui.widgets.heatmap import NAN_COLOR
from tests.widgets.harness import demo, dense_W, reference_phase_grid, sample_W


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_demo_app_with_every_widget(size):
    app = demo("all")
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for widget in app.query("HeatMap, NeuronBars, PhaseGrid, LossPlot, DStarPlot"):
            text = widget.render().plain
            assert "unavailable" not in text
            width = widget.content_size.width
            if isinstance(widget, (HeatMap, NeuronBars, PhaseGrid)):
                assert max(len(line) for line in text.splitlines()) <= max(width, 1) + 40  # clipped by CSS beyond
        await pilot.press("tab", "right", "tab", "b")


@pytest.mark.parametrize("size", [(12, 4), (20, 6), (30, 8)])
async def test_tiny_sizes(size):
    G = sample_W().T @ sample_W()
    widgets = [HeatMap(G), NeuronBars(dense_W(20, 200)), PhaseGrid(), LossPlot(), DStarPlot()]
    from tests.widgets.harness import WidgetHarness

    async with WidgetHarness(*widgets).run_test(size=size) as pilot:
        widgets[2].update_grid(*reference_phase_grid(40, 40))
        widgets[3].update_curves(np.arange(5), {"relu": np.geomspace(1, 0.1, 5)})
        widgets[4].update_curves({"relu": (np.array([1.0, 20.0]), np.array([1.0, 0.3]))})
        await pilot.pause()
        for widget in widgets:
            widget.render()
        widgets[0].focus()
        await pilot.press("right", "down", "left", "up")


async def test_diverged_weights():
    from tests.widgets.harness import WidgetHarness

    G = sample_W().T @ sample_W()
    G[0, :] = np.nan
    heat, dead, bars = HeatMap(G), HeatMap(np.full((4, 4), np.nan)), NeuronBars(np.full((3, 6), np.nan))
    async with WidgetHarness(heat, dead, bars).run_test(size=(80, 40)):
        text = heat.render()
        nan_cells = [s for s in text.spans if not isinstance(s.style, str) and s.style.color == NAN_COLOR]
        assert nan_cells  # NaN entries are grey, off the diverging map
        assert "min" in text.plain and "nan" not in text.plain.splitlines()[-2]
        assert "no finite values (diverged?)" in dead.render().plain
        assert "h0" in bars.render().plain


async def test_switching_to_ascii_redraws_every_coloured_widget():
    import numpy as np
    from textual.app import App, ComposeResult

    from supertui.widgets.heatmap import HeatMap
    from supertui.widgets.neuron_bars import NeuronBars
    from supertui.widgets.phase_grid import PhaseGrid

    class Harness(App):
        def compose(self) -> ComposeResult:
            yield HeatMap(np.array([[1.0, -0.5], [-0.5, 0.25]]), id="h")
            yield NeuronBars(np.array([[1.0, -0.5, 0.2]]), id="n")
            yield PhaseGrid(id="p")

    async with Harness().run_test(size=(80, 40)) as pilot:
        grid = pilot.app.query_one(PhaseGrid)
        grid.update_grid([0.1, 1.0], [0.5, 2.0], ["feature1", "superposition", None, "feature2"])
        for widget in pilot.app.query("#h, #n, #p"):
            await pilot.pause()
            colour = widget.render()
            widget.ascii = True
            await pilot.pause()
            assert widget.ascii and str(widget.render()) != str(colour), widget.id
