"""`supertui jobs [--json]`: the queued and training runs of the data directory, wherever they
were started (the app, `train`, another terminal): device, step, speed and time left."""

from __future__ import annotations

import json
import shutil
import sys
from typing import TYPE_CHECKING

from supertui.cli.common import open_store, report_skipped, safe_text
from supertui.formatting import format_seconds, format_uses

if TYPE_CHECKING:
    from engine.store.runs import RunRecord


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser("jobs", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="one JSON list (id, name, preset, activation, status, device, step, "
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
        "name": record.name,  # the short name, accepted wherever an id is
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


HEADER = ("run", "status", "device", "step", "rate", "left", "uses")
RIGHT = {"step", "rate", "left"}  # numbers, right-aligned
MIN_NAME = 12


def table_lines(rows: list[dict], samples: dict, width: int | None) -> list[str]:
    """One line per run, its short name first (accepted wherever an id is; `--json` has the id).
    Within `width` (a terminal's), as the app's queue does: uses in short, then no rate, then a
    long name ending in …; piped, every column whole."""
    def cells(row: dict, short: bool) -> dict[str, str]:
        step = (f"{row['step']}/{row['steps']}" if row["status"] == "running" else "starting" if row["status"] == "claimed"
                else f"#{row['queue_position']} in queue")
        return {"run": safe_text(row["name"]), "status": row["status"], "device": safe_text(row["device"] or "-"),
                "step": step, "rate": f"{row['steps_per_second']:,.0f} it/s" if row["steps_per_second"] else "-",
                "left": format_seconds(row["seconds_left"]).replace("–", "-"),
                "uses": format_uses(samples.get(row["id"]), short) or "-"}

    def layout(columns: tuple[str, ...], table: list[dict]) -> tuple[dict[str, int], int]:
        widths = {c: max([len(c), *(len(t[c]) for t in table)]) for c in columns}
        return widths, sum(widths.values()) + 2 * (len(columns) - 1)

    columns, table = HEADER, [cells(row, False) for row in rows]
    widths, total = layout(columns, table)
    if width is not None and total > width:
        table = [cells(row, True) for row in rows]
        widths, total = layout(columns, table)
    if width is not None and total > width:
        columns = tuple(c for c in HEADER if c != "rate")
        widths, total = layout(columns, table)
    if width is not None and total > width:
        widths["run"] = max(MIN_NAME, widths["run"] - (total - width))
        for t in table:
            if len(t["run"]) > widths["run"]:
                t["run"] = t["run"][: widths["run"] - 1] + "…"

    def line(texts: dict[str, str]) -> str:
        return "  ".join(texts[c].rjust(widths[c]) if c in RIGHT else texts[c].ljust(widths[c]) for c in columns).rstrip()

    return [line({c: c for c in columns}), *(line(t) for t in table)]


def run(args) -> int:
    from engine.jobs.scheduler import serve_queue

    store = open_store(args)
    serve_queue(store)  # a run left behind by a dead worker or scheduler is put right, and trains
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
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    sys.stdout.write("\n".join(table_lines(rows, samples, width)) + "\n")
    return 0
