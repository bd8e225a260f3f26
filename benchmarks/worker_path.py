"""A run trained by a worker process (the queue) against the same run trained in this process.

    python benchmarks/worker_path.py [--steps 3000] [--preset sparsity]

Since every run trains in a detached worker (engine.jobs.scheduler, engine.jobs.worker), the question is
what that costs. Both contenders train the identical config (eager, so compile time does not
blur it); the training rate comes from each run's own manifest (steps done over seconds spent
training), and the wall time from submission to `completed` (the worker path pays for a
scheduler and, once, a fresh Python with torch). The last line is
`worker_vs_inprocess_rate=<ratio> worker_wall_overhead_s=<seconds>`; a ratio near 1 means the
worker trains as fast as the in-process path.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import engine  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
from engine.presets import preset_config  # noqa: E402
from engine.jobs.runner import run_experiment  # noqa: E402
from engine.jobs.scheduler import ensure_scheduler  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402


def rate(record) -> float:
    manifest = record.manifest
    return manifest["steps_done"] / max(manifest["elapsed_seconds"], 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--preset", default="sparsity")
    args = parser.parse_args()
    config = preset_config(args.preset, steps=args.steps, compile=False, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(folder)
        started = time.perf_counter()
        local = run_experiment(config, store, send_weights=False)
        local_wall = time.perf_counter() - started

        started = time.perf_counter()
        queued = store.submit(config)
        ensure_scheduler(store)
        while store.load(queued.id).status in ("queued", "running"):
            time.sleep(0.05)
        worker_wall = time.perf_counter() - started
        worker = store.load(queued.id)
    assert worker.status == "completed", worker.status
    print(f"{args.preset}, {args.steps} steps, eager, cpu")
    print(f"in-process: {rate(local):9.1f} steps/s   wall {local_wall:6.2f} s")
    print(f"worker:     {rate(worker):9.1f} steps/s   wall {worker_wall:6.2f} s (scheduler and worker start included)")
    print(f"worker_vs_inprocess_rate={rate(worker) / rate(local):.3f} worker_wall_overhead_s={worker_wall - local_wall:.2f}")


if __name__ == "__main__":
    main()
