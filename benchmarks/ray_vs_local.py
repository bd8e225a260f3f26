"""A sweep through the local queue against the same sweep through a Ray cluster, on this machine.

    python benchmarks/ray_vs_local.py [--runs 4] [--steps 2000]

Starts a real local Ray cluster (`ray start --head` on a free loopback port, as many CPUs as the
machine has) and queues the same sweep twice: once with `--executor local --devices cpu,cpu`
(one CPU slot per core) and once with `--executor ray` (one task per run, one CPU each). The wall
time is from the first submission to the last run saved, so it includes starting the workers (or
Ray tasks) and streaming the results back. It then turns the measured training rate into a
sizing estimate: runs per device-hour and the hours a paper-quality phase sweep of all seven
activations (40x40 grid, 10 seeds, 10,000 steps) would take on N such devices. Measure on a GPU
(`--device cuda`) for GPU figures. The last line is `ray_vs_local_wall=<ratio>`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from engine.experiments import instance_count
from engine.store.runs import RunStore  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queue_and_wait(data_dir: Path, args, extra: list[str]) -> tuple[float, list]:
    argv = [sys.executable, "-m", "supertui", "--data-dir", str(data_dir), "train", "sparsity", "-a", "relu",
            "--steps", str(args.steps), "--device", args.device, "--no-compile", "--detach",
            "--sweep", "seed=" + ",".join(str(i) for i in range(args.runs)), *extra]
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    store = RunStore(data_dir)
    while any(store.load(run_id).status in ("queued", "running") for run_id in out):
        time.sleep(0.2)
    wall = time.perf_counter() - started
    records = [store.load(run_id) for run_id in out]
    bad = [r.id for r in records if r.status != "completed"]
    if bad:
        raise SystemExit(f"runs did not complete: {bad}")
    return wall, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="supertui-ray-bench-") as folder:
        root = Path(folder)
        subprocess.run([ray, "start", "--head", f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false",
                        "--disable-usage-stats", f"--temp-dir={root / 'ray'}"], check=True, capture_output=True)
        try:
            local_wall, local = queue_and_wait(root / "local", args, ["--devices", ",".join(["cpu"] * cpus)])
            ray_wall, remote = queue_and_wait(root / "ray", args, ["--executor", "ray", "--address", f"127.0.0.1:{port}"])
        finally:
            subprocess.run([ray, "stop", "--force"], capture_output=True)
    rate = sum(r.manifest["steps_done"] / r.manifest["elapsed_seconds"] for r in local) / len(local)
    instances = instance_count(local[0].config)
    print(f"{args.runs} sparsity runs x {args.steps} steps ({instances} instances each), eager, {cpus} CPU(s)")
    print(f"local queue ({cpus} CPU slots): {local_wall:7.1f} s wall")
    print(f"ray ({cpus} CPUs, 1 per task):  {ray_wall:7.1f} s wall")
    # Sizing: instance-steps per second of one slot, from this run; a paper phase sweep of all seven
    # activations is 7 runs of 40 x 40 x 10 = 16,000 instances for 10,000 steps.
    instance_steps_per_s = rate * instances
    paper = 7 * 16_000 * 10_000
    hours_one = paper / instance_steps_per_s / 3600
    print(f"one {args.device} slot trains {instance_steps_per_s:,.0f} instance-steps/s (this sparsity step, eager)")
    print(f"sizing: a paper phase sweep of 7 activations is {paper:.2e} instance-steps: about {hours_one:,.1f} h on one "
          f"such slot, {hours_one / 8:,.1f} h on 8 (the phase step is smaller than this one: run "
          f"benchmarks/train_throughput.py on the target device for its own rate)")
    print(f"ray_vs_local_wall={ray_wall / local_wall:.3f}")


if __name__ == "__main__":
    main()
