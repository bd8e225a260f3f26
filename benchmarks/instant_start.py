"""Instant start: the hot-swapped step (eager at once, compiled when ready) against pure eager and
compiling first, for the quick preset of each experiment, every contender with a cold compile cache.

    python benchmarks/instant_start.py [--experiments sparsity phase dims correlated]
    python benchmarks/instant_start.py --quality paper [--steps 2000]   # compiled throughput only
    python benchmarks/instant_start.py ... --repeat 3   # medians of 3 rounds in alternating order

Each contender trains in a fresh process with its own empty TORCHINDUCTOR_CACHE_DIR, so every
compile is a first compile, as for a new user. Reported per experiment: the seconds to the first
loss point and to the end of training for pure eager (compile=False), compile first (the step
compiled before any training, the old behaviour), and hot swap (the default); the ratio of hot
swap to the faster of the other two (target: at most 1.1); and the compiled rate after the swap
against the compile-first rate (target: at least 0.95, i.e. the same kernels). The last line is
`worst_hot_vs_best=<ratio> worst_compiled_rate_ratio=<ratio>`.

With `--quality paper` the paper settings are trained (`--steps` caps a run's steps, so the phase
grid's 8,000 instances fit in minutes) by compile-first and hot swap only: the question there is
not the start but the long haul, whether the swapped-in step keeps compile-first's throughput
(target: at least 0.95).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENDERS = ("eager", "compile_first", "hot")

CHILD = r"""
import json, sys, time
import engine
from engine.presets import preset_config
from engine.training.run import resolve_run
from engine.training.train import train
experiment, contender, quality, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = preset_config(experiment, quality, compile=contender != "eager", **({"steps": steps} if steps else {}))
t0 = time.perf_counter()
first = []
def progress(p):
    if not first and p.losses is not None and __import__("numpy").isfinite(p.losses).any() and p.step > 0:
        first.append(time.perf_counter() - t0)
result = train(resolve_run(config), on_progress=progress, send_weights=False, compile_first=contender == "compile_first")
total = time.perf_counter() - t0
print(json.dumps({"first": first[0] if first else None, "total": total, "steps": result.steps_done,
                  "compiled_from": result.compiled_from_step, "rates": result.step_rates}))
"""


def run(experiment: str, contender: str, quality: str, steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="supertui-cold-cache-") as cache:
        # Triton (the GPU's kernel compiler) keeps a cache of its own: cold too
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "TRITON_CACHE_DIR": os.path.join(cache, "triton"),
               "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", CHILD, experiment, contender, quality, str(steps)], env=env, capture_output=True,
                             text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median_results(experiment: str, contenders: tuple[str, ...], args) -> dict[str, dict]:
    """Each contender's run, or with --repeat its median total and median compiled rate over rounds
    that alternate the order, so a slow spell of the machine does not fall on one contender."""
    rounds: dict[str, list[dict]] = {c: [] for c in contenders}
    for round_index in range(max(1, args.repeat)):
        order = contenders if round_index % 2 == 0 else tuple(reversed(contenders))
        for contender in order:
            rounds[contender].append(run(experiment, contender, args.quality, args.steps))
    results = {}
    for contender, runs in rounds.items():
        middle = sorted(runs, key=lambda r: r["total"])[len(runs) // 2]
        rates = [r["rates"]["compiled"] for r in runs if r["rates"].get("compiled")]
        results[contender] = {**middle, "rates": {**middle["rates"], **({"compiled": statistics.median(rates)} if rates else {})}}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=["sparsity", "phase", "dims", "correlated"])
    parser.add_argument("--quality", choices=("quick", "paper"), default="quick")
    parser.add_argument("--steps", type=int, default=0, help="cap each run's steps (0: the preset's own)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the contenders this many times, in turn (reversed every other round), and keep "
                             "each one's median: this machine's speed drifts over minutes")
    args = parser.parse_args()
    contenders = CONTENDERS if args.quality == "quick" else ("compile_first", "hot")
    worst_hot, worst_rate = 0.0, float("inf")
    print(f"{'experiment':<11} {'contender':<14} {'first loss':>10} {'total':>8}  note")
    for experiment in args.experiments:
        results = median_results(experiment, contenders, args)
        for contender, r in results.items():
            note = f"compiled from step {r['compiled_from']}" if r["compiled_from"] is not None else ""
            print(f"{experiment:<11} {contender:<14} {r['first'] or float('nan'):>9.2f}s {r['total']:>7.1f}s  {note}")
        best = min(results[c]["total"] for c in contenders if c != "hot")
        ratio = results["hot"]["total"] / best
        worst_hot = max(worst_hot, ratio)
        line = f"{experiment:<11} hot / faster of {' and '.join(c for c in contenders if c != 'hot')} = {ratio:.2f}"
        hot_rate, first_rate = results["hot"]["rates"].get("compiled"), results["compile_first"]["rates"].get("compiled")
        if hot_rate and first_rate:
            worst_rate = min(worst_rate, hot_rate / first_rate)
            line += f"; compiled steps/s after the swap / compile-first = {hot_rate / first_rate:.2f}"
        print(line)
    print(f"worst_hot_vs_best={worst_hot:.3f} worst_compiled_rate_ratio={worst_rate:.3f}")


if __name__ == "__main__":
    main()
