"""The two widgets experiments added: feature norms coloured by superposition, and the partner
cosine across densities."""

from __future__ import annotations

import numpy as np
import pytest

from engine.science.metrics import feature_norms, superposition
from engine.palette import PAIR_COLORS, activation_color, sequential_color
from supertui.widgets.norm_bars import FeatureNormBars
from supertui.widgets.partner_cosine import PartnerCosinePlot
from tests.widgets.harness import WidgetHarness, sample_W


def bar_lines(widget) -> list[str]:
    return widget.render().plain.splitlines()[1:-1]


async def test_norm_bars_are_as_long_as_the_norms_and_print_both_numbers():
    W = np.array([[1.0, -1.0, 0.0, 0.2], [0.0, 0.0, 0.5, 0.0]])  # an antipodal pair, a lone feature, a small one
    bars = FeatureNormBars(ascii=True)
    async with WidgetHarness(bars).run_test(size=(60, 12)):
        bars.update_model(W)
        lines = bar_lines(bars)
        assert len(lines) == 4
        lengths = [line.count("#") for line in lines]
        assert lengths[0] == lengths[1] and abs(lengths[0] - 2 * lengths[2]) <= 1 and lengths[3] < lengths[2]
        for line, norm, shared in zip(lines, feature_norms(W), superposition(W)):
            assert line.endswith(f"{norm:5.2f}  s {shared:5.2f}")
        assert superposition(W)[0] >= 1  # the antipodal pair shares its direction whole
        np.testing.assert_allclose(bars.norms, feature_norms(W))
        np.testing.assert_allclose(bars.superpositions, superposition(W))


async def test_norm_bars_colour_is_the_superposition_on_the_shared_scale():
    W = sample_W()
    bars = FeatureNormBars(title="relu 0.01")
    async with WidgetHarness(bars).run_test(size=(80, 24)):
        bars.update_model(W)
        text = bars.render()
        assert text.plain.startswith("relu 0.01")
        colours = {str(span.style.color.triplet.hex).upper() for span in text.spans
                   if span.style and getattr(span.style, "color", None) is not None and span.style.color.triplet}
        expected = {sequential_color(min(s, 1.0)).upper() for s in superposition(W)}
        assert expected <= colours  # every bar in its superposition's colour (the legend adds more)


async def test_norm_bars_say_how_many_features_fit():
    bars = FeatureNormBars(ascii=True)
    async with WidgetHarness(bars).run_test(size=(60, 10)):
        bars.update_model(sample_W(5, 40))
        assert "features 0-" in bars.render().plain.splitlines()[0] and "of 40" in bars.render().plain


async def test_partner_cosine_plot_one_curve_per_kind_in_the_pair_colours():
    densities = np.geomspace(0.5, 0.01, 6)
    plot = PartnerCosinePlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves({"correlated": (densities, np.linspace(1, 0, 6)),
                            "anticorrelated": (densities, np.full(6, -1.0))})
        series = {s.label: s for s in plot.series}
        assert series["correlated"].color == PAIR_COLORS["correlated"]
        assert series["anticorrelated"].color == PAIR_COLORS["anticorrelated"]
        assert np.all(np.diff(series["correlated"].x) > 0)  # drawn left to right, sparse first
        text = plot.render().plain
        assert "density" in text and "-1" in text and "0.5" in text


async def test_partner_cosine_plot_compares_runs_by_activation_and_drops_unrepresented_pairs():
    densities = np.array([0.4, 0.1, 0.02])
    plot = PartnerCosinePlot()
    async with WidgetHarness(plot).run_test(size=(80, 24)):
        plot.update_curves({"relu · correlated": (densities, np.array([1.0, np.nan, 0.0])),
                            "relu · anticorrelated": (densities, np.array([-1.0, -1.0, -1.0]))})
        series = {s.label: s for s in plot.series}
        assert series["relu · correlated"].color == activation_color("relu")
        assert series["relu · correlated"].marker != series["relu · anticorrelated"].marker
        assert len(series["relu · correlated"].x) == 2  # NaN: a partner not represented, not drawn
        with pytest.raises(ValueError, match="x has shape .* but cosine has"):
            plot.update_curves({"x": (densities, np.zeros(2))})  # names the curve and the mismatch
