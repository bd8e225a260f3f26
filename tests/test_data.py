import numpy as np
import pytest
import torch

from engine.experiments.sparsity import input_batch
from engine.training.data import feature_batch


def test_empirical_density_matches_each_instance_within_one_percent():
    densities = torch.tensor([1.0, 0.5, 0.1, 0.03, 0.01])
    x = feature_batch(torch.arange(5), densities, n=50, batch=100_000)  # [5, 50, 200000]
    observed = (x > 0).double().mean(dim=(1, 2))
    relative_error = (observed - densities.double()).abs() / densities.double()
    assert relative_error.max() < 0.01, observed


def test_values_lie_in_unit_interval_and_are_uniform_when_present():
    x = feature_batch(torch.tensor([7, 8]), torch.tensor([0.3, 1.0]), n=20, batch=50_000)
    assert x.min() >= 0 and x.max() <= 1
    present = x[1].flatten()
    assert abs(present.mean().item() - 0.5) < 0.01  # U[0, 1] has mean 1/2 ...
    assert abs(present.var().item() - 1 / 12) < 0.005  # ... and variance 1/12


def test_a_seed_gives_the_same_stream_whatever_shares_its_batch():
    alone = feature_batch(torch.tensor([3]), torch.tensor([0.2]), n=4, batch=64, step=11)
    together = feature_batch(torch.tensor([9, 3, 1]), torch.tensor([0.5, 0.2, 0.9]), n=4, batch=64, step=11)
    assert torch.equal(alone[0], together[1])


def test_steps_and_seeds_give_different_data():
    a = feature_batch(torch.tensor([0]), torch.tensor([1.0]), 3, 256, step=0)
    b = feature_batch(torch.tensor([0]), torch.tensor([1.0]), 3, 256, step=1)
    c = feature_batch(torch.tensor([1]), torch.tensor([1.0]), 3, 256, step=0)
    assert not torch.equal(a, b) and not torch.equal(a, c)
    # no correlation between neighbouring steps
    corr = np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1]
    assert abs(corr) < 0.1


@pytest.mark.parametrize("density", [0.5, 0.01])
def test_input_batch_has_the_blog_shape(density):
    x = input_batch(20, 100, density)
    assert x.shape == (20, 100)
