"""Commands that do not train answer in a fraction of the time `import torch` takes.

    python benchmarks/command_latency.py [--repeat 5]

Each command runs as a fresh `python -m supertui ...` process (as a user's shell would start
it) against a throwaway data directory holding one small saved run; the baseline is a fresh
`python -c "import torch"` measured in the same run. The sources are byte-compiled first, as
`pip install` leaves them (with PYTHONDONTWRITEBYTECODE set, as on some servers and CI images,
every start would otherwise compile supertui from source). Reported per command: the median wall time
and its ratio to the baseline (target: at most 0.15). With tmux on the machine, the app is timed
too, in a real terminal: from the command to its first painted run list (target: under one
second, and before torch could have been imported), and from `q` to the shell prompt (target:
under one second). The last line is `worst_ratio=<ratio> torch_import_s=<seconds>`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.15


def timed(argv: list[str], env: dict[str, str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def saved_run(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "supertui", "train", "sparsity", "-a", "relu", "--n", "6",
                           "--m", "3", "--steps", "50", "--no-compile", "--densities", "1", "0.1"],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def app_paint_and_quit(env: dict[str, str], run_id: str) -> tuple[float, float]:
    """Seconds from starting `supertui` in a 120x40 tmux pane until the run list shows `run_id`,
    and from pressing q until the shell has it back."""
    session = f"supertui-bench-{os.getpid()}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k in ("SUPERTUI_DATA_DIR", "PYTHONPATH", "PATH"))
    command = f"env {exports} TERM=xterm-256color {shlex.quote(sys.executable)} -m supertui; echo EXITED; sleep 30"

    def wait_for(text: str) -> None:
        while text not in subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                          capture_output=True, text=True).stdout:
            time.sleep(0.01)

    started = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", command], check=True, cwd=ROOT)
    try:
        wait_for(run_id[:15])
        painted = time.perf_counter() - started
        time.sleep(1.0)
        quitting = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for("EXITED")
        return painted, time.perf_counter() - quitting
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "supertui", "engine"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "SUPERTUI_DATA_DIR": data_dir, "PYTHONPATH": str(ROOT)}
        run_id = saved_run(env)
        cli = [sys.executable, "-m", "supertui"]
        commands = {
            "--help": ["--help"], "--version": ["--version"], "runs": ["runs"], "runs --json": ["runs", "--json"],
            "show": ["show", run_id], "show --json": ["show", run_id, "--json"], "jobs": ["jobs"],
            "cancel (ended run)": ["cancel", run_id], "rm (no such run)": ["rm", "no-such-run"],
            "train (bad input)": ["train", "sparsity", "--densities", "0"], "typo": ["trian"],
        }
        baseline = timed([sys.executable, "-c", "import torch"], env, args.repeat)
        print(f"{'command':<22}{'seconds':>9}{'ratio':>8}")
        print(f"{'import torch':<22}{baseline:>9.3f}{1.0:>8.2f}")
        worst = 0.0
        for name, argv in commands.items():
            seconds = timed(cli + argv, env, args.repeat)
            worst = max(worst, seconds / baseline)
            print(f"{name:<22}{seconds:>9.3f}{seconds / baseline:>8.2f}")
        if shutil.which("tmux"):
            trials = [app_paint_and_quit(env, run_id) for _ in range(args.repeat)]
            paint = statistics.median(t[0] for t in trials)
            quit_ = statistics.median(t[1] for t in trials)
            print(f"{'app first paint':<22}{paint:>9.3f}{paint / baseline:>8.2f}  (target: < 1 s)")
            print(f"{'app quit':<22}{quit_:>9.3f}{quit_ / baseline:>8.2f}  (target: < 1 s)")
    print(f"worst_ratio={worst:.3f} torch_import_s={baseline:.3f} (target: worst_ratio <= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
