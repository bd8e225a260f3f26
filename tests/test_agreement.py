"""engine.science.agreement: the one encoding of seed agreement the app and the PNG share."""

import pytest

from engine.science.agreement import agreeing_seeds, agreement_alpha, agreement_label, agreement_shade, infer_seeds, legend_levels


def test_opacity_and_shade():
    assert agreement_alpha(1.0) == 1.0 and agreement_alpha(0.0) == pytest.approx(0.2)
    assert agreement_shade("#009E73", 1.0) == "#009E73"
    assert agreement_shade("#000000", 0.5) == "#666666"  # 60% black over white: 40% of 255
    assert agreement_shade("#000000", 0.5, background="#000000") == "#000000"


@pytest.mark.parametrize(
    "seeds, levels",
    [(1, [1]), (2, [2, 1]), (3, [3, 2, 1]), (5, [5, 4, 3, 1]), (10, [10, 9, 8, 7, 6, 5, 1])],
)
def test_legend_levels_down_to_half_and_the_lone_winner(seeds, levels):
    assert legend_levels(seeds) == levels


def test_labels_counts_and_inferred_seeds():
    assert agreement_label(2, 3) == "2/3 seeds agree"
    assert [agreeing_seeds(a, 3) for a in (1 / 3, 2 / 3, 1.0)] == [1, 2, 3]
    assert infer_seeds([1.0, 2 / 3, 1 / 3]) == 3
    assert infer_seeds([1.0, 0.5, 0.75]) == 4
    assert infer_seeds([1.0, 1.0]) == 1 and infer_seeds([]) == 1
