"""Resources per run (issue 25.7): `jobs` and the app show what a training run's worker uses (CPU
%, resident memory; GPU through NVML where present), read from /proc by the worker's pid."""

from __future__ import annotations

import json
import time

from engine.jobs.scheduler import ensure_scheduler
from engine.presets import preset_config
from engine.store.runs import RunStore
from engine.system.resources import ResourceSampler
from supertui.app import SupertuiApp
from supertui.cli import main
from supertui.screens.run_view import RunViewScreen
from supertui.widgets.job_queue import JobQueueTable


def start_long_run(data_dir):
    store = RunStore(data_dir)
    config = preset_config("custom", n=6, m=3, densities=(1.0, 0.1), steps=1_000_000, batch_size=64,
                           compile=False, device="cpu")
    record = store.submit(config)
    ensure_scheduler(store)
    deadline = time.monotonic() + 90
    while store.load(record.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.load(record.id).status == "running"
    return store, record.id


def test_sampler_reads_this_process_and_nothing_of_another_host():
    import os

    sampler = ResourceSampler()
    first = sampler.sample(os.getpid())
    assert first.cpu_percent is None and first.rss_bytes > 1_000_000  # CPU % needs a second reading
    sum(i * i for i in range(300_000))
    second = sampler.sample(os.getpid())
    assert second.cpu_percent is not None and second.cpu_percent >= 0
    assert sampler.sample(os.getpid(), host="another-machine") is None
    assert sampler.sample(2**22 + 12345) is None  # no such process
    assert second.gpu_util_percent is None  # not a CUDA device


async def test_jobs_and_the_app_show_what_a_training_run_uses(tmp_path, capsys):
    store, run_id = start_long_run(tmp_path)
    try:
        assert main(["jobs", "--json", "--data-dir", str(tmp_path)]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["resources"]["rss_bytes"] > 1_000_000 and row["resources"]["cpu_percent"] > 0
        assert main(["jobs", "--data-dir", str(tmp_path)]) == 0
        assert "cpu " in capsys.readouterr().out

        app = SupertuiApp(tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            queue = app.screen.query_one(JobQueueTable)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                await pilot.pause(0.3)
                run = app.live_runs.get(run_id)
                if run is not None and run.resources is not None and run.resources.cpu_percent is not None:
                    break
            assert run.resources is not None and run.resources.cpu_percent is not None, run.resources
            await pilot.pause(0.3)
            assert run_id in queue.rows, list(queue.rows)
            assert "cpu" in str(queue.get_cell(run_id, "uses")) and "MiB" in str(queue.get_cell(run_id, "uses"))
            app.open_run(run_id)
            await pilot.pause(1.5)
            assert isinstance(app.screen, RunViewScreen)
            assert "cpu " in str(app.screen.query_one("#run-status").render())
    finally:
        store.request_cancel(run_id)


def test_gpu_numbers_come_from_nvml_for_the_runs_cuda_device(monkeypatch):
    """No GPU here: a stand-in for the nvidia-ml-py module checks which calls are made and how
    their answers are read (device index from `cuda:N`, this pid's memory only)."""
    import sys
    from types import SimpleNamespace

    import engine.system.resources as resources

    asked = []
    nvml = SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: asked.append(i) or f"gpu{i}",
        nvmlDeviceGetUtilizationRates=lambda handle: SimpleNamespace(gpu=87),
        nvmlDeviceGetComputeRunningProcesses=lambda handle: [SimpleNamespace(pid=1, usedGpuMemory=5),
                                                             SimpleNamespace(pid=42, usedGpuMemory=3 << 30)],
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(resources, "_NVML", resources._Nvml())
    assert resources.gpu_usage(42, "cuda:2") == (87.0, 3 << 30) and asked == [2]
    assert resources.gpu_usage(42, "cpu") == (None, None)
    sample = resources.ResourceSample(120.0, 300 << 20, 87.0, 3 << 30)
    assert sample.describe() == "cpu 120% · 300 MiB · gpu 87% 3.0 GiB"
