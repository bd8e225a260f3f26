"""The CPU step on a busy machine: the default path (eager at once, the compiled step swapped in when
the helper process has built it) against `--no-compile`, with this benchmark's own load generator
running, every run with a cold compile cache.

    python benchmarks/loaded_start.py                      # 40x40 phase, 3,000 steps, loaded (the issue's goal)
    python benchmarks/loaded_start.py --presets            # every experiment's quick preset, loaded and idle
    python benchmarks/loaded_start.py --contenders eager hot hot_nice19 compile_first   # the choices measured

The load generator is two busy processes (`while True: pass`), started before each contender and
stopped after it, so on a 2-core machine the run and its compile helper share the cores with two
others, as with other jobs running. Contenders, each in a fresh process with an empty
TORCHINDUCTOR_CACHE_DIR (a first compile, as for a new user):
  eager          compile=False (`train --no-compile`)
  hot            the default: eager at once, the helper compiling at the worker's priority (HELPER_NICE)
  hot_nice19     the same with the helper at the lowest priority, as before this benchmark
  compile_first  the step compiled in the training process before the first step
Every figure is printed with the 1-minute load average when it was taken (other agents share this
machine). The last line is `loaded_hot_vs_eager=<ratio> worst_preset_hot_vs_eager=<ratio>`:
goals at most 0.6 (the 40x40 phase run) and at most 1.1 (every preset, loaded or idle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"

CHILD = r"""
import json, sys, time
import engine
from engine.presets import preset_config
from engine.experiments.phase import phase_axes
from engine.training import compile_step
from engine.training.run import resolve_run
from engine.training.train import train
experiment, contender, steps, grid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if contender == "hot_nice19":
    compile_step.HELPER_NICE = 19
if grid:
    densities, relatives = phase_axes(grid, grid)
    config = preset_config("phase", "paper", densities=densities, relative_importances=relatives, seeds=1)
else:
    config = preset_config(experiment, "quick")
config = config.replace(compile=contender != "eager", **({"steps": steps} if steps else {}))
warnings = []
t0 = time.perf_counter()
result = train(resolve_run(config), send_weights=False, compile_first=contender == "compile_first",
               on_warning=warnings.append)
print(json.dumps({"total": time.perf_counter() - t0, "steps": result.steps_done, "compiled_from": result.compiled_from_step,
                  "rates": result.step_rates, "warnings": warnings}))
"""


@contextmanager
def load_generator(processes: int):
    from engine.system.lifeline import die_with_parent

    # they go with this benchmark even when it is killed
    busy = [subprocess.Popen([sys.executable, "-c", BUSY], preexec_fn=die_with_parent) for _ in range(processes)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


def run(experiment: str, contender: str, steps: int, grid: int, loaded: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="supertui-cold-cache-") as cache, load_generator(loaded):
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        load_before = os.getloadavg()[0]
        out = subprocess.run([sys.executable, "-c", CHILD, experiment, contender, str(steps), str(grid)], env=env,
                             capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
    result["load"] = (load_before, os.getloadavg()[0])
    return result


def report(label: str, contender: str, r: dict) -> None:
    note = f"compiled from step {r['compiled_from']}" if r["compiled_from"] is not None else "eager only"
    rates = ", ".join(f"{k} {v:,.1f} steps/s" for k, v in r["rates"].items())
    warned = f"; warned: {r['warnings'][0]}" if r["warnings"] else ""
    print(f"{label:<22} {contender:<14} {r['total']:>7.1f} s  {r['steps']} steps, {note}"
          f"{' (' + rates + ')' if rates else ''}; load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}{warned}",
          flush=True)


def compare(label: str, experiment: str, contenders: list[str], steps: int, grid: int, loaded: int) -> float:
    results = {c: run(experiment, c, steps, grid, loaded) for c in contenders}
    for contender, r in results.items():
        report(label, contender, r)
    ratio = results["hot"]["total"] / results["eager"]["total"]
    others = "  ".join(f"{c}/eager={results[c]['total'] / results['eager']['total']:.2f}"
                       for c in contenders if c not in ("eager", "hot"))
    print(f"{label:<22} hot/eager={ratio:.2f}  {others}", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contenders", nargs="+", default=["eager", "hot"],
                        choices=["eager", "hot", "hot_nice19", "compile_first"])
    parser.add_argument("--steps", type=int, default=3000, help="steps of the 40x40 phase run")
    parser.add_argument("--grid", type=int, default=40, help="densities x relative importances of the phase run")
    parser.add_argument("--load", type=int, default=2, help="busy processes of the load generator")
    parser.add_argument("--presets", action="store_true",
                        help="also every experiment's quick preset, loaded and idle (hot/eager at most 1.1)")
    parser.add_argument("--no-grid", action="store_true", help="skip the 40x40 phase run")
    args = parser.parse_args()
    contenders = list(dict.fromkeys(["eager", "hot", *args.contenders]))
    print(f"{os.cpu_count()} cores; load generator: {args.load} busy processes; cold compile cache per run")
    loaded_ratio = float("nan")
    if not args.no_grid:
        loaded_ratio = compare(f"phase {args.grid}x{args.grid} loaded", "phase", contenders, args.steps, args.grid, args.load)
    worst = float("nan")
    if args.presets:
        ratios = [compare(f"{experiment} quick {'loaded' if load else 'idle'}", experiment, ["eager", "hot"], 0, 0, load)
                  for experiment in ("sparsity", "phase", "dims", "correlated") for load in (args.load, 0)]
        worst = max(ratios)
    print(f"loaded_hot_vs_eager={loaded_ratio:.2f} worst_preset_hot_vs_eager={worst:.2f}")


if __name__ == "__main__":
    main()
