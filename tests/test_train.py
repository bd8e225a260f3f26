"""train(): batching invariance, divergence guard, cancellation, result shapes, optimiser and schedules.

All eager (compile=False) and tiny, so they run in seconds; the compiled path has its own tests
in test_fast_path.py.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from engine.experiments import instance_count
from engine.config import RunConfig
from engine.training.data import feature_batch
from engine.training.model import init_weights, instance_losses, sample_losses
from engine.experiments import instance_table
from engine.training.step import lr_factor, make_train_step
from engine.training.train import train
from engine.training.run import resolve_run

train_module = importlib.import_module("engine.training.train")
step_module = importlib.import_module("engine.training.step")
evaluate_module = importlib.import_module("engine.training.evaluate")
memory_module = importlib.import_module("engine.training.memory")


def small_config(**changes) -> RunConfig:
    base = RunConfig(
        preset="custom", activation="relu", n=5, m=2, densities=(1.0, 0.3, 0.05), importance_decay=0.8,
        seeds=2, steps=40, batch_size=128, lr=3e-3, snapshots=6, compile=False,
    )
    return base.replace(**changes)


@pytest.mark.parametrize("n,m", [(5, 2), (10, 5), (20, 6)])  # unrolled, broadcast and matmul paths
def test_instances_trained_together_match_each_trained_alone(n, m):
    config = small_config(n=n, m=m)
    together = train(resolve_run(config))
    table = instance_table(config)
    for k in range(len(table)):
        alone = train(resolve_run(config.replace(densities=(float(table.density[k]),), seed=int(table.seed[k]), seeds=1)))
        np.testing.assert_allclose(alone.W[0], together.W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone.b[0], together.b[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone.loss_history[:, 0], together.loss_history[:, k], rtol=1e-5)


def test_instances_trained_together_match_alone_on_the_phase_path():
    # n=2, m=1 takes the unrolled small-model path; importances differ, seeds are shared.
    config = small_config(n=2, m=1, densities=(0.5, 0.05), relative_importances=(0.3, 3.0), seeds=2)
    together = train(resolve_run(config))
    table = instance_table(config)
    for k in (0, 3, 6):
        alone = train(resolve_run(config.replace(densities=(float(table.density[k]),), seed=int(table.seed[k]), seeds=1,
                                     relative_importances=(float(table.relative_importance[k]),))))
        np.testing.assert_allclose(alone.W[0], together.W[k], rtol=1e-5, atol=1e-6)


def test_chunking_does_not_change_results(monkeypatch):
    config = small_config(steps=15)
    whole = train(resolve_run(config))
    monkeypatch.setattr(step_module, "CHUNK_ELEMENTS", 2 * config.n * config.batch_size)  # 2 instances a chunk
    chunked = train(resolve_run(config))
    np.testing.assert_allclose(chunked.W, whole.W, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(chunked.diverged, whole.diverged)


def test_result_has_the_documented_shapes():
    config = small_config(steps=1200, snapshots=8)
    K, m, n = instance_count(config), config.m, config.n
    result = train(resolve_run(config))
    T = len(result.loss_steps)
    assert result.W.shape == (K, m, n) and result.b.shape == (K, n)
    assert result.final_loss.shape == (K,) and np.isfinite(result.final_loss).all()
    assert result.loss_history.shape == (T, K) and 1 < T <= memory_module.HISTORY_POINTS
    assert result.loss_steps[-1] == config.steps and np.all(np.diff(result.loss_steps) > 0)
    S = len(result.snapshot_steps)
    assert result.snapshots.shape == (S, K, m, n) and 2 <= S <= config.snapshots
    assert result.snapshot_steps[0] == 0 and result.snapshot_steps[-1] == config.steps
    assert np.all(np.diff(result.snapshot_steps) > 0)
    np.testing.assert_array_equal(result.snapshots[-1], result.W)  # the last snapshot is the final W
    W0, _ = init_weights(torch.as_tensor(instance_table(config).seed), n, m)
    np.testing.assert_array_equal(result.snapshots[0], W0.numpy())  # the first is the init
    assert result.diverged.shape == (K,) and result.diverged.dtype == bool and not result.diverged.any()
    assert result.status == "completed" and result.steps_done == config.steps and result.compiled is False
    # training lowers the loss of every instance
    assert np.all(result.loss_history[-1] < result.loss_history[0])


def test_loss_history_is_the_mean_training_loss_of_each_interval():
    config = small_config(steps=6, snapshots=0, densities=(1.0,), seeds=1)
    result = train(resolve_run(config))
    assert list(result.loss_steps) == [1, 2, 3, 4, 5, 6]
    # replay the same steps by hand: the loss before each update, on that step's batch
    step = make_train_step(resolve_run(config))
    table = instance_table(config)
    W, b = init_weights(torch.as_tensor(table.seed), config.n, config.m)
    state = _state(W, b, table)
    expected = []
    for _ in range(config.steps):
        expected.append(step(*state).item())
    np.testing.assert_allclose(result.loss_history[:, 0], expected, rtol=1e-5)


def _state(W, b, table, device="cpu"):
    seeds = torch.as_tensor(table.seed)
    unique, rows = torch.unique(seeds, return_inverse=True)
    K = len(table)
    return [
        W.clone(), b.clone(), torch.zeros_like(W), torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(b),
        torch.zeros((), dtype=torch.int64), unique, rows, {"density": torch.as_tensor(table.density)},
        torch.as_tensor(table.importance), torch.zeros(K), torch.zeros(K, dtype=torch.bool),
    ]


def test_a_nan_in_one_instance_is_flagged_and_never_spreads(monkeypatch):
    config = small_config()
    clean = train(resolve_run(config))
    real_init = step_module.init_weights

    def poisoned_init(*args, **kwargs):
        W, b = real_init(*args, **kwargs)
        W[2, 0, 0] = float("nan")
        return W, b

    monkeypatch.setattr(step_module, "init_weights", poisoned_init)
    result = train(resolve_run(config))
    assert result.diverged.tolist() == [k == 2 for k in range(instance_count(config))]
    others = np.arange(instance_count(config)) != 2
    np.testing.assert_allclose(result.W[others], clean.W[others], rtol=1e-6, atol=1e-7)
    assert np.isfinite(result.loss_history[:, others]).all()
    assert np.isfinite(result.W[others]).all() and np.isfinite(result.final_loss[others]).all()


def test_an_instance_that_blows_up_mid_training_is_frozen_where_it_was_finite():
    # sigmoid with a huge lr keeps weights finite; an activation that overflows does not.
    from engine.training import activations

    name = "test_overflowing_exp"
    activations._REGISTRY.pop(name, None)
    activations.register_activation(name, "exp: overflows for large inputs")(lambda: torch.exp)
    try:
        config = small_config(activation=name, densities=(1.0, 0.001), seeds=1, lr=5.0, steps=60, snapshots=0)
        result = train(resolve_run(config))
    finally:
        activations._REGISTRY.pop(name, None)
    assert result.diverged[0]  # dense data and lr 5 send exp(z) to inf within a few steps
    assert np.isfinite(result.W[0]).all()  # frozen at its last finite weights, never NaN
    assert np.isfinite(result.W).all() and np.isfinite(result.b).all()


def test_cancellation_stops_within_one_step_and_keeps_what_was_trained():
    config = small_config(steps=500, snapshots=20)
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) >= 7

    # one step per block: polled before each step (blocks of more: tests/test_blocks.py)
    result = train(resolve_run(config), should_stop=should_stop, block_steps=1)
    assert result.status == "cancelled"
    assert result.steps_done == len(polls) - 1  # polled before each step; no step after the stop
    assert result.loss_steps[-1] == result.steps_done
    assert np.all(result.snapshot_steps <= result.steps_done)
    # what was trained is kept: the same weights as a run of exactly that many steps
    # (constant schedule, so the learning rate does not depend on the total)
    short = train(resolve_run(config.replace(steps=result.steps_done)))
    np.testing.assert_allclose(result.W, short.W, rtol=1e-6, atol=1e-7)
    assert np.isfinite(result.final_loss).all()
    # judged on the stream's first chunk, so it is saved at once: the same weights, a wider error
    first_chunk = evaluate_module.evaluate(resolve_run(config), result.W, result.b, samples=memory_module.EVAL_CHUNK)
    np.testing.assert_allclose(result.final_loss, first_chunk.loss, rtol=1e-6)
    assert (result.final_loss_se > short.final_loss_se).all()


def test_progress_reports_training_then_done_with_weights():
    reports = []
    config = small_config(steps=30)
    train(resolve_run(config), on_progress=reports.append, progress_interval=0.0)
    assert reports[0].stage == "eager" and reports[0].step == 0 and reports[-1].stage == "done"
    assert reports[-1].step == config.steps
    assert reports[-1].W.shape == (instance_count(config), config.m, config.n)
    assert reports[-1].losses.shape == (instance_count(config),)
    assert all(a.step <= b.step for a, b in zip(reports, reports[1:]))


def test_the_first_loss_point_is_reported_at_once_not_at_the_next_interval():
    """A watcher waits for the first point: it comes with the step that records it, however long
    the progress interval (here longer than the run)."""
    reports = []
    config = small_config(steps=1200)  # a row every 3 steps
    train(resolve_run(config), on_progress=reports.append, progress_interval=3600.0)
    with_history = [r for r in reports if len(r.history_steps)]
    assert with_history[0].stage != "done" and with_history[0].history_steps.tolist() == [1]
    assert np.isfinite(with_history[0].history_rows).all()
    record_every = math.ceil(config.steps / memory_module.HISTORY_POINTS)
    steps = np.concatenate([r.history_steps for r in reports])
    assert steps.tolist() == [1, *range(record_every, config.steps + 1, record_every)]


def test_a_run_that_never_compiles_never_imports_the_compiler():
    """torch._dynamo takes seconds to import: an eager run, and a run too short to compile, start
    stepping without it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from engine.config import RunConfig\n"
        "from engine.training.run import resolve_run\n"
        "from engine.training.train import train\n"
        "base = RunConfig(preset='custom', activation='relu', n=5, m=2, densities=(1.0, 0.1), steps=30, batch_size=64)\n"
        "train(resolve_run(base.replace(compile=False)))\n"
        "train(resolve_run(base.replace(compile=True)))\n"
        "print(sorted(m for m in ('torch._dynamo', 'torch._inductor') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_lr_schedules():
    t = torch.arange(0, 101)
    np.testing.assert_allclose(lr_factor("constant", t, 100).numpy(), 1.0)
    np.testing.assert_allclose(lr_factor("linear", t, 100).numpy(), 1.0 - t.numpy() / 100, atol=1e-7)
    np.testing.assert_allclose(
        lr_factor("cosine", t, 100).numpy(), 0.5 * (1 + np.cos(math.pi * t.numpy() / 100)), atol=1e-6
    )


