"""A training process that sends itself a signal at one stage of saving its run (test harness).

    python tests/save_stages.py DATA_DIR RUN_ID WHEN:STAGE SIGNAL worker|in-process

STAGE is start-manifest (status running), checkpoint-arrays, checkpoint-manifest (the first
checkpoint), final-arrays or final-manifest; WHEN is before or after that file is written.
`worker` trains the queued run RUN_ID as the scheduler's worker does (engine.jobs.worker); `in-process`
trains a new run with engine.jobs.runner.run_experiment under the CLI's Ctrl+C handling (first
Ctrl+C stops, the second aborts), and the signal is sent twice. Checkpoints are taken after
every step, so each stage is reached within a few steps.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import signal
import sys
from pathlib import Path

from engine.system import files as fsutil
from engine.store import runs as store_module


def main() -> int:
    data_dir, run_id, stage, signal_name, mode = sys.argv[1:6]
    when, target = stage.split(":")
    sig = getattr(signal, signal_name)
    shots = 2 if mode == "in-process" else 1
    state = {"final": False, "checkpoints": 0, "started": False}
    write = fsutil.atomic_write_bytes

    def label(path: Path, data: bytes) -> str | None:
        if path.name == "arrays.npz":
            return "final-arrays" if state["final"] else "checkpoint-arrays"
        if path.name == "manifest.json" and path.parent.name != "runs":
            if state["final"]:
                return "final-manifest"
            if not state["started"] and b'"status": "running"' in data:
                return "start-manifest"
            return "checkpoint-manifest" if state["checkpoints"] else None
        return None

    def hooked(path, data, make_parents=True):
        path = Path(path)
        now = label(path, data)
        if now == target and when == "before":
            for _ in range(shots):
                os.kill(os.getpid(), sig)
        write(path, data, make_parents)
        if now == target and when == "after":
            for _ in range(shots):
                os.kill(os.getpid(), sig)
        if now == "start-manifest":
            state["started"] = True
        if now == "checkpoint-arrays":
            state["checkpoints"] += 1

    fsutil.atomic_write_bytes = hooked
    finish = store_module.RunWriter.finish

    def final(self, result):
        state["final"] = True
        return finish(self, result)

    store_module.RunWriter.finish = final
    train_module = importlib.import_module("engine.training.train")
    train_module.train = functools.partial(train_module.train, checkpoint_interval=0.0)

    if mode == "worker":
        from engine.jobs import worker

        return worker.main(["--data-dir", data_dir, "--run", run_id, "--device", "cpu"])
    from engine.config import RunConfig
    from engine.jobs.runner import run_experiment
    from supertui.cli.common import graceful_sigint

    config = RunConfig.from_dict(json.loads(run_id))
    with graceful_sigint(second_raises=True) as stop:
        run_experiment(config, store_module.RunStore(data_dir), should_stop=stop.is_set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
