"""`supertui jobs [--json]`: the queued and training runs of the data directory, wherever they
were started (the app, `train`, another terminal): device, step, speed and time left."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from supertui.cli.common import open_store, report_skipped, safe_text
from supertui.formatting import format_seconds

if TYPE_CHECKING:
    from engine.store.runs import RunRecord


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("jobs", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="one JSON list (id, preset, activation, status, device, step, "
                                                      "steps, steps_per_second, seconds_left, queue_position)")
    add_data_dir(p)
    p.set_defaults(func=run)


def job_row(record: RunRecord, position: int | None, resources=None) -> dict:
    from engine.store.live import LiveReader

    state = None
    if record.status == "running":
        from engine.experiments import instance_count  # the registry loads numpy: only where a run is read
        reader = LiveReader(record.path, instance_count(record.config))
        reader.poll()
        state = reader.state
    left = state.seconds_left if state is not None else None
    return {
        "id": record.id,
        "preset": record.preset,
        "activation": record.activation,
        "status": record.status,
        "device": record.manifest.get("device"),
        "host": record.host,
        "executor": record.executor,
        "step": state.step if state is not None else 0,
        "steps": record.config.steps,
        "stage": state.stage if state is not None else None,
        "steps_per_second": round(state.steps_per_second, 1) if state is not None else None,
        "seconds_left": round(left, 1) if left is not None else None,
        "queue_position": position,
        # the worker's use, where it runs on this host (else null): cpu_percent, rss_bytes,
        # gpu_util_percent, gpu_memory_bytes (GPU through NVML, the nvidia-ml-py extra)
        "resources": resources.to_json() if resources is not None else None,
    }


SAMPLE_SECONDS = 0.3  # CPU % is CPU time over an interval: the workers are read twice this far apart


def sample_resources(records) -> dict:
    """The training runs' workers' CPU %, memory and GPU use (those on this host)."""
    from engine.system.resources import ResourceSampler

    training = [r for r in records if r.status == "running" and isinstance(r.manifest.get("pid"), int)]
    if not training:
        return {}
    import time

    sampler = ResourceSampler()
    args = {r.id: (r.manifest["pid"], r.host, r.device) for r in training}
    for pid, host, device in args.values():
        sampler.sample(pid, host, device)
    time.sleep(SAMPLE_SECONDS)
    return {run_id: sampler.sample(*a) for run_id, a in args.items()}


def uses(sample) -> str:
    return sample.describe() if sample is not None else "-"


def run(args) -> int:
    store = open_store(args)
    records = store.live_runs(on_error=report_skipped)
    queued = [r for r in records if r.status == "queued"]
    samples = sample_resources(records)
    rows = [job_row(r, queued.index(r) + 1 if r in queued else None, samples.get(r.id)) for r in records]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no queued or training runs")
        return 0
    print(f"{'id':<42} {'status':<8} {'device':<16} {'step':>15} {'rate':>12} {'left':>7}  uses")
    for row in rows:
        step = f"{row['step']}/{row['steps']}" if row["status"] == "running" else f"#{row['queue_position']} in queue"
        rate = f"{row['steps_per_second']:,.0f} it/s" if row["steps_per_second"] else "-"
        device = row["device"] or "-"
        print(f"{safe_text(row['id']):<42} {row['status']:<8} {safe_text(device)[:16]:<16} {step:>15} {rate:>12} "
              f"{format_seconds(row['seconds_left']).replace('–', '-'):>7}  {uses(samples.get(row['id']))}")
    return 0
