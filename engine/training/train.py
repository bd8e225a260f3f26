"""Training: K instances as one batched tensor, one fused step, progress and cancellation.

    run = resolve_run(config)      # engine.training.run: validated, everything looked up, once
    result = train(run, on_progress=..., should_stop=...)

The whole step (data from the experiment's sampler, forward, the hand-written gradient, the Adam
update and the divergence guard) is one function, `make_train_step`, which torch.compile fuses
into one graph (one loop over instances and samples for small models). The eager path runs the
very same function; it is used with `compile=False` and, after a one-line warning, where
compiling fails. Final losses come from `evaluate`: one evaluation stream shared by every
instance, so the seeds of a grid point are judged on the same samples.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.config import RunConfig
from engine.training.compile_step import StepPath
from engine.training.device import describe_device
from engine.training.evaluate import Evaluation, evaluate
from engine.training.memory import EVAL_CHUNK, EVAL_SAMPLES, HISTORY_POINTS, snapshot_count
from engine.training.run import Run
from engine.training.step import Chunk, OptimizerState, TrainState, chunk_plan, fresh_state


@dataclass
class TrainProgress:
    """What a live view needs, sent every `progress_interval` seconds (and at the end)."""

    step: int  # steps done
    steps: int
    losses: np.ndarray  # [K] mean training loss since the last report
    elapsed: float  # seconds since training (not compiling) began
    steps_per_second: float
    stage: str  # "eager" | "compiling" (eager, the compiled step on its way) | "compiled" | "done"
    diverged: np.ndarray  # [K] bool
    W: np.ndarray | None = None  # [K, m, n]
    b: np.ndarray | None = None  # [K, n]
    history_steps: np.ndarray | None = None  # [r] steps of the loss-history rows recorded since the last report
    history_rows: np.ndarray | None = None  # [r, K] those rows

    @property
    def seconds_left(self) -> float | None:
        if self.steps_per_second <= 0:
            return None
        return (self.steps - self.step) / self.steps_per_second


@dataclass
class TrainResult:
    W: np.ndarray  # [K, m, n]
    b: np.ndarray  # [K, n]
    final_loss: np.ndarray  # [K] on a fixed evaluation batch, so seeds compare fairly
    loss_steps: np.ndarray  # [T] step at the end of each recorded interval
    loss_history: np.ndarray  # [T, K] mean training loss over each interval
    snapshot_steps: np.ndarray  # [S]
    snapshots: np.ndarray  # [S, K, m, n]
    diverged: np.ndarray  # [K] bool: a NaN or inf appeared; the instance was frozen there
    status: str  # "completed" | "cancelled"
    steps_done: int
    device: str
    compiled: bool
    elapsed: float
    warnings: list[str] = field(default_factory=list)
    compiled_from_step: int | None = None  # the step from which the compiled step ran (None: eager only)
    step_rates: dict[str, float] = field(default_factory=dict)  # measured steps/s: "eager", "compiled"
    final_loss_se: np.ndarray | None = None  # [K] standard error of final_loss (evaluation samples)
    final_loss_gap_se: np.ndarray | None = None  # [K] paired standard error of (loss_k - its point's winner)
    optimizer: OptimizerState | None = None  # the state to resume from (engine.jobs.resume)


def snapshot_schedule(config: RunConfig, K: int, after: int = 0) -> np.ndarray:
    """Log-spaced steps (0 = the init) at which W is kept, bounded in count and bytes. A run that
    continues another from step `after` keeps those past it (the parent kept the rest)."""
    count = snapshot_count(config, K)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    steps = np.unique(np.round(np.geomspace(1, config.steps, max(1, count - 1))).astype(np.int64))
    steps = np.concatenate([[0], steps])
    return steps[steps > after] if after else steps


class Instances:
    """The run's K instances, held by its chunks; each value gathered back as one [K, ...] array."""

    def __init__(self, run: Run, start: TrainState):
        self.K = run.instances
        self.chunks = [Chunk(run, index, start) for index in chunk_plan(run)]

    def gather(self, attr: str) -> np.ndarray:
        full = None
        for chunk in self.chunks:
            value = getattr(chunk, attr).detach().cpu().numpy()
            if full is None:
                full = np.empty((self.K,) + value.shape[1:], dtype=value.dtype)
            full[chunk.index] = value  # padded repeats write the same instance twice
        return full

    def take_loss_row(self, steps: int) -> np.ndarray:
        """Each instance's mean training loss over the last `steps` steps: [K]. A diverged
        instance is frozen and adds nothing, so its row is NaN, never a misleading 0."""
        row = (self.gather("loss_sum") / steps).astype(np.float32)
        for chunk in self.chunks:
            chunk.loss_sum.zero_()
        row[self.gather("diverged")] = np.nan
        return row

    def optimizer_state(self, step: int) -> OptimizerState:
        return OptimizerState(self.gather("mW"), self.gather("vW"), self.gather("mb"), self.gather("vb"), int(step))


