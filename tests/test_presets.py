import numpy as np
import pytest

from engine import PRESETS, instance_table, preset_config
from engine.errors import ConfigError


def test_sparsity_preset_is_the_blogs_first_experiment():
    c = preset_config("sparsity")
    assert (c.n, c.m) == (10, 5)
    assert c.densities[0] == 1.0 and c.densities[-1] == pytest.approx(0.001)
    importance = instance_table(c).importance[0]
    assert (np.diff(importance) < 0).all()  # importance decays with i


def test_phase_preset_grids_density_by_relative_importance_on_log_axes():
    c = preset_config("phase")
    assert (c.n, c.m) == (2, 1)
    assert c.densities[0] == pytest.approx(0.01) and c.densities[-1] == pytest.approx(1.0)
    assert c.relative_importances[0] == pytest.approx(0.1) and c.relative_importances[-1] == pytest.approx(10)
    assert np.allclose(np.diff(np.log(c.densities)), np.log(c.densities[1] / c.densities[0]))
    table = instance_table(c)
    assert len(table) == len(c.densities) * len(c.relative_importances) * c.seeds
    assert np.allclose(table.importance[:, 0], 1.0)
    assert np.allclose(table.importance[:, 1], table.relative_importance)


def test_paper_phase_is_a_40_by_40_grid_with_5_seeds_and_10k_steps():
    c = PRESETS["phase"].paper
    assert (len(c.densities), len(c.relative_importances), c.seeds, c.steps) == (40, 40, 5, 10_000)


def test_dims_preset_follows_20_to_the_minus_linspace():
    c = preset_config("dims")
    assert (c.n, c.m) == (200, 20)
    np.testing.assert_allclose(c.densities, 20.0 ** -np.linspace(0, 1, 20))
    assert np.allclose(instance_table(c).importance, 1.0)


def test_every_field_can_be_overridden_and_is_checked():
    c = preset_config("dims", steps=7, lr=0.01, densities=(0.5,))
    assert (c.steps, c.lr, c.densities) == (7, 0.01, (0.5,))
    with pytest.raises(ConfigError, match="^m: "):
        preset_config("dims", m=300)
