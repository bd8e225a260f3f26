"""Where the run view's data come from: a live run (what its worker publishes in the run folder,
tailed by supertui.live_runs) or a saved run (its arrays, or a W snapshot while scrubbing). The
panes draw a `RunData` and never ask which; a run looks the same whichever process started it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from rich.text import Text

from engine.experiments import instance_count
from engine.config import RunConfig
from engine.errors import ConfigError
from engine.store.arrays import RunArrays
from engine.store.runs import RunRecord, RunStore, StoreError
from engine.instances import InstanceTable
from engine.experiments import instance_table
from supertui.live_runs import LiveRun
from supertui.formatting import format_seconds

STATUS_STYLES = {"completed": "bold green", "running": "bold cyan", "queued": "bold blue", "failed": "bold red",
                 "interrupted": "bold magenta"}
STAGE_WORDS = {"eager": "eager step", "compiling": "eager step, compiling alongside", "compiled": "compiled step",
               "training": "", "starting": "starting"}


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
    """A run while it is queued or trains (through `live`), then its saved record."""

    def __init__(self, record: RunRecord, live: LiveRun | None = None, on_error: Callable[[str], None] | None = None):
        self.record = record
        self.live_run = live if live is not None and live.active else None
        self.config = record.config
        self.on_error = on_error or (lambda message: None)
        self._table: InstanceTable | None = None  # the config's instances, for the live weights
        if self.live_run is not None:
            self.live_run.watch(True)

    def close(self) -> None:
        if self.live_run is not None:
            self.live_run.watch(False)
            self.live_run = None

    @property
    def live(self) -> bool:
        return self.live_run is not None

    @property
    def run_id(self) -> str:
        return self.record.id

    @property
    def active(self) -> bool:
        return self.live_run is not None and self.live_run.active

    def arrays(self) -> RunArrays | None:
        if self.live or not self.record.has_arrays:
            return None
        try:
            return self.record.arrays
        except StoreError as exc:
            self.on_error(str(exc))
            return None

    def refresh(self, store: RunStore) -> bool:
        """After the live run changed: once it has ended, read the saved run. True when the
        source turned from live to saved."""
        if self.live_run is None or self.live_run.active:
            return False
        self.close()
        try:
            self.record = store.load(self.record.id)
        except (StoreError, ConfigError) as exc:
            self.on_error(str(exc))
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
        if self._table is None:
            self._table = instance_table(self.config)
        W = losses = None
        moment = "waiting for the first weights"
        steps, history = np.zeros(0, dtype=np.int64), np.zeros((0, len(self._table)), dtype=np.float32)
        if self.live_run is not None:
            state = self.live_run.state
            if state.W is not None:
                W = state.W
                losses = state.losses if state.losses is not None and np.isfinite(state.losses).any() else None
                moment = f"live, step {state.step:,}"
            steps, history = state.history_steps, state.history
        return RunData(self.config, self._table, W, losses, moment, steps, history, None, live=True)

    def progress_step(self) -> int:
        """The step of the latest progress report (-1 when not live): one tick of live time."""
        return self.live_run.state.step if self.live_run is not None else -1

    def status(self) -> Text:
        record = self.live_run.record if self.live_run is not None else self.record
        status = record.status
        text = Text()
        text.append(status, style=STATUS_STYLES.get(status, "bold yellow"))
        cfg = self.config
        text.append(f"  n={cfg.n} m={cfg.m}  {instance_count(cfg)} instance(s)  ")
        if self.live_run is not None:
            self._live_status(text, self.live_run)
        else:
            self._saved_status(text, record)
        if record.error:
            text.append(f"  {record.error}", style="red")
        return text

    @staticmethod
    def _live_status(text: Text, run: LiveRun) -> None:
        if run.status == "queued":
            text.append("waiting for a free device (supertui jobs lists the queue)")
            return
        state = run.state
        if run.where:
            text.append(f"{run.where}  ")
        if state.step == 0 and state.stage in ("starting", "compiling"):
            text.append("starting…")
        else:
            text.append(f"step {state.step:,}/{state.steps:,}  {state.steps_per_second:,.0f} it/s  "
                        f"{format_seconds(state.seconds_left)} left")
            text.append(f"  ({100 * state.fraction_done:.0f}%)", style="bold")
            if run.resources is not None and run.resources.describe():
                text.append(f"  {run.resources.describe()}", style="dim")  # the worker's CPU, memory, GPU
            words = STAGE_WORDS.get(state.stage, state.stage)
            if words:
                text.append(f"  {words}", style="italic")
        text.append("   x cancels", style="dim")

    @staticmethod
    def _saved_status(text: Text, record: RunRecord) -> None:
        m = record.manifest
        where = m.get("device") or "?"
        host = m.get("host")
        executor = m.get("executor")
        if isinstance(executor, dict) and executor.get("kind") == "ray" and host:
            where += f" on {host} (ray)"
        elapsed = m.get("elapsed_seconds")
        text.append(f"{where}  {m.get('steps_done') or 0:,}/{record.config.steps:,} steps in {format_seconds(elapsed)}")
        if isinstance(elapsed, (int, float)) and elapsed > 0:
            text.append(f" ({(m.get('steps_done') or 0) / elapsed:,.0f} it/s)")
        if isinstance(record.final_loss, (int, float)):
            text.append(f"  final loss {record.final_loss:.4g}")
