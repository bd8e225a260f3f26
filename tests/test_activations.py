import json
import math

import numpy as np
import pytest
import torch

from engine.experiments import validate_config
from engine import BLOG_ACTIVATIONS, RunConfig, activation_names, build_activation, register_activation, resolve_run, train
from engine.errors import ConfigError
from engine.training.model import init_weights


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
    result = train(resolve_run(config))
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


def _losses_after_changing_instance(axis: str, k: int):
    """Per-instance losses of three models sharing a batch, before and after instance k's
    weights change (engine.training.model.instance_losses with SoLU's softmax on `axis`)."""
    from engine.training.data import feature_batch
    from engine.training.model import instance_losses

    f = build_activation("solu", {"axis": axis})
    generator = torch.Generator().manual_seed(3)
    W = torch.randn(3, 2, 5, generator=generator)  # [K, m, n]
    b = torch.zeros(3, 5)
    x = feature_batch(torch.arange(3), torch.tensor([1.0, 0.5, 0.2]), 5, 64)  # [K, n, batch]
    importance = torch.ones(3, 5)
    before = instance_losses(W, b, x, importance, f)
    W2 = W.clone()
    W2[k] *= 3.0
    return before, instance_losses(W2, b, x, importance, f)


def test_instance_axis_solu_couples_the_instances_and_the_feature_axis_does_not():
    before, after = _losses_after_changing_instance("feature", 0)
    assert after[0] != before[0]
    assert torch.equal(after[1:], before[1:])  # the others never see instance 0
    before, after = _losses_after_changing_instance("instance", 0)
    assert after[0] != before[0]
    assert (after[1:] != before[1:]).all()  # instance 0 enters their softmax


def test_solu_axis_is_a_checked_choice_and_other_parameters_numbers():
    validate_config(RunConfig(activation="solu", activation_params={"axis": "instance"}))
    with pytest.raises(ConfigError, match=r"activation_params.axis: solu's axis must be one of feature, instance, got 'batch'"):
        validate_config(RunConfig(activation="solu", activation_params={"axis": "batch"}))
    with pytest.raises(ConfigError, match=r"activation_params.eps: stretched_sigmoid's eps must be a finite number, got 'x'"):
        validate_config(RunConfig(activation="stretched_sigmoid", activation_params={"eps": "x"}))
    # a config with a named parameter survives JSON
    config = RunConfig(activation="solu", activation_params={"axis": "instance"})
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
