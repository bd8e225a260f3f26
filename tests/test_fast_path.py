"""The fast training path: hand-written gradients, the compiled step, and the eager fallback.

The gradient tests are exact checks against torch.func for every registered activation on each
of the three code paths (features unrolled, broadcast, batched matmul). Two tests compile for
real (marked slow: a cold compile takes 10-30 s on 2 cores, a warm one a few).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from engine import activations
from engine.activations import activation_names, build_activation
from engine.config import RunConfig
from engine.data import feature_batch
from engine.gradients import (
    SMALL_MODEL_WEIGHTS,
    UNROLL_MAX_WEIGHTS,
    activation_slope,
    activation_vjp,
    autograd_vjp,
    losses_and_grads,
    losses_and_grads_unrolled,
)
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
    f = build_activation(name)
    vjp = activation_vjp(name)
    assert vjp is not None, f"{name} has no written derivative"
    W, b, x, importance = problem(n, m, scale=1.5)  # large enough that SoLU and sigmoid saturate somewhere
    want = reference(W, b, x, importance, f)
    got = losses_and_grads(W, b, x, importance, f, vjp)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    if m * n <= UNROLL_MAX_WEIGHTS:
        unrolled = losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, f, vjp, name == "solu")
        for g, w in zip(unrolled, want):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
        slope = activation_slope(name)
        assert (slope is None) == (name == "solu")  # every elementwise built-in has value and slope
        if slope is not None:
            together = losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, f, vjp, slope=slope)
            for g, w in zip(together, want):
                torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


def test_the_three_paths_are_all_exercised():
    assert 2 * 1 <= UNROLL_MAX_WEIGHTS < 10 * 5 <= SMALL_MODEL_WEIGHTS < 20 * 6


def test_parametrised_activation_gets_its_parameter():
    f = build_activation("stretched_sigmoid", {"eps": 0.3})
    W, b, x, importance = problem(3, 2)
    want = reference(W, b, x, importance, f)
    got = losses_and_grads(W, b, x, importance, f, activation_vjp("stretched_sigmoid", {"eps": 0.3}))
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


def test_user_activation_falls_back_to_autograd(user_activation):
    assert activation_vjp(user_activation) is None
    f = build_activation(user_activation)
    W, b, x, importance = problem(10, 5)
    want = reference(W, b, x, importance, f)
    got = losses_and_grads(W, b, x, importance, f, autograd_vjp(f))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    result = train(RunConfig(activation=user_activation, n=2, m=1, steps=30, batch_size=64, compile=False))
    assert result.status == "completed" and np.isfinite(result.W).all()
    assert result.loss_history[-1, 0] < result.loss_history[0, 0]


def test_a_builtin_name_registered_anew_never_uses_the_old_derivative(monkeypatch):
    monkeypatch.setitem(activations._REGISTRY, "relu", activations._REGISTRY["relu"])
    activations.register_activation("relu", "a user's own relu")(lambda: torch.nn.functional.softplus)
    assert activation_vjp("relu") is None


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
