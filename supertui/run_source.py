"""Where the run view's data come from: a live job (its latest progress report) or a saved run
(its arrays, or a W snapshot while scrubbing). The panes draw a `RunData` and never ask which;
so another live source (a worker process writing the store) replaces `RunSource` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from rich.text import Text

from engine.config import RunConfig
from engine.store import RunArrays, RunRecord, StoreError
from engine.sweep import InstanceTable, instance_table
from supertui.jobs import RUNNING, Job
from supertui.widgets.job_queue import format_seconds


@dataclass(frozen=True)
class RunData:
    """One moment of a run, as every pane draws it."""

    config: RunConfig
    instances: InstanceTable
    W: np.ndarray | None  # [K, m, n], None before the first weights arrive
    losses: np.ndarray | None  # [K] that pick each point's winner (final, or the training loss then)
    moment: str  # "final", "step 1,000", "live, step 250", ...
    loss_steps: np.ndarray  # [T]
    loss_history: np.ndarray  # [T, K]
    snapshot_steps: np.ndarray | None  # [S] for the scrubber; None while live
    live: bool
    snapshots: np.ndarray | None = None  # [S, K, m, n] the W snapshots (saved runs): D* against step


class RunSource:
    """A job while it trains, then (once saved) its run record; or a saved record alone."""

    def __init__(self, job: Job | None = None, record: RunRecord | None = None,
                 on_error: Callable[[str], None] | None = None):
        if job is None and record is None:
            raise ValueError("RunSource needs a job or a record")
        self.job = job
        self.record = record
        self.config = job.config if job is not None else record.config
        self.on_error = on_error or (lambda message: None)
        self._table: InstanceTable | None = None  # the config's instances, for the live weights

    @property
    def live(self) -> bool:
        return self.record is None

    @property
    def run_id(self) -> str | None:
        return self.record.id if self.record is not None else self.job.run_id

    @property
    def active(self) -> bool:
        return self.job is not None and self.job.active

    def arrays(self) -> RunArrays | None:
        if self.record is None or not self.record.has_arrays:
            return None
        try:
            return self.record.arrays
        except StoreError as exc:
            self.on_error(str(exc))
            self.record = None if self.job is not None else self.record
            return None

    def refresh(self, store) -> bool:
        """After a job update: once the job has finished and saved, read the saved run. True when
        the source changed from live to saved."""
        if self.job is None or self.job.active or self.record is not None or not self.job.run_id:
            return False
        try:
            self.record = store.load(self.job.run_id)
        except StoreError:
            return False
        return True

    def data(self, scrub: int | None = None) -> RunData:
        arrays = self.arrays()
        if arrays is not None:
            W, losses, moment = arrays.W, arrays.final_loss, "final"
            if scrub is not None and scrub < len(arrays.snapshot_steps):
                step = int(arrays.snapshot_steps[scrub])
                # Mid-training the saved final losses would judge other weights: use the loss
                # history row nearest that step instead.
                row = int(np.searchsorted(arrays.loss_steps, max(step, 1)))
                losses = arrays.loss_history[min(row, len(arrays.loss_history) - 1)] if len(arrays.loss_history) else None
                W, moment = arrays.snapshots[scrub], f"step {step:,}"
            return RunData(self.config, arrays.instances, W, losses, moment, arrays.loss_steps, arrays.loss_history,
                           arrays.snapshot_steps, live=False, snapshots=arrays.snapshots)
        W = losses = None
        moment = "waiting for the first weights"
        if self.job is not None and self.job.progress is not None and self.job.progress.W is not None:
            p = self.job.progress
            W, losses = p.W, (p.losses if np.isfinite(p.losses).any() else None)
            moment = f"live, step {p.step:,}"
        steps, history = self.job.history.as_arrays() if self.job is not None else (np.zeros(0), np.zeros((0, 0)))
        if self._table is None:
            self._table = instance_table(self.config)
        return RunData(self.config, self._table, W, losses, moment, steps, history, None, live=True)

    def progress_step(self) -> int:
        """The step of the latest progress report (-1 before the first): one tick of live time."""
        return self.job.progress.step if self.job is not None and self.job.progress is not None else -1

    def status(self) -> Text:
        text = Text()
        status = self.record.status if self.record is not None else (self.job.state if self.job else "?")
        style = "bold green" if status == "completed" else "bold cyan" if status in ("running", RUNNING) else "bold yellow"
        text.append(f"{status}", style=style)
        cfg = self.config
        text.append(f"  n={cfg.n} m={cfg.m}  {cfg.num_instances} instance(s)  ")
        if self.record is not None:
            m = self.record.manifest
            text.append(f"{m.get('device') or '?'}  {m.get('steps_done', 0):,}/{cfg.steps:,} steps in {format_seconds(m.get('elapsed_seconds'))}")
            rate = (m.get("steps_done") or 0) / max(m.get("elapsed_seconds") or 0, 1e-9)
            if m.get("elapsed_seconds"):
                text.append(f" ({rate:,.0f} it/s)")
            if self.record.final_loss is not None:
                text.append(f"  final loss {self.record.final_loss:.4g}")
        elif self.job is not None:
            p = self.job.progress
            if p is None:
                text.append("waiting to start" if self.job.state == "pending" else "starting…")
            elif p.stage == "compiling":
                text.append("compiling the training step…")
            else:
                text.append(f"step {p.step:,}/{p.steps:,}  {p.steps_per_second:,.0f} it/s  {format_seconds(p.seconds_left)} left")
                text.append(f"  ({100 * self.job.fraction_done:.0f}%)", style="bold")
            if self.job.state == RUNNING:
                text.append("   x cancels", style="dim")
            if self.job.error:
                text.append(f"  {self.job.error}", style="red")
        return text
