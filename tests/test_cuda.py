"""The CUDA path, on a machine with a GPU. Skipped where torch sees none (CI has none): run it on
a GPU server with `python -m pytest tests/test_cuda.py -q`.

What a researcher relies on there: the data of a seed are the same on CPU and GPU, so a run's
physics do not depend on where it trained; the compiled GPU step (Triton kernels) is the eager
step; the hot swap works on CUDA; and `supertui train` puts a run on the GPU through a queue worker
without being told to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.training.data import feature_batch
from engine.science.phase import classify
from engine.training.train import train
from engine.training.run import resolve_run
from tests.test_fast_path import StopWhenCompiled, evaluate_module, hot_module, phase_grid_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_a_seed_draws_the_same_data_on_cpu_and_gpu():
    seeds, density = torch.tensor([0, 1, 7]), torch.tensor([1.0, 0.3, 0.01])
    for step in (0, 1, 123_456):
        on_cpu = feature_batch(seeds, density, 20, 1024, step=step)  # [K, n, batch]
        on_gpu = feature_batch(seeds.cuda(), density.cuda(), 20, 1024, step=step)
        assert torch.equal(on_cpu, on_gpu.cpu())


def test_a_run_on_the_gpu_lands_where_the_same_run_on_the_cpu_lands():
    config = phase_grid_config(compile=False)
    on_cpu = train(resolve_run(config.replace(device="cpu")))
    on_gpu = train(resolve_run(config.replace(device="cuda")))
    assert on_gpu.device.startswith("cuda (") and on_cpu.device == "cpu"
    # float sums run in another order on the GPU, so states drift apart by rounding, not physics
    np.testing.assert_allclose(on_gpu.final_loss, on_cpu.final_loss, rtol=0.03, atol=1e-4)
    assert [classify(W) for W in on_gpu.W] == [classify(W) for W in on_cpu.W]


def test_the_compiled_gpu_step_is_the_eager_gpu_step(monkeypatch):
    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    config = phase_grid_config(device="cuda", steps=200)
    compiled = train(resolve_run(config), compile_first=True)
    eager = train(resolve_run(config.replace(compile=False)))
    assert compiled.compiled and compiled.compiled_from_step == 0 and not eager.compiled
    np.testing.assert_allclose(compiled.W, eager.W, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(compiled.final_loss, eager.final_loss, rtol=1e-3, atol=1e-6)


def _stepwise_without_graphs(monkeypatch) -> None:
    """From here on, train() steps one step per launch on CUDA: no graph captured."""
    import functools

    from engine.training.blocks import Blocks

    monkeypatch.setattr(hot_module, "Blocks", functools.partial(Blocks, graphs=False))


def test_a_run_in_cuda_graph_blocks_is_the_run_step_by_step(monkeypatch):
    """Blocks of 64 steps replayed from CUDA graphs (the eager step captured, remainders as the
    graphs of smaller powers of two) against one launch per step: the same run, to float rounding,
    its rows and snapshots on the same steps."""
    run = resolve_run(phase_grid_config(device="cuda", steps=301, compile=False))
    graphed = train(run, block_steps=64)
    _stepwise_without_graphs(monkeypatch)
    stepwise = train(run, block_steps=1)
    np.testing.assert_array_equal(graphed.loss_steps, stepwise.loss_steps)
    np.testing.assert_array_equal(graphed.snapshot_steps, stepwise.snapshot_steps)
    np.testing.assert_allclose(graphed.W, stepwise.W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(graphed.loss_history, stepwise.loss_history, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(graphed.optimizer.vW, stepwise.optimizer.vW, rtol=1e-5, atol=1e-9)
    assert graphed.optimizer.step == stepwise.optimizer.step == 301


def test_the_compiled_step_in_cuda_graph_blocks_is_the_eager_step(monkeypatch):
    """The compiled step (Triton kernels) captured into graphs, in blocks sized by the step time,
    against the eager step launched once per step."""
    config = phase_grid_config(device="cuda", steps=500)
    graphed = train(resolve_run(config), compile_first=True)
    assert graphed.compiled and graphed.compiled_from_step == 0
    _stepwise_without_graphs(monkeypatch)
    eager = train(resolve_run(config.replace(compile=False)), block_steps=1)
    np.testing.assert_allclose(graphed.W, eager.W, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(graphed.final_loss, eager.final_loss, rtol=1e-3, atol=1e-6)


@pytest.mark.slow
def test_a_hot_swap_on_the_gpu_keeps_the_eager_physics(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))  # a cold compile, in the helper
    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    stop = StopWhenCompiled(monkeypatch, after=200)
    swapped = train(resolve_run(phase_grid_config(device="cuda", steps=1_000_000)), should_stop=stop, on_progress=stop.progress,
                    progress_interval=0.0)
    assert swapped.compiled and 0 < swapped.compiled_from_step < swapped.steps_done, "the swap happened mid-run"
    assert swapped.step_rates.get("eager")
    eager = train(resolve_run(phase_grid_config(device="cuda", steps=swapped.steps_done, compile=False)))
    run = resolve_run(phase_grid_config(device="cuda", steps=swapped.steps_done))
    swapped_loss = evaluate_module.evaluate(run, swapped.W, swapped.b).loss
    np.testing.assert_allclose(swapped_loss, eager.final_loss, rtol=0.03, atol=1e-4)
    assert [classify(W) for W in swapped.W] == [classify(W) for W in eager.W]


@pytest.mark.slow
def test_the_cli_trains_on_the_gpu_by_default(tmp_path):
    """No --device: the scheduler gives every CUDA GPU a slot, and the run trains there."""
    data = str(tmp_path / "data")
    env = {**os.environ, "SUPERTUI_SCHEDULER_IDLE": "2"}
    done = subprocess.run([sys.executable, "-m", "supertui", "train", "sparsity", "--steps", "300", "--data-dir", data],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    shown = subprocess.run([sys.executable, "-m", "supertui", "show", run_id, "--json", "--data-dir", data],
                           capture_output=True, text=True, timeout=60, env=env)
    record = json.loads(shown.stdout)
    assert record["status"] == "completed" and record["device"].startswith("cuda ("), record
