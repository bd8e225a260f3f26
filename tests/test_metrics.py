import math

import numpy as np
import pytest

from engine.science.metrics import (
    dims_per_feature,
    feature_dimensionality,
    feature_norms,
    gram,
    nearest_sticky,
    represented,
    superposition,
)


def polygon(k: int) -> np.ndarray:
    """k unit vectors evenly spread on a circle: W of shape [2, k]."""
    angles = 2 * math.pi * np.arange(k) / k
    return np.stack([np.cos(angles), np.sin(angles)])


SHAPES = {
    "identity": (np.eye(4), 1.0),
    "antipodal pair": (np.array([[1.0, -1.0]]), 1 / 2),
    "triangle": (polygon(3), 2 / 3),
    "pentagon": (polygon(5), 2 / 5),
}


@pytest.mark.parametrize("name", SHAPES)
def test_feature_dimensionality_of_geometric_arrangements(name):
    W, expected = SHAPES[name]
    np.testing.assert_allclose(feature_dimensionality(W), expected, rtol=1e-9)


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("scale", [0.1, 3.0])
def test_feature_dimensionality_is_scale_invariant(name, scale):
    W, expected = SHAPES[name]
    np.testing.assert_allclose(feature_dimensionality(scale * W), expected, rtol=1e-9)


def test_dims_per_feature_measures_scale_too():
    W = np.eye(3, 6)  # 3 features in their own dimension, 3 absent
    assert dims_per_feature(W) == pytest.approx(1.0)
    assert dims_per_feature(2 * W) == pytest.approx(0.25)


def test_gram_norms_and_superposition_of_an_antipodal_pair_plus_a_lone_feature():
    W = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.8]])
    np.testing.assert_allclose(gram(W), [[1, -1, 0], [-1, 1, 0], [0, 0, 0.64]])
    np.testing.assert_allclose(feature_norms(W), [1, 1, 0.8])
    np.testing.assert_allclose(superposition(W), [1, 1, 0])
    assert represented(W).tolist() == [True, True, True]
    assert represented(W * 0.5).tolist() == [True, True, False]


def test_metrics_broadcast_over_instances():
    W = np.stack([polygon(3), polygon(5)[:, :3]])  # [2, 2, 3]
    assert feature_dimensionality(W).shape == (2, 3)
    assert dims_per_feature(W).shape == (2,)


def test_zero_feature_has_dimensionality_zero():
    W = np.array([[1.0, 0.0]])
    np.testing.assert_allclose(feature_dimensionality(W), [1.0, 0.0])


def test_nearest_sticky_names_the_geometry():
    assert nearest_sticky(0.49) == (0.5, "antipodal pair")
    assert nearest_sticky(0.41)[1] == "pentagon"


def test_the_lowest_loss_seed_of_each_point_decides_and_a_diverged_one_never_does():
    from engine.instances import lowest_loss_instances

    point = np.array([0, 0, 0, 1, 1, 1])
    losses = np.array([0.3, 0.1, 0.2, np.nan, 0.5, 0.4])
    assert lowest_loss_instances(point, losses).tolist() == [1, 5]
    assert lowest_loss_instances(point, None).tolist() == [0, 3]
