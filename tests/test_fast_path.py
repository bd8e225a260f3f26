"""The fast training path: hand-written gradients, the compiled step, and the eager fallback.

The gradient tests are exact checks against torch.func for every registered activation on each
of the three code paths (features unrolled, broadcast, batched matmul): the derivative comes from
the activation's own definition (value and slope, or value and pullback). Two tests compile for
real (marked slow: a cold compile takes 10-30 s on 2 cores, a warm one a few).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from engine import activations
from engine.activations import SHIPPED_ACTIVATIONS, activation_names, build_activation_math
from engine.config import RunConfig
from engine.data import feature_batch
from engine.gradients import SMALL_MODEL_WEIGHTS, UNROLL_MAX_WEIGHTS, losses_and_grads, losses_and_grads_unrolled, with_gradient
from engine.model import instance_losses
from engine.phase import classify
from engine.train import train

train_module = importlib.import_module("engine.train")


def reference(W, b, x, importance, f):
    """Per-instance losses and gradients by torch.func, the definition the fast path must match."""

    def total(W, b):
        losses = instance_losses(W, b, x, importance, f)
        return losses.sum(), losses

    (gW, gb), (_, losses) = torch.func.grad_and_value(total, argnums=(0, 1), has_aux=True)(W, b)
    return losses, gW, gb


def problem(n, m, K=3, batch=64, scale=1.0):
    generator = torch.Generator().manual_seed(n * 100 + m)
    W = torch.randn(K, m, n, generator=generator) * scale  # [K, m, n]
    b = torch.randn(K, n, generator=generator) * 0.3  # [K, n]
    x = feature_batch(torch.arange(K), torch.tensor([1.0, 0.4, 0.05])[:K], n, batch, step=3)  # [K, n, batch]
    importance = torch.rand(K, n, generator=generator) + 0.1  # [K, n]
    # float64, so the comparison tests the calculus rather than float32 rounding
    return W.double(), b.double(), x.double(), importance.double()


@pytest.mark.parametrize("name", activation_names())
@pytest.mark.parametrize("n,m", [(2, 1), (3, 2), (10, 5), (20, 6)])
def test_written_gradients_match_torch_func(name, n, m):
    act = build_activation_math(name)
    W, b, x, importance = problem(n, m, scale=1.5)  # large enough that SoLU and sigmoid saturate somewhere
    want = reference(W, b, x, importance, act.forward)
    got = losses_and_grads(W, b, x, importance, with_gradient(act))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    if m * n <= UNROLL_MAX_WEIGHTS and act.fast:
        unrolled = losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, act)
        for g, w in zip(unrolled, want):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", SHIPPED_ACTIVATIONS)
def test_every_shipped_activation_is_on_the_fast_path(name):
    act = build_activation_math(name)
    assert act.fast, f"{name} has no written derivative: it would train through torch.func"
    # elementwise ones say so (their features are unrolled one by one); only SoLU couples features
    assert act.couples_features == (name == "solu")
    assert (act.value_and_slope is None) == act.couples_features


def test_the_forward_is_read_off_the_same_definition():
    z = torch.linspace(-4, 4, 41, dtype=torch.float64).view(1, 41, 1)
    for name, reference_f in [("relu", torch.relu), ("gelu", torch.nn.functional.gelu), ("silu", torch.nn.functional.silu),
                              ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
        act = build_activation_math(name)
        torch.testing.assert_close(act.forward(z), reference_f(z))
        y, slope = act.value_and_slope(z)
        torch.testing.assert_close(y, act.forward(z))
        torch.testing.assert_close(slope, torch.func.vmap(torch.func.grad(lambda t: reference_f(t)))(z.flatten()).view_as(z))


def test_the_three_paths_are_all_exercised():
    assert 2 * 1 <= UNROLL_MAX_WEIGHTS < 10 * 5 <= SMALL_MODEL_WEIGHTS < 20 * 6


def test_parametrised_activation_gets_its_parameter():
    act = build_activation_math("stretched_sigmoid", {"eps": 0.3})
    W, b, x, importance = problem(3, 2)
    want = reference(W, b, x, importance, act.forward)
    got = losses_and_grads(W, b, x, importance, act)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n,m", [(2, 1), (10, 5), (20, 6)])  # unrolled, broadcast and matmul paths
def test_instance_axis_solu_has_the_exact_gradient_of_the_summed_loss(n, m):
    """Its softmax runs over the instances, so instance k's gradient collects every instance's
    loss: the written pullback must equal torch.func's gradient of the sum."""
    act = build_activation_math("solu", {"axis": "instance"})
    assert act.fast and act.couples_instances and not act.couples_features
    W, b, x, importance = problem(n, m, scale=1.5)
    want = reference(W, b, x, importance, act.forward)
    for got in [losses_and_grads(W, b, x, importance, act)] + (
            [losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, act)] if m * n <= UNROLL_MAX_WEIGHTS else []):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.fixture
