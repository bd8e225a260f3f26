"""Roofline: each workload's training rate as a fraction of the limit of the device it runs on,
with the device's peak measured in this same process.

    python benchmarks/roofline.py            # every workload, 3 s timing budgets
    python benchmarks/roofline.py --quick    # shorter budgets (a few minutes on a 2-core CPU)

The device's peak, by two microbenchmarks run here first:
  arithmetic  a fused chain of CHAIN multiply-adds per element (x = x * a + b, compiled into one
              kernel, the tensor small enough to stay in cache): elementwise operations per second,
              a multiply and an add counting as two
  bandwidth   copying a tensor far larger than the caches: bytes read plus bytes written per second

The model of one instance-step (one instance trained one step on a batch of B samples, n features,
m hidden dimensions; operations as counted by the arithmetic benchmark):
  operations  B * (10 m n + 14 n + 3 n + HASH_OPS n / K_per_seed) + ADAM_OPS (m n + n)
                forward  h = W x: 2mn; y = W^T h + b: 2mn + n; the activation and its slope: 2n
                loss     d = y - x, I d^2, summed: 3n
                backward the output's gradient 2 I d f'(z): 3n; b's gradient: n; W h's gradient
                         W g: 2mn; W's gradient h g^T + (W g) x^T: 4mn; the sums over the batch: 2n
                data     each feature drawn from one hashed uniform: compare, divide, select (3n),
                         the hash itself (HASH_OPS per uniform) shared by the instances of one seed
                Adam     about ADAM_OPS per parameter, once per step
  bytes       STATE_TENSORS tensors of m n + n floats (W, b, both Adam moments of each), read and
              written once per step, and the importances read: 4 (2 * 3 (m n + n) + n)
              (the data are hashed where they are used, never stored: no bytes for the batch)
  limit       min(arithmetic peak / operations, bandwidth / bytes) instance-steps per second

Workloads (float32, batch 1024, the rate of instance-steps per second):
  phase       n=2,   m=1,  1,600 instances (20 densities x 16 importances x 5 seeds)
  dims        n=200, m=20, 20 instances
  sparsity    n=10,  m=5,  50 instances
  correlated  n=4,   m=2,  100 instances (its correlated sampler)
The engine trains each with its compiled step (compiled before the first step: the rate a long run
settles at), in blocks of steps (CUDA graphs on a GPU); the Anthropic-style loop (batched eager,
torch.rand data, one torch.optim.Adam) trains the same instances beside it. Printed with the load
average (other work on the machine lowers every achieved figure, never the measured peak's model).
The last line is `phase=F dims=F sparsity=F correlated=F`, each the engine's fraction of its limit.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine  # noqa: E402,F401  (first: it sets the OpenMP wait policy before torch loads)
import torch  # noqa: E402
from train_throughput import DEVICE, anthropic_stepper, measure_engine, time_windows, workloads  # noqa: E402

from engine.config import RunConfig  # noqa: E402
from engine.experiments import instance_count, instance_table  # noqa: E402
from engine.presets import preset_config  # noqa: E402
from engine.training.device import describe_device  # noqa: E402

CHAIN = 64  # multiply-adds per element in the arithmetic benchmark
HASH_OPS = 24  # integer operations of one hashed uniform (two murmur3 finalisers and the key mixing)
ADAM_OPS = 15  # per parameter: both moments, the bias corrections, the update, the divergence guard
STATE_TENSORS = 3  # W, and Adam's two moments of it (the same for b)


@dataclass(frozen=True)
class Peak:
    ops_per_second: float
    bytes_per_second: float


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def _best_rate(work: float, fn, budget: float) -> float:
    """The best of repeated timings of fn (which does `work` units): a peak, not a median."""
    best = 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < budget or best == 0.0:
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        best = max(best, work / (time.perf_counter() - t0))
    return best


def measure_peak(budget: float) -> Peak:
    elements = 2**22 if DEVICE.type == "cuda" else 2**16  # the CPU's in L2 with room to spare

    def chain(x, a, b):
        for _ in range(CHAIN):
            x = x * a + b
        return x

    fused = torch.compile(chain, fullgraph=True)
    x = torch.rand(elements, device=DEVICE)
    a = torch.tensor(0.999, device=DEVICE)
    b = torch.tensor(0.001, device=DEVICE)
    fused(x, a, b)  # compiles
    repeats = 20 if DEVICE.type == "cuda" else 4

    def arithmetic():
        for _ in range(repeats):
            fused(x, a, b)

    ops = _best_rate(2 * CHAIN * elements * repeats, arithmetic, budget)
    big = 2**26 if DEVICE.type == "cuda" else 2**24  # 256 MiB / 64 MiB of float32
    source, target = torch.rand(big, device=DEVICE), torch.empty(big, device=DEVICE)
    target.copy_(source)
    bandwidth = _best_rate(2 * 4 * big, lambda: target.copy_(source), budget)
    return Peak(ops, bandwidth)


def seeds_of(config: RunConfig) -> int:
    return len(set(instance_table(config).seed.tolist()))


def instance_step_ops(config: RunConfig) -> float:
    n, m, batch = config.n, config.m, config.batch_size
    per_seed = instance_count(config) / seeds_of(config)
    per_sample = 10 * m * n + 14 * n + 3 * n + HASH_OPS * n / per_seed
    return batch * per_sample + ADAM_OPS * (m * n + n)


def instance_step_bytes(config: RunConfig) -> float:
    n, m = config.n, config.m
    return 4 * (2 * STATE_TENSORS * (m * n + n) + n)


def limit(config: RunConfig, peak: Peak) -> float:
    return min(peak.ops_per_second / instance_step_ops(config), peak.bytes_per_second / instance_step_bytes(config))


def roofline_workloads() -> dict[str, RunConfig]:
    loads = {name: w.config for name, w in workloads().items()}
    loads["correlated"] = preset_config("correlated", "paper")
    return {name: loads[name] for name in ("phase", "dims", "sparsity", "correlated")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets")
    parser.add_argument("--workloads", nargs="+", default=None, choices=["phase", "dims", "sparsity", "correlated"])
    args = parser.parse_args(argv)
    budget, window = (1.5, 0.3) if args.quick else (4.0, 0.5)
    print(f"torch {torch.__version__}, device {describe_device(DEVICE)}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    peak = measure_peak(budget)
    print(f"measured peak: {peak.ops_per_second / 1e9:,.1f} G elementwise ops/s, {peak.bytes_per_second / 1e9:,.1f} GB/s "
          f"(load average {os.getloadavg()[0]:.1f})\n", flush=True)
    print(f"{'workload':<11} {'ops/inst-step':>13} {'bytes':>6} {'limit':>14} {'engine':>12} {'anthropic':>12} "
          f"{'engine/limit':>12} {'anthropic/limit':>15} {'load':>5}")
    fractions = {}
    chosen = roofline_workloads()
    for name, config in chosen.items():
        if args.workloads and name not in args.workloads:
            continue
        bound = limit(config, peak)
        engine_rate = measure_engine(config, budget).rate
        anthropic = time_windows(anthropic_stepper(config), budget, window, warmup=1)
        fractions[name] = engine_rate / bound
        print(f"{name:<11} {instance_step_ops(config):>13,.0f} {instance_step_bytes(config):>6,.0f} {bound:>14,.0f} "
              f"{engine_rate:>12,.0f} {anthropic:>12,.0f} {engine_rate / bound:>12.4f} {anthropic / bound:>15.4f} "
              f"{os.getloadavg()[0]:>5.1f}", flush=True)
    print(" ".join(f"{name}={fractions.get(name, float('nan')):.4f}" for name in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
