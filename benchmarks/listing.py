"""Listing many runs: `supertui runs` through the run index against the path it replaced.

    python benchmarks/listing.py [--runs 10000]

Writes RUNS run folders (manifests only: listing never loads arrays) into a temporary data
directory and times, in this process:
- baseline: what `supertui runs` did before the index: read and parse every manifest, build its
  config, and render a Rich table;
- cold: `store.listing()` with no index (every manifest read and checked, the index written),
  plus the plain columns `runs` prints;
- warm: the same with the index in place (a stat per run);
and, end to end, the `supertui runs` and `supertui runs --json` commands with a warm index
(a fresh Python: imports included). The last line is
`listing_warm_vs_baseline=<ratio> listing_cold_vs_baseline=<ratio> runs_command_warm_s=<s>`;
a ratio below 1 is faster than the baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from engine.experiments import instance_count
from engine.config import RunConfig  # noqa: E402
from engine.store.index import INDEX  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402
from supertui.cli.runs import run_rows, table_lines  # noqa: E402

CONFIG = RunConfig(preset="sparsity", activation="relu", n=20, m=5, densities=tuple(0.5**i for i in range(10)), seeds=2)


def write_runs(data_dir: Path, count: int) -> None:
    for i in range(count):
        run_id = f"20260101-{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}-sparsity-relu-{i:08x}"
        folder = data_dir / "runs" / run_id
        folder.mkdir(parents=True)
        manifest = {
            "format": "supertui-run", "format_version": 1, "id": run_id, "config": CONFIG.to_dict(), "seeds": [0, 1],
            "instances": instance_count(CONFIG), "status": "completed", "created": "2026-01-01T10:00:00+00:00",
            "updated": "2026-01-01T10:00:00+00:00", "started": "2026-01-01T10:00:00+00:00",
            "finished": "2026-01-01T10:05:00+00:00", "device": "cpu", "compiled": True, "steps_done": 5000,
            "elapsed_seconds": 30.5, "versions": {"supertui": "0.1.0", "torch": "2.13.0"}, "host": "here", "pid": 1,
            "tags": ["bench"] if i % 7 == 0 else [], "note": "", "warnings": [], "error": None,
            "summary": {"final_loss": 0.1 + i * 1e-6, "best_loss": 0.05, "diverged": 0,
                        "loss_sparkline": [0.5 / (1 + j) + i * 1e-7 for j in range(32)]},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))


def baseline(store: RunStore) -> int:
    """The listing before the index: every manifest read and parsed, a Rich table rendered."""
    from rich.console import Console
    from rich.table import Table

    from engine.experiments import experiment_for

    rows = []
    for path in sorted(store.runs_dir.iterdir(), reverse=True):
        manifest = json.loads((path / "manifest.json").read_text())
        config = RunConfig.from_dict(manifest["config"])
        rows.append((path.name, config.preset, experiment_for(config).title, config.activation, manifest["status"],
                     manifest["created"], manifest["summary"]["final_loss"]))
    table = Table(box=None, header_style="bold")
    for column in ("id", "preset", "activation", "status", "created", "final loss"):
        table.add_column(column, no_wrap=column != "created")
    for run_id, preset, _, activation, status, created, loss in rows:
        table.add_row(run_id, preset, activation, status, created, f"{loss:.4g}")
    Console(file=io.StringIO(), width=200).print(table)
    return len(rows)


def indexed(store: RunStore) -> int:
    lines = table_lines(run_rows(store))
    return len(lines) - 1


def timed(fn, *args) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (what an idle machine would take, near enough) and the count."""
    started, cpu = time.perf_counter(), time.process_time()
    count = fn(*args)
    return time.perf_counter() - started, time.process_time() - cpu, count


def command(data_dir: Path, *args: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SUPERTUI_DATA_DIR": str(data_dir)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "supertui", "runs", *args], env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        write_runs(data_dir, args.runs)
        store = RunStore(data_dir)
        base = timed(baseline, store)
        cold = timed(indexed, store)
        warm = timed(indexed, store)
        assert base[2] == cold[2] == warm[2] == args.runs, (base, cold, warm)
        index_mb = (data_dir / INDEX).stat().st_size / 2**20
        runs = command(data_dir)
        as_json = command(data_dir, "--json")
        (data_dir / INDEX).unlink()
        runs_cold = command(data_dir)
    print(f"{args.runs} runs, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; index {index_mb:.1f} MiB")
    print("                                               wall s    CPU s")
    for label, (wall, cpu, *_) in (("baseline (parse every manifest, Rich table)", base),
                                   ("index, cold (read and check every manifest)", cold),
                                   ("index, warm (a stat per run)", warm),
                                   ("supertui runs, warm index (imports included)", runs),
                                   ("supertui runs --json, warm index", as_json),
                                   ("supertui runs, no index", runs_cold)):
        print(f"{label:<45} {wall:8.3f} {cpu:8.3f}")
    print(f"listing_warm_vs_baseline={warm[0] / base[0]:.3f} listing_cold_vs_baseline={cold[0] / base[0]:.3f} "
          f"runs_command_warm_s={runs[0]:.3f} runs_command_warm_cpu_s={runs[1]:.3f}")


if __name__ == "__main__":
    main()
