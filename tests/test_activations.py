import math

import numpy as np
import pytest
import torch

from engine import BLOG_ACTIVATIONS, RunConfig, activation_names, build_activation, register_activation, train
from engine.errors import ConfigError
from engine.model import init_weights


def test_the_blog_seven_and_the_stretched_sigmoid_are_registered():
    assert BLOG_ACTIVATIONS == ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu")
    assert set(BLOG_ACTIVATIONS) | {"stretched_sigmoid"} <= set(activation_names())


def test_solu_takes_its_softmax_over_the_features_of_one_sample():
    z = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]])  # [1 instance, n=3, batch=2]
    out = build_activation("solu")(z)
    expected = z[0, :, 0] * torch.softmax(z[0, :, 0], dim=0)
    assert torch.allclose(out[0, :, 0], expected)
    assert torch.allclose(out[0, :, 1], torch.zeros(3))  # all-zero sample: z * 1/3 = 0


def test_stretched_sigmoid_spans_minus_eps_to_one_plus_eps():
    f = build_activation("stretched_sigmoid", {"eps": 0.2})
    z = torch.tensor([-50.0, 0.0, 50.0])
    assert torch.allclose(f(z), torch.tensor([-0.2, 0.5, 1.2]), atol=1e-6)
    with pytest.raises(ConfigError, match="eps"):
        build_activation("stretched_sigmoid", {"eps": -1.0})


def test_a_new_activation_trains_by_name_without_touching_training_code():
    register_activation("leaky_relu_test", "test-only", slope=0.1)(
        lambda slope: (lambda z: torch.nn.functional.leaky_relu(z, slope))
    )
    config = RunConfig(activation="leaky_relu_test", activation_params={"slope": 0.05}, n=5, m=2,
                       densities=(0.1,), steps=20, batch_size=64, compile=False)
    result = train(config)
    assert result.W.shape == (1, 2, 5) and np.isfinite(result.final_loss).all()


def test_per_model_xavier_does_not_depend_on_how_many_models_share_the_batch():
    few, _ = init_weights(torch.arange(2), n=200, m=20, init="xavier")
    many, _ = init_weights(torch.arange(50), n=200, m=20, init="xavier")
    assert torch.equal(few, many[:2])  # the same seed gives the same model
    assert many.std().item() == pytest.approx(math.sqrt(2 / 220), rel=0.02)


def test_batched_xavier_reproduces_the_3d_tensor_fans_of_anthropics_notebook():
    W, b = init_weights(torch.arange(40), n=200, m=20, init="xavier_batched")
    assert W.std().item() == pytest.approx(math.sqrt(2 / (20 * (200 + 40))), rel=0.02)
    assert torch.count_nonzero(b) == 0
    # and it matches what torch's own xavier_normal_ gives on that tensor
    reference = torch.nn.init.xavier_normal_(torch.empty(40, 200, 20))
    assert W.std().item() == pytest.approx(reference.std().item(), rel=0.03)
