"""Training throughput: the engine's default path against two baselines, measured in one run.

    python benchmarks/train_throughput.py            # all seven activations (a few minutes)
    python benchmarks/train_throughput.py --quick    # relu and solu, shorter windows
    python benchmarks/train_throughput.py --memory   # only the memory check (prints peak RSS)

Throughput is instance-steps per second (one instance trained one step on a batch of 1024).
Workloads, float32, batch 1024:
  phase     n=2,   m=1,  1,600 instances (20 densities x 16 relative importances x 5 seeds)
  dims      n=200, m=20, 20 instances (the dims preset's 20 densities)
  sparsity  n=10,  m=5,  50 instances (10 densities x 5 seeds; engine only, for the estimate)
Contenders:
  engine     engine.training.train.train(), its step compiled before the first step: the rate a long run
             settles at once the hot swap (engine/training/compile_step.py) has happened
  naive      one nn.Module after another, each with its own torch.optim.Adam
  anthropic  the batched eager style of Anthropic's notebook: [batch, instances, features],
             two torch.rand draws per element, einsum, one torch.optim.Adam for all instances
Each rate is the median over short timing windows, so a burst of other load on the machine moves
it less than a single long timing would. The last line is `phase_vs_anthropic=<ratio>
dims_vs_anthropic=<ratio>`, each the smallest engine/anthropic ratio over the activations measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from engine.experiments import instance_count
import engine  # noqa: E402  (first: it sets the OpenMP wait policy before torch loads; see engine/__init__.py)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from engine.training.activations import BLOG_ACTIVATIONS, build_activation  # noqa: E402
from engine.config import RunConfig  # noqa: E402
from engine.presets import dims_densities, phase_axes, preset_config  # noqa: E402
from engine.training.device import describe_device, select_device  # noqa: E402
from engine.training.run import resolve_run  # noqa: E402
from engine.training.train import TrainProgress, train  # noqa: E402

BATCH = 1024
LR = 1e-3
DEVICE = select_device("auto")  # the baselines run where the engine runs
MEMORY_LIMIT_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Workload:
    name: str
    config: RunConfig  # the engine's run; the baselines train the same instances


def workloads() -> dict[str, Workload]:
    densities, relatives = phase_axes(20, 16)
    return {
        "phase": Workload("phase", preset_config("phase", "paper", densities=densities, relative_importances=relatives, seeds=5)),
        "dims": Workload("dims", preset_config("dims", "paper")),
        "sparsity": Workload("sparsity", preset_config("sparsity", "paper")),
    }


def paper_runs() -> dict[str, RunConfig]:
    """What a paper-quality reproduction trains, per activation (the presets' `paper` settings)."""
    return {name: preset_config(name, "paper") for name in ("sparsity", "phase", "dims")}


def instances_of(config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    from engine.experiments import instance_table

    table = instance_table(config)
    return table.density, table.importance  # [K], [K, n]


def median_rate(windows: list[tuple[int, float]]) -> float:
    rates = [count / seconds for count, seconds in windows if seconds > 0 and count > 0]
    return statistics.median(rates) if rates else float("nan")


def time_windows(step: Callable[[], int], budget: float, window: float, warmup: int = 2) -> float:
    """Run `step` (returns instance-steps done) for about `budget` seconds; median window rate."""
    for _ in range(warmup):
        step()
    windows: list[tuple[int, float]] = []
    start = time.perf_counter()
    while time.perf_counter() - start < budget or len(windows) < 3:
        count, t0 = 0, time.perf_counter()
        while True:
            count += step()
            _sync()
            elapsed = time.perf_counter() - t0
            if elapsed >= window:
                break
        windows.append((count, elapsed))
    return median_rate(windows)


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class EngineTiming:
    rate: float
    compile_seconds: float
    compiled: bool


def measure_engine(config: RunConfig, budget: float) -> EngineTiming:
    """train() on the step a long run settles on, stopped after `budget` seconds of training."""
    K = instance_count(config)
    reports: list[TrainProgress] = []
    began = time.perf_counter()
    training_began: list[float] = []

    def on_progress(p: TrainProgress) -> None:
        if p.stage in ("eager", "compiled"):
            if not training_began:
                training_began.append(time.perf_counter())
            reports.append(p)

    def should_stop() -> bool:
        return bool(training_began) and time.perf_counter() - training_began[0] > budget

    # Compiled before its first step: the rate measured is the one a long run settles at (the hot
    # swap would spend a short timing budget on the eager step while the compiler works).
    result = train(
        resolve_run(config), on_progress=on_progress, should_stop=should_stop, progress_interval=0.2, compile_first=config.compile,
        send_weights=False, on_warning=lambda message: print(f"  warning: {message}", file=sys.stderr),
    )
    windows = [(K * (b.step - a.step), b.elapsed - a.elapsed) for a, b in zip(reports, reports[1:])]
    if not windows:  # too few reports: fall back to the whole run
        windows = [(K * (result.steps_done - 1), result.elapsed)]
    compile_seconds = (training_began[0] if training_began else time.perf_counter()) - began - (reports[0].elapsed if reports else 0.0)
    return EngineTiming(median_rate(windows), max(0.0, compile_seconds), result.compiled)


# --- baseline 1: a naive loop, one nn.Module after another ---------------------------------------


class ToyModel(torch.nn.Module):
    def __init__(self, n: int, m: int, f: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(m, n, device=DEVICE)))  # [m, n]
        self.b = torch.nn.Parameter(torch.zeros(n, device=DEVICE))  # [n]
        self.f = f

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [batch, n]
        h = x @ self.W.T  # [batch, m]
        return self.f(h @ self.W + self.b)  # [batch, n]


def naive_stepper(config: RunConfig) -> Callable[[], int]:
    density, importance = instances_of(config)
    f = _features_last(build_activation(config.activation, config.activation_params))
    models = [ToyModel(config.n, config.m, f) for _ in range(len(density))]
    optimizers = [torch.optim.Adam(model.parameters(), lr=LR) for model in models]
    weights = [torch.as_tensor(row, device=DEVICE) for row in importance]
    turn = [0]

    def step() -> int:
        k = turn[0] % len(models)
        turn[0] += 1
        x = torch.rand(BATCH, config.n, device=DEVICE)  # [batch, n]
        x = torch.where(torch.rand(BATCH, config.n, device=DEVICE) < float(density[k]), x, 0.0)
        loss = (weights[k] * (x - models[k](x)) ** 2).sum(-1).mean()
        optimizers[k].zero_grad()
        loss.backward()
        optimizers[k].step()
        return 1

    return step


# --- baseline 2: the batched eager style of Anthropic's notebook ---------------------------------


def anthropic_stepper(config: RunConfig) -> Callable[[], int]:
    density, importance = instances_of(config)
    K, n, m = len(density), config.n, config.m
    f = _features_last(build_activation(config.activation, config.activation_params))
    W = torch.nn.Parameter(torch.nn.init.xavier_normal_(torch.empty(K, n, m, device=DEVICE)))  # [instances, n, m]
    b = torch.nn.Parameter(torch.zeros(K, n, device=DEVICE))  # [instances, n]
    optimizer = torch.optim.Adam([W, b], lr=LR)
    p = torch.as_tensor(density, device=DEVICE).view(1, K, 1)  # [1, instances, 1]
    I = torch.as_tensor(importance, device=DEVICE).view(1, K, n)  # [1, instances, n]

    def step() -> int:
        feat = torch.rand(BATCH, K, n, device=DEVICE)  # [batch, instances, n]
        seeds = torch.rand(BATCH, K, n, device=DEVICE)
        x = torch.where(seeds <= p, feat, 0.0)
        hidden = torch.einsum("bin,inh->bih", x, W)  # [batch, instances, m]
        out = f(torch.einsum("bih,inh->bin", hidden, W) + b)  # [batch, instances, n]
        loss = (I * (x - out) ** 2).sum(-1).mean(0).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return K

    return step


def _features_last(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Registered activations take features on dim -2; the baselines keep them on dim -1."""
    return lambda z: f(z.transpose(-1, -2)).transpose(-1, -2)


# --- memory check ---------------------------------------------------------------------------------


def memory_config() -> RunConfig:
    return preset_config("dims", "paper", n=1000, m=100, densities=dims_densities(30), steps=20)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_memory_check() -> int:
    """Train the dims preset at n=1000, m=100, 30 instances for a few steps; print peak RSS."""
    config = memory_config()
    result = train(resolve_run(config), send_weights=False, on_warning=lambda message: print(f"warning: {message}", file=sys.stderr))
    peak = peak_rss_bytes()
    print(json.dumps({"peak_rss_bytes": peak, "instances": instance_count(config), "n": config.n, "m": config.m,
                      "steps": result.steps_done, "compiled": result.compiled}))
    return 0


def memory_subprocess() -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory"], capture_output=True, text=True, check=False)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"memory check failed: {out.stderr.strip()[-500:]}")


# --- the report -----------------------------------------------------------------------------------


def fmt_rate(rate: float) -> str:
    return f"{rate:>12,.0f}" if rate == rate else f"{'-':>12}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="relu and solu only, shorter timing windows")
    parser.add_argument("--memory", action="store_true", help="only the memory check, in this process")
    parser.add_argument("--activations", nargs="+", default=None, help="activations to measure")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive-loop baseline")
    args = parser.parse_args(argv)
    if args.memory:
        return run_memory_check()

    activations = args.activations or (["relu", "solu"] if args.quick else list(BLOG_ACTIVATIONS))
    budget, window = (1.5, 0.3) if args.quick else (3.0, 0.5)
    loads = workloads()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), "
          f"device {_device_name()}, load average {os.getloadavg()[0]:.1f}")
    print(f"budget {budget:.1f} s per measurement, median of {window:.1f} s windows; rates in instance-steps/s\n")

    rows: list[tuple[str, str, float, float, float, EngineTiming]] = []
    engine_rates: dict[tuple[str, str], float] = {}
    compile_seconds: list[float] = []
    for load_name in ("phase", "dims", "sparsity"):
        for activation in activations:
            config = loads[load_name].config.replace(activation=activation)
            timing = measure_engine(config, budget)
            engine_rates[(load_name, activation)] = timing.rate
            compile_seconds.append(timing.compile_seconds)
            if load_name == "sparsity":
                continue
            naive = float("nan") if args.no_naive else time_windows(naive_stepper(config), budget / 2, window / 2)
            anthropic = time_windows(anthropic_stepper(config), budget, window, warmup=1)
            rows.append((load_name, activation, naive, anthropic, timing.rate, timing))
            print(
                f"{load_name:<6} {activation:<8} naive {fmt_rate(naive)}  anthropic {fmt_rate(anthropic)}  "
                f"engine {fmt_rate(timing.rate)}  x{timing.rate / anthropic:6.1f}  "
                f"({'compiled' if timing.compiled else 'eager'}, first step {timing.compile_seconds:.1f} s)",
                flush=True,
            )

    print()
    header = f"| {'workload':<8} | {'activation':<10} | {'naive loop':>12} | {'anthropic':>12} | {'engine':>12} | {'engine/anthropic':>16} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for load_name, activation, naive, anthropic, engine_rate, _ in rows:
        print(f"| {load_name:<8} | {activation:<10} | {fmt_rate(naive)} | {fmt_rate(anthropic)} | {fmt_rate(engine_rate)} | {engine_rate / anthropic:>16.1f} |")

    # Paper-quality reproduction: every preset's paper setting for all seven activations, at the
    # rates measured here (activations not measured get the mean rate of those that were).
    total = 0.0
    print("\npaper-quality reproduction (7 activations), from the measured engine rates:")
    for name, run in paper_runs().items():
        measured = [engine_rates[(name, a)] for a in activations if (name, a) in engine_rates]
        fallback = statistics.mean(measured)
        seconds = sum(instance_count(run) * run.steps / engine_rates.get((name, a), fallback) for a in BLOG_ACTIVATIONS)
        total += seconds
        print(f"  {name:<8} {instance_count(run):>6} instances x {run.steps} steps x 7: {seconds / 60:6.1f} min")
    first = statistics.mean(compile_seconds) * 3 * len(BLOG_ACTIVATIONS)
    print(f"  paper_estimate_minutes={total / 60:.1f} (training only; the 21 first steps, compiling included, took "
          f"{first / 60:.1f} min at this run's cache state; a cold cache costs about 10-30 s a graph)")

    memory = memory_subprocess()
    print(f"\npeak RSS of this benchmark: {peak_rss_bytes() / 2**20:,.0f} MiB")
    print(
        f"memory check: dims n={memory['n']}, m={memory['m']}, {memory['instances']} instances: peak RSS "
        f"{memory['peak_rss_bytes'] / 2**20:,.0f} MiB ({'under' if memory['peak_rss_bytes'] < MEMORY_LIMIT_BYTES else 'OVER'} the 2 GiB target)"
    )
    phase = min(engine / anthropic for load, _, _, anthropic, engine, _ in rows if load == "phase")
    dims = min(engine / anthropic for load, _, _, anthropic, engine, _ in rows if load == "dims")
    print(f"phase_vs_anthropic={phase:.2f} dims_vs_anthropic={dims:.2f}")
    return 0


def _device_name() -> str:
    return describe_device(DEVICE)


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


if __name__ == "__main__":
    sys.exit(main())
