import math

import numpy as np
import pytest

from engine.training.activations import BLOG_ACTIVATIONS
from engine.science.phase import PHASES
from supertui.widgets import palette
from supertui.widgets.sparkline import BLOCKS, sparkline_text


def test_blog_activations_have_distinct_fixed_colours():
    colours = [palette.activation_color(name) for name in BLOG_ACTIVATIONS]
    assert len(set(colours)) == len(BLOG_ACTIVATIONS)
    assert palette.activation_color("ReLU") == palette.activation_color("relu")


def test_unknown_activation_colour_is_stable_and_valid():
    a = palette.activation_color("stretched_sigmoid")
    assert a == palette.activation_color("stretched_sigmoid")
    assert a.startswith("#") and len(a) == 7


def test_every_phase_has_a_colour_label_and_glyph():
    for phase in PHASES:
        assert palette.phase_color(phase) and palette.PHASE_LABELS[phase] and palette.PHASE_GLYPHS[phase]
    assert len({palette.phase_color(p) for p in PHASES}) == len(PHASES)


def test_feature_colours_cycle():
    n = len(palette.CATEGORICAL)
    assert len({palette.feature_color(i) for i in range(n)}) == n
    assert palette.feature_color(n + 2) == palette.feature_color(2)


def test_diverging_is_centred_symmetric_and_saturates():
    white = palette.diverging(0.0, 1.0).triplet
    assert min(white) > 230  # near-white at 0
    neg, pos = palette.diverging(-1.0, 1.0).triplet, palette.diverging(1.0, 1.0).triplet
    assert neg.blue > neg.red and pos.red > pos.blue
    assert palette.diverging(5.0, 1.0) == palette.diverging(1.0, 1.0)
    assert palette.diverging(0.3, 0.0) == palette.diverging(0.0, 1.0)  # no scale: centre
    assert palette.diverging(float("nan"), 1.0) == palette.diverging(0.0, 1.0)
    # A larger shared scale makes the same value paler (closer to the centre colour).
    assert palette.diverging_level(0.5, 2.0) < palette.diverging_level(0.5, 1.0)


def test_sparkline_decreasing_loss_on_log_scale():
    line = sparkline_text(np.geomspace(1, 1e-3, 100), width=16)
    assert len(line) == 16 and line[0] == BLOCKS[-1] and line[-1] == BLOCKS[0]
    # log scale: a geometric decay descends evenly, not a cliff then flat
    assert len(set(line)) == len(BLOCKS)


def test_sparkline_short_series_one_char_each():
    assert len(sparkline_text([3, 2, 1], width=16)) == 3


@pytest.mark.parametrize("values", [[], [math.nan], [1.0, 1.0, 1.0], [0.0, -1.0], [math.inf, 1.0]])
def test_sparkline_robust(values):
    line = sparkline_text(values, width=8)
    assert len(line) == len(values)
    assert set(line) <= set(BLOCKS) | {" "}


def test_sparkline_constant_sits_mid_and_missing_is_blank():
    assert sparkline_text([2.0, 2.0]) == BLOCKS[3] * 2
    assert sparkline_text([1.0, math.nan, 0.1])[1] == " "
    assert sparkline_text([1.0, 0.0, 0.1], log=True)[1] == " "
    assert sparkline_text([1.0, 0.0, 0.1], log=False)[1] == BLOCKS[0]


def test_sparkline_zero_width():
    assert sparkline_text([1, 2, 3], width=0) == ""


def test_label_colours_are_stable_across_plots_and_distinct_within_one():
    a = palette.label_colors([f"run-{i}" for i in range(6)])
    assert len(set(a.values())) == 6
    # a run's colour is its name's hash colour unless an earlier label on the plot took it
    alone = {label: palette.label_colors([label])[label] for label in a}
    labels = list(a)
    for i, label in enumerate(labels):
        earlier = {a[other] for other in labels[:i]}
        assert a[label] == alone[label] or alone[label] in earlier
    assert palette.label_colors(["run-5", "run-0"])["run-5"] == alone["run-5"]
    both = palette.label_colors(["relu · 9978", "relu · 1234", "gelu"])
    assert both["relu · 9978"] == palette.activation_color("relu")
    assert both["gelu"] == palette.activation_color("gelu")
    assert len(set(both.values())) == 3  # the second relu run gets a colour of its own