class History:
    """The loss history (a row every `record_every` steps, at the end, and after the very first
    step, so a watcher's first point comes at once) and the W snapshots on their schedule."""

    def __init__(self, run: Run, instances: Instances, first_step: int):
        config = run.config
        self.instances, self.steps, self.first_step = instances, config.steps, first_step
        self.record_every = max(1, math.ceil(config.steps / HISTORY_POINTS))
        self.snapshot_steps = snapshot_schedule(config, instances.K, after=first_step)
        self.snapshots: list[np.ndarray] = []
        self.loss_steps: list[int] = []
        self.loss_rows: list[np.ndarray] = []
        self.interval_start = first_step
        self.reported = 0  # rows already sent to on_progress

    def record(self, done: int) -> None:
        """What the boundary at step `done` owes: a loss row, a snapshot."""
        if done > self.first_step and (done % self.record_every == 0 or done == self.steps or done == self.first_step + 1):
            self._row(done)
        if len(self.snapshots) < len(self.snapshot_steps) and self.snapshot_steps[len(self.snapshots)] == done:
            self.snapshots.append(self.instances.gather("W"))

    def next_owed(self, done: int) -> int:
        """The first step after `done` at which `record` owes something: where a block of steps ends."""
        owed = [self.steps, (done // self.record_every + 1) * self.record_every]
        if done < self.first_step + 1:
            owed.append(self.first_step + 1)
        if len(self.snapshots) < len(self.snapshot_steps):
            owed.append(int(self.snapshot_steps[len(self.snapshots)]))
        return min(s for s in owed if s > done)

    def close(self, done: int) -> None:
        """Stopped early: the steps since the last row make one more row."""
        if self.interval_start < done:
            self._row(done)

    def _row(self, done: int) -> None:
        self.loss_rows.append(self.instances.take_loss_row(done - self.interval_start))
        self.loss_steps.append(done)
        self.interval_start = done

    def first_point_at(self, done: int) -> bool:
        """Whether the only row so far was just recorded: what a watcher waits for, sent at once."""
        return len(self.loss_rows) == 1 and self.loss_steps[0] == done

    def last_row(self) -> np.ndarray:
        return self.loss_rows[-1] if self.loss_rows else np.full(self.instances.K, np.nan)

    def unreported(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows recorded since the last call: steps [r], rows [r, K]."""
        steps, rows = self.loss_steps[self.reported:], self.loss_rows[self.reported:]
        self.reported = len(self.loss_rows)
        return np.asarray(steps, dtype=np.int64), np.asarray(rows, dtype=np.float32).reshape(len(rows), self.instances.K)


@dataclass
class Observers:
    """The caller's hooks, and when each is due."""

    on_progress: Callable[[TrainProgress], None] | None
    should_stop: Callable[[], bool] | None
    on_checkpoint: Callable[[TrainResult], None] | None
    on_warning: Callable[[str], None] | None
    progress_interval: float
    checkpoint_interval: float
    send_weights: bool
    notes: list[str] = field(default_factory=list)
    started: float = 0.0  # when training began (perf_counter)
    last_report: float = 0.0
    last_checkpoint: float = 0.0

    def warn(self, message: str) -> None:
        self.notes.append(message)
        if self.on_warning:
            self.on_warning(message)
        else:
            warnings.warn(message, RuntimeWarning, stacklevel=3)

    def start_clock(self) -> None:
        self.started = self.last_report = self.last_checkpoint = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def stop_asked(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    def report_due(self, first_point: bool) -> bool:
        """Every progress_interval, and at once for the first loss point (what a watcher waits for)."""
        now = time.perf_counter()
        if now - self.last_report >= self.progress_interval or first_point:
            self.last_report = now
            return True
        return False

    def checkpoint_due(self, anything_trained: bool) -> bool:
        """Every checkpoint_interval, once something is trained: a checkpoint before the first step
        would save an empty loss history under a manifest that says the run has started."""
        now = time.perf_counter()
        if self.on_checkpoint is not None and anything_trained and now - self.last_checkpoint >= self.checkpoint_interval:
            self.last_checkpoint = now
            return True
        return False

    def progress(self, instances: Instances, history: History, stage: str, step: int,
                 losses: np.ndarray | None = None, elapsed: float | None = None) -> None:
        if self.on_progress is None:
            return
        if elapsed is None:
            elapsed = self.elapsed() if step > history.first_step else 0.0
        rate = (step - history.first_step) / max(elapsed, 1e-9)
        steps, rows = history.unreported()
        self.on_progress(TrainProgress(
            step=step, steps=history.steps, losses=history.last_row() if losses is None else losses, elapsed=elapsed,
            steps_per_second=rate, stage=stage, diverged=instances.gather("diverged"),
            W=instances.gather("W") if self.send_weights else None,
            b=instances.gather("b") if self.send_weights else None,
            history_steps=steps, history_rows=rows,
        ))


def train(
    run: Run,
    *,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[TrainResult], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    initial: TrainState | None = None,
    progress_interval: float = 0.25,
    checkpoint_interval: float = 30.0,
    send_weights: bool = True,
    compile_first: bool = False,
    block_steps: int | None = None,
) -> TrainResult:
    """Train every instance of `run` (engine.training.run.resolve_run) together; return when done
    or when should_stop() says so (status "cancelled", what was trained is kept).

    should_stop is checked before every block of steps. `initial` continues a saved run from its step
    counter up to config.steps (engine.jobs.resume); the result then holds the steps after it.
    With config.compile the eager step trains at once and the compiled one takes over when it is
    ready (StepPath); compile_first instead compiles before the first step, a benchmark's baseline.

    Steps go in blocks (engine.training.blocks): everything above happens at block boundaries, and a
    block ends where a loss row or a snapshot is due. A block lasts about BLOCK_SECONDS, or
    `block_steps` steps where given (tests, benchmarks); on CUDA a block is one replay of CUDA graphs.
    """
    hooks = Observers(on_progress, should_stop, on_checkpoint, on_warning, progress_interval, checkpoint_interval,
                      send_weights)
    instances, path, history = _prepare(run, hooks, initial, compile_first, block_steps)
    first_step, steps = history.first_step, run.config.steps
    done, status = first_step, "completed"
    hooks.start_clock()
    hooks.progress(instances, history, path.stage, done)
    try:
        while True:
            # --- what this step boundary owes: a loss row, a snapshot; or the end
            history.record(done)
            if done == steps:
                break
            # --- cancellation
            if hooks.stop_asked():
                status = "cancelled"
                history.close(done)
                break
            # --- the compiled step, once it is ready and still worth it
            path.between_steps(done, steps - done)
            # --- progress and checkpoints
            if hooks.report_due(history.first_point_at(done)):
                hooks.progress(instances, history, path.stage, done)
            if hooks.checkpoint_due(done > first_step):
                on_checkpoint(_result(run, instances, history, path, hooks, "checkpoint", done))
            # --- a block of steps, ending where the history owes something
            done += path.step(instances.chunks, done, history.next_owed(done))
    finally:
        path.close(done)
    # --- the end: judged on the evaluation stream, one last report
    final = _result(run, instances, history, path, hooks, status, done)
    hooks.progress(instances, history, "done", done, final.loss_history[-1] if len(final.loss_history) else None,
                   elapsed=final.elapsed)
    return final


def _prepare(run: Run, hooks: Observers, initial: TrainState | None,
             compile_first: bool, block_steps: int | None = None) -> tuple[Instances, StepPath, History]:
    """The state training starts from, cut into chunks; the step that trains them; the history."""
    config = run.config
    if not run.maths.fast:
        hooks.warn(f"activation {config.activation!r} has no written derivative: its gradient falls back to "
                   "torch.func.vjp (slower)")
    start = initial if initial is not None else fresh_state(run)
    first_step = int(start.optimizer.step)
    if not 0 <= first_step < config.steps:
        raise ValueError(f"the initial state is at step {first_step}, not before the last step {config.steps}")
    instances = Instances(run, start)
    path = StepPath(run, instances.chunks, hooks.warn, first_step=first_step, block_steps=block_steps)
    if compile_first and config.compile:
        path.compile_now(instances.chunks[0])
    return instances, path, History(run, instances, first_step)


def _result(run: Run, instances: Instances, history: History, path: StepPath, hooks: Observers, status: str,
            steps_done: int) -> TrainResult:
    """What training has produced after `steps_done` steps; a checkpoint is not evaluated, and a
    cancelled run is judged on the stream's first chunk (saved within a second, its errors wider)."""
    K, config, elapsed = run.instances, run.config, hooks.elapsed()
    W, b, diverged = instances.gather("W"), instances.gather("b"), instances.gather("diverged")
    if status == "checkpoint":
        unknown = np.full(K, np.nan)
        final = Evaluation(unknown, unknown, unknown)
    else:
        final = evaluate(run, W, b, samples=EVAL_CHUNK if status == "cancelled" else EVAL_SAMPLES)
    final.loss[diverged] = np.nan  # frozen where it diverged: no final loss, never a point's best
    kept = [s for s in history.snapshot_steps if s <= steps_done][: len(history.snapshots)]
    return TrainResult(
        W=W,
        b=b,
        final_loss=final.loss,
        final_loss_se=final.se,
        final_loss_gap_se=final.gap_se,
        loss_steps=np.asarray(history.loss_steps, dtype=np.int64),
        loss_history=np.asarray(history.loss_rows, dtype=np.float32).reshape(len(history.loss_rows), K),
        snapshot_steps=np.asarray(kept, dtype=np.int64),
        snapshots=np.asarray(history.snapshots, dtype=np.float32).reshape(len(history.snapshots), K, config.m, config.n),
        diverged=diverged,
        status=status,
        steps_done=steps_done,
        device=describe_device(run.device),
        compiled=path.compiled_from is not None,
        compiled_from_step=path.compiled_from,
        step_rates=dict(path.rates),
        elapsed=elapsed,
        warnings=hooks.notes,
        optimizer=instances.optimizer_state(steps_done),
    )
