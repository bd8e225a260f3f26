"""Training progress for the terminal: a rich progress bar with the live loss, or plain lines
when stdout is not a terminal (logs, pipes, CI). Fed from the runs' live files (engine.store.live),
so it shows a run the same way whichever process started it."""

from __future__ import annotations

import sys
import time

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from supertui.cli.common import safe_text

# Which step trains: eager from the first step, the compiled one once it has been swapped in.
STAGE_LABELS = {"compiling": "eager, compiling alongside", "eager": "eager", "compiled": "compiled step",
                "training": ""}


class TimeLeftColumn(TimeRemainingColumn):
    """Time left while a run trains; nothing once it has ended (an ETA of a finished run reads
    as if it still had work to do)."""

    def render(self, task) -> Text:
        if task.fields.get("ended"):
            return Text("")
        return super().render(task)


def mean_loss(losses: np.ndarray | None) -> float:
    if losses is None:
        return float("nan")
    finite = losses[np.isfinite(losses)]
    return float(finite.mean()) if finite.size else float("nan")


class TrainDisplay:
    def __init__(self, live: bool, plain_interval: float = 5.0):
        self.live = live
        self.plain_interval = plain_interval
        self.console = Console(stderr=False, highlight=False)
        self.progress = (
            Progress(
                TextColumn("{task.fields[name]}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stage]}", markup=False),
                TextColumn("loss {task.fields[loss]}", markup=False),
                TextColumn("{task.fields[rate]}", markup=False),
                TimeLeftColumn(),
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

    def start(self, config, run_id: str, status: str = "queued") -> "RunTask":
        return RunTask(self, config, run_id, status)

    def line(self, text: str) -> None:
        text = safe_text(text)  # run errors and names come from run folders
        if self.progress:
            self.progress.console.print(escape(text), highlight=False)
        else:
            print(text, flush=True)


class RunTask:
    def __init__(self, display: TrainDisplay, config, run_id: str, status: str = "queued"):
        self.display = display
        self.config = config
        self.run_id = run_id
        self.name = safe_text(f"{config.preset}/{config.activation}")
        self.last_line = 0.0
        self.last_stage = None
        if display.progress:
            self.task_id = display.progress.add_task(
                self.name, total=config.steps, name=self.name, stage=status, loss="-", rate="", ended=False
            )
        elif status in ("queued", "running"):  # one that has already ended only gets its final line
            from engine.experiments import instance_count  # the registry loads numpy: only where a run is read
            display.line(f"{self.name}: {run_id} {status}, {instance_count(config)} instances, {config.steps} steps")

    def waiting(self, status: str) -> None:
        if status == "queued" and self.display.progress:
            self.display.progress.update(self.task_id, stage="queued")

    def update_live(self, state) -> None:
        loss = mean_loss(state.losses)
        stage = STAGE_LABELS.get(state.stage, state.stage)
        diverged = int(state.diverged.sum()) if state.diverged is not None else 0
        if diverged:
            stage = f"{diverged} diverged"
        if self.display.progress:
            self.display.progress.update(
                self.task_id,
                completed=state.step,
                stage=stage,
                loss=f"{loss:.4g}" if np.isfinite(loss) else "-",
                rate=f"{state.steps_per_second:,.0f} steps/s" if state.steps_per_second else "",
            )
            return
        now = time.monotonic()
        if state.stage != self.last_stage and state.stage in ("compiling", "compiled"):
            self.display.line(f"{self.name}: {STAGE_LABELS.get(state.stage, state.stage)} (step {state.step})")
        # Not before the first interval's loss: a continued run's first report (at its parent's
        # step) has none yet.
        elif now - self.last_line >= self.display.plain_interval and state.step and np.isfinite(loss):
            self.display.line(f"{self.name}: step {state.step}/{state.steps} loss {loss:.4g} "
                              f"({state.steps_per_second:,.0f} steps/s)")
            self.last_line = now
        self.last_stage = state.stage

    def finish(self, record) -> None:
        summary = record.summary
        loss = summary.get("final_loss")
        text = f"{self.name}: {record.status}"
        if isinstance(loss, (int, float)):
            text += f", mean final loss {loss:.4g}"
        if summary.get("diverged"):
            text += f", {summary['diverged']} instance(s) diverged"
        if record.error:
            text += f": {record.error}"
        if self.display.progress:
            # The live file's last report is a few steps short of the end: show the saved count,
            # the final loss, and no time left.
            done = record.manifest.get("steps_done")
            fields = {"completed": done} if isinstance(done, int) else {}
            if isinstance(loss, (int, float)):
                fields["loss"] = f"{loss:.4g}"
            self.display.progress.update(self.task_id, stage=record.status, rate="", ended=True, **fields)
        self.display.line(text)

    def gone(self, reason: str) -> None:
        self.display.line(f"{self.name}: {reason}")


def warn(message: str) -> None:
    print(f"supertui: warning: {safe_text(message)}", file=sys.stderr)
