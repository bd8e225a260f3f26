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