def user_activation(monkeypatch):
    """A user's activation registered by name only: no derivative written anywhere."""
    monkeypatch.setitem(activations._REGISTRY, "test_softplus", activations._REGISTRY["relu"])
    activations.register_activation("test_softplus", "softplus, added by a user")(
        lambda: torch.nn.functional.softplus
    )
    return "test_softplus"


def test_user_activation_falls_back_to_autograd_with_one_warning(user_activation):
    act = build_activation_math(user_activation)
    assert not act.fast
    W, b, x, importance = problem(10, 5)
    want = reference(W, b, x, importance, act.forward)
    got = losses_and_grads(W, b, x, importance, with_gradient(act))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    seen = []
    result = train(RunConfig(activation=user_activation, n=2, m=1, steps=30, batch_size=64, compile=False),
                   on_warning=seen.append)
    assert result.status == "completed" and np.isfinite(result.W).all()
    assert result.loss_history[-1, 0] < result.loss_history[0, 0]
    assert len(seen) == 1 and "torch.func.vjp" in seen[0] and user_activation in seen[0] and "\n" not in seen[0]


def test_a_builtin_name_registered_anew_never_uses_the_old_derivative(monkeypatch):
    monkeypatch.setitem(activations._REGISTRY, "relu", activations._REGISTRY["relu"])
    activations.register_activation("relu", "a user's own relu")(lambda: torch.nn.functional.softplus)
    act = build_activation_math("relu")
    assert not act.fast and act.forward is torch.nn.functional.softplus


def phase_grid_config(**changes) -> RunConfig:
    return RunConfig(
        preset="phase", activation="relu", n=2, m=1, densities=(1.0, 0.3, 0.02), relative_importances=(0.3, 1.0, 3.0),
        seeds=2, steps=400, batch_size=512, lr=1e-2, snapshots=5, compile=True,
    ).replace(**changes)


@pytest.mark.slow
def test_compiled_and_eager_paths_agree_per_instance():
    stages = []
    compiled = train(phase_grid_config(), on_progress=lambda p: stages.append(p.stage), progress_interval=0.0)
    eager = train(phase_grid_config(compile=False))
    assert compiled.compiled and not eager.compiled
    assert stages[0] == "compiling" and stages[-1] == "done"  # compiling is shown, never mistaken for a hang
    np.testing.assert_allclose(compiled.final_loss, eager.final_loss, rtol=0.03, atol=1e-4)
    for Wc, We in zip(compiled.W, eager.W):
        assert classify(Wc) == classify(We)
    np.testing.assert_allclose(compiled.W, eager.W, rtol=1e-2, atol=1e-3)
    # a new learning rate, step count and grid size reuse the compiled graph: no recompiling
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    again = train(phase_grid_config(lr=3e-3, steps=30, densities=(0.5,), seeds=3))
    assert again.compiled and torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs


@pytest.mark.slow
def test_compiled_path_flags_a_nan_without_spreading_it(monkeypatch):
    real_init = train_module.init_weights

    def poisoned_init(*args, **kwargs):
        W, b = real_init(*args, **kwargs)
        W[4, 0, 1] = float("inf")
        return W, b

    monkeypatch.setattr(train_module, "init_weights", poisoned_init)
    config = phase_grid_config(steps=50)
    result = train(config)
    assert result.compiled
    assert result.diverged.tolist() == [k == 4 for k in range(config.num_instances)]
    others = np.arange(config.num_instances) != 4
    assert np.isfinite(result.W[others]).all() and np.isfinite(result.loss_history[:, others]).all()


