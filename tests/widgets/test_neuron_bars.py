import numpy as np
import pytest

from supertui.widgets.neuron_bars import AXIS, NeuronBars
from tests.widgets.harness import WidgetHarness, dense_W


def bar_rows(widget):
    lines = widget.render().plain.splitlines()
    return [line for line in lines if AXIS in line and line.lstrip().startswith("h")]


async def test_positive_right_negative_left_with_legend():
    W = np.zeros((2, 3))
    W[0] = [0.5, -0.5, 0.0]
    W[1] = [0.0, 0.25, 0.75]
    bars = NeuronBars(W, ascii=True)
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        rows = bar_rows(bars)
        assert len(rows) == 2
        left0, right0 = rows[0].split(AXIS)
        assert "0" in right0 and "1" in left0.replace("h0", "")
        left1, right1 = rows[1].split(AXIS)
        assert right1.count("1") < right1.count("2")  # 0.25 vs 0.75
        # stacked outward from the axis in feature order, lengths proportional to weight
        assert right1.strip().startswith("1") and right1.strip().endswith("2")
        assert right1.strip().count("1") * 3 == pytest.approx(right1.strip().count("2"), abs=3)
        legend = bars.render().plain.splitlines()[-1]
        assert legend.startswith("features") and "0" in legend and "2" in legend


async def test_colour_mode_labels_segments_and_shows_coloured_legend():
    W = dense_W()
    bars = NeuronBars(W, title="relu 0.1")
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        text = bars.render()
        assert text.plain.startswith("relu 0.1")
        legend = text.plain.splitlines()[-1]
        for i in range(10):
            assert f" {i} " in legend
        assert any(getattr(s.style, "bgcolor", None) is not None for s in text.spans)
        # m=5 fits two lines per neuron at 80x24
        assert len([l for l in text.plain.splitlines() if AXIS in l]) == 10


async def test_no_color_uses_feature_glyphs(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    bars = NeuronBars(dense_W())
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        assert bars.ascii
        rows = bar_rows(bars)
        assert any(ch.isdigit() for ch in rows[0].split(AXIS)[1])
        assert all(getattr(s.style, "bgcolor", None) is None for s in bars.render().spans)


async def test_many_features_show_top_per_neuron_and_say_so():
    W = dense_W(20, 200)
    bars = NeuronBars(W)
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        assert bars.summarised
        text = bars.render().plain
        assert "top 6 of 200 features per neuron" in text
        top = int(np.argmax(np.abs(W[0])))
        row0 = bar_rows(bars)[0]
        assert f"{top}:{W[0, top]:+.2f}" in row0
        assert all(len(line) <= 80 for line in text.splitlines())


async def test_bars_fit_80x24_and_neurons_beyond_the_height_are_counted():
    bars = NeuronBars(dense_W(40, 10))
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        text = bars.render().plain
        assert "neurons 0-" in text and "of 40" in text
        assert len(text.splitlines()) <= 24


async def test_same_weights_do_not_redraw():
    W = dense_W()
    bars = NeuronBars(W)
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        v = bars._version
        bars.update_weights(W.copy())
        assert bars._version == v
        bars.update_weights(W + 1)
        assert bars._version == v + 1


def test_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\[m, n\]"):
        NeuronBars().update_weights(np.zeros(4))
