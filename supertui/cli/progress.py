"""Training progress for the terminal: a rich progress bar with the live loss, or plain lines
when stdout is not a terminal (logs, pipes, CI)."""

from __future__ import annotations

import sys
import time

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from engine import RunConfig, RunRecord, TrainProgress


def _mean_loss(losses: np.ndarray) -> float:
    finite = losses[np.isfinite(losses)]
    return float(finite.mean()) if finite.size else float("nan")


class TrainDisplay:
    def __init__(self, live: bool, plain_interval: float = 5.0):
        self.live = live
        self.plain_interval = plain_interval
        self.console = Console(stderr=False)
        self.progress = (
            Progress(
                TextColumn("[bold]{task.fields[name]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stage]}"),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            if live
            else None
        )

    def __enter__(self) -> "TrainDisplay":
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def start(self, config: RunConfig) -> "_Task":
        return _Task(self, config)

    def warn(self, message: str) -> None:
        print(f"supertui: warning: {message}", file=sys.stderr)

    def line(self, text: str) -> None:
        print(text, flush=True)


class _Task:
    def __init__(self, display: TrainDisplay, config: RunConfig):
        self.display = display
        self.config = config
        self.name = f"{config.preset}/{config.activation}"
        self.last_line = 0.0
        if display.progress:
            self.task_id = display.progress.add_task(
                self.name, total=config.steps, name=self.name, stage="starting", loss="-", rate=""
            )
        else:
            display.line(f"{self.name}: {config.num_instances} instances, {config.steps} steps")

    def update(self, p: TrainProgress) -> None:
        loss = _mean_loss(p.losses)
        stage = "compiling…" if p.stage == "compiling" else ""
        diverged = int(p.diverged.sum())
        if diverged:
            stage = f"{diverged} diverged"
        if self.display.progress:
            self.display.progress.update(
                self.task_id,
                completed=p.step,
                stage=stage,
                loss=f"{loss:.4g}",
                rate=f"{p.steps_per_second:,.0f} steps/s" if p.steps_per_second else "",
            )
            return
        now = time.monotonic()
        if p.stage == "compiling":
            self.display.line(f"{self.name}: compiling the training step…")
        elif p.stage == "training" and now - self.last_line >= self.display.plain_interval:
            self.display.line(f"{self.name}: step {p.step}/{p.steps} loss {loss:.4g} ({p.steps_per_second:,.0f} steps/s)")
            self.last_line = now

    def finish(self, record: RunRecord) -> None:
        summary = record.summary
        loss = summary.get("final_loss")
        text = f"{self.name}: {record.status}, mean final loss {loss:.4g}" if loss is not None else f"{self.name}: {record.status}"
        if summary.get("diverged"):
            text += f", {summary['diverged']} instance(s) diverged"
        if self.display.progress:
            self.display.progress.update(self.task_id, stage=record.status)
            self.display.progress.console.print(text)
        else:
            self.display.line(text)