@pytest.mark.parametrize(
    "optimizer,weight_decay,schedule",
    [("adam", 0.0, "constant"), ("adam", 0.01, "linear"), ("adamw", 0.01, "cosine"), ("adamw", 0.0, "linear")],
)
def test_update_is_torch_adam_with_the_schedule(optimizer, weight_decay, schedule):
    """Our fused in-place update against torch.optim.Adam/AdamW with a LambdaLR schedule."""
    config = small_config(optimizer=optimizer, weight_decay=weight_decay, schedule=schedule, steps=8, lr=1e-2)
    result = train(resolve_run(config))
    table = instance_table(config)
    W0, b0 = init_weights(torch.as_tensor(table.seed), config.n, config.m)
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
    opt = cls([W, b], lr=config.lr, weight_decay=weight_decay, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: float(lr_factor(schedule, torch.tensor(s), config.steps)))
    importance = torch.as_tensor(table.importance)
    f = torch.relu
    for s in range(config.steps):
        x = feature_batch(torch.as_tensor(table.seed), torch.as_tensor(table.density), config.n, config.batch_size, step=s)
        loss = instance_losses(W, b, x, importance, f).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    np.testing.assert_allclose(result.W, W.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.b, b.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_final_loss_is_the_evaluation_of_the_final_weights():
    config = small_config(steps=5)
    result = train(resolve_run(config))
    again = evaluate_module.evaluate(resolve_run(config), result.W, result.b).loss
    np.testing.assert_allclose(result.final_loss, again)


@pytest.mark.parametrize("preset", ["custom", "correlated"])
def test_every_seed_of_a_point_is_judged_on_the_same_samples(preset):
    """Identical weights must score identically whatever the instance's seed: the evaluation
    stream is one for the whole run, drawn through the experiment's sampler."""
    config = small_config(preset=preset, n=4, densities=(0.3, 0.05), seeds=3, importance_decay=1.0)
    table = instance_table(config)
    rng = np.random.default_rng(0)
    W = np.repeat(rng.normal(size=(1, config.m, config.n)).astype(np.float32), len(table), axis=0)  # [K, m, n]
    b = np.zeros((len(table), config.n), dtype=np.float32)
    evaluation = evaluate_module.evaluate(resolve_run(config), W, b)
    for p in np.unique(table.point):
        losses = evaluation.loss[table.point == p]
        assert np.all(losses == losses[0]), (p, losses)
        assert np.all(evaluation.gap_se[table.point == p] == 0)  # identical per-sample losses: no gap, no error


def test_evaluation_reports_standard_errors_small_against_loss_gaps():
    config = small_config(densities=(0.3,), seeds=3, steps=200)
    result = train(resolve_run(config))
    assert memory_module.EVAL_SAMPLES >= 65_536
    assert np.all(result.final_loss_se > 0) and np.all(result.final_loss_se < 0.01 * result.final_loss)
    # the errors against a direct computation from the per-sample losses of the same stream
    table = instance_table(config)
    samples = 2 * memory_module.EVAL_CHUNK
    evaluation = evaluate_module.evaluate(resolve_run(config), result.W, result.b, samples=samples)
    per_sample = torch.cat([
        sample_losses(torch.as_tensor(result.W), torch.as_tensor(result.b),
                      feature_batch(torch.full((len(table),), evaluate_module.EVAL_SEED), torch.as_tensor(table.density),
                                    config.n, memory_module.EVAL_CHUNK, step=evaluate_module._EVAL_STEP - c,
                                    salt=evaluate_module._EVAL_SALT),
                      torch.as_tensor(table.importance), torch.relu).double()
        for c in range(2)
    ], dim=1).numpy()  # [K, samples]
    np.testing.assert_allclose(evaluation.loss, per_sample.mean(1), rtol=1e-6)
    np.testing.assert_allclose(evaluation.se, per_sample.std(1, ddof=1) / np.sqrt(samples), rtol=1e-4)
    winner = int(np.argmin(evaluation.loss))
    runner_up = int(np.argsort(evaluation.loss)[1])
    gap = per_sample[runner_up] - per_sample[winner]
    assert evaluation.gap_se[winner] == pytest.approx(gap.std(ddof=1) / np.sqrt(samples), rel=1e-4)


def test_a_run_is_validated_and_looked_up_once_on_its_way_to_the_last_step():
    """resolve_run validates the config and looks up its experiment, table, activation, sampler and
    device; nothing from there to the last step (chunks, the step, the hot swap's decision,
    checkpoints, the final evaluation) does any of it again."""
    import sys

    from engine.experiments import base as experiments
    from engine.training import activations, device

    watched = {
        "validate_config": experiments.validate_config, "experiment_for": experiments.experiment_for,
        "instance_table": experiments.Experiment.instance_table, "build_math": activations.Activation.build_math,
        "select_device": device.select_device, "sampler.build": experiments.INDEPENDENT.build,
    }
    names = {function.__code__: name for name, function in watched.items()}
    calls = dict.fromkeys(watched, 0)

    def count(frame, event, arg):
        if event == "call" and frame.f_code in names:
            calls[names[frame.f_code]] += 1

    config = small_config(steps=60, compile=True)  # the hot swap decides (a run this short stays eager)
    sys.setprofile(count)
    try:
        run = resolve_run(config)
        result = train(run, on_progress=lambda p: None, on_checkpoint=lambda r: None, checkpoint_interval=0.0,
                       progress_interval=0.0)
    finally:
        sys.setprofile(None)
    assert result.status == "completed"
    assert calls == dict.fromkeys(watched, 1)