def test_compile_failure_trains_eagerly_with_one_warning(monkeypatch):
    def broken(step_fn, on_warning):
        def fails(*args):
            raise RuntimeError("inductor: no C++ compiler")

        return fails

    monkeypatch.setattr(train_module, "_COMPILED_STEPS", {})  # nothing compiled by earlier tests
    monkeypatch.setattr(train_module, "_compile", broken)
    warnings_seen = []
    config = phase_grid_config(steps=20)
    result = train(config, on_warning=warnings_seen.append)
    assert not result.compiled and result.status == "completed"
    assert len(warnings_seen) == 1 and "eagerly" in warnings_seen[0] and "\n" not in warnings_seen[0]
    np.testing.assert_allclose(result.W, train(config.replace(compile=False)).W)


def test_compile_unavailable_trains_eagerly_with_one_warning(monkeypatch):
    def unavailable(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(train_module, "_COMPILED_STEPS", {})
    monkeypatch.setattr(torch, "compile", unavailable)
    warnings_seen = []
    result = train(phase_grid_config(steps=5), on_warning=warnings_seen.append)
    assert not result.compiled and len(warnings_seen) == 1 and "eagerly" in warnings_seen[0]
    assert result.warnings == warnings_seen


def test_no_compile_means_no_compiling_stage():
    stages = []
    result = train(phase_grid_config(steps=5, compile=False), on_progress=lambda p: stages.append(p.stage),
                   progress_interval=0.0)
    assert not result.compiled and "compiling" not in stages and result.warnings == []


# --- which compiled graph serves which config -------------------------------------------------

_CHANGED = {"preset": "correlated", "activation": "gelu", "optimizer": "adamw", "schedule": "cosine",
            "init": "xavier_batched", "device": "cpu", "activation_params": {"eps": 0.2}, "loss_reduction": "mean",
            "profile": "anthropic"}


def _changed(config: RunConfig, name: str):
    value = getattr(config, name)
    if name in _CHANGED:
        return _CHANGED[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, tuple):
        return value + (0.5,)
    raise AssertionError(f"no change known for config field {name!r}: add one to _CHANGED")


def test_every_config_field_either_shapes_the_graph_or_travels_as_a_tensor():
    """A field is in the compiled step's key unless it is listed as a tensor input, so a new
    data option can never silently reuse a graph built for the old data."""
    import dataclasses

    base = phase_grid_config(weight_decay=0.01)  # weight decay on: its value is then an input
    key = train_module._graph_key(base, torch.device("cpu"))
    for field in dataclasses.fields(RunConfig):
        changed = base.replace(**{field.name: _changed(base, field.name)})
        same = train_module._graph_key(changed, torch.device("cpu")) == key
        assert same == (field.name in train_module.STEP_INPUT_FIELDS), field.name
    # turning weight decay on or off changes the step's code, its value does not
    assert train_module._graph_key(base.replace(weight_decay=0.0), torch.device("cpu")) != key


def test_a_new_sampler_compiles_anew_and_new_data_values_reuse_the_graph(monkeypatch):
    built = []

    def counting_compile(step_fn, on_warning):
        built.append(step_fn)
        return step_fn  # the eager step stands in for the compiled one: only the caching is tested

    monkeypatch.setattr(train_module, "_COMPILED_STEPS", {})
    monkeypatch.setattr(train_module, "_compile", counting_compile)
    config = RunConfig(preset="custom", n=4, m=2, densities=(0.3,), steps=3, batch_size=32, snapshots=0)
    train(config)
    train(config.replace(densities=(0.1, 0.05), seeds=2, lr=0.01, steps=5))  # tensors and hyperparameters
    assert len(built) == 1
    train(config.replace(preset="correlated"))  # another experiment's sampler: another graph
    assert len(built) == 2
    train(config.replace(preset="correlated", densities=(0.4, 0.2)))
    assert len(built) == 2
