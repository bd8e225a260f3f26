"""Training: K instances as one batched tensor, one fused step, progress and cancellation.

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
from engine.experiments import instance_table, validate_config
from engine.training.activations import build_activation_math
from engine.training.compile_step import StepPath
from engine.training.device import describe_device, select_device
from engine.training.evaluate import Evaluation, evaluate
from engine.training.memory import EVAL_CHUNK, EVAL_SAMPLES, HISTORY_POINTS, snapshot_count
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



def train(
    config: RunConfig,
    *,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[TrainResult], None] | None = None,
    progress_interval: float = 0.25,
    checkpoint_interval: float = 30.0,
    send_weights: bool = True,
    on_warning: Callable[[str], None] | None = None,
    initial: TrainState | None = None,
    compile_first: bool = False,
) -> TrainResult:
    """Train every instance of `config` together; return when done or when should_stop() says so.

    should_stop is checked before every step, so cancelling stops within one step and keeps
    what was trained (status "cancelled"). `initial` continues a saved run from its step counter
    up to config.steps (engine.jobs.resume); the result then holds the steps after it. With
    config.compile the eager step trains at once and the compiled one takes over when it is ready
    (StepPath); compile_first instead compiles before the first step, as a benchmark's baseline.
    """
    validate_config(config)
    notes: list[str] = []

    def warn(message: str) -> None:
        notes.append(message)
        if on_warning:
            on_warning(message)
        else:
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    device = select_device(config.device)
    table = instance_table(config)
    if not build_activation_math(config.activation, config.activation_params).fast:
        warn(f"activation {config.activation!r} has no written derivative: its gradient falls back to torch.func.vjp (slower)")
    K = len(table)
    start = initial if initial is not None else fresh_state(config, table, device)
    first_step = int(start.optimizer.step)
    if not 0 <= first_step < config.steps:
        raise ValueError(f"the initial state is at step {first_step}, not before the last step {config.steps}")
    chunks = [Chunk(table, idx, config, device, start) for idx in chunk_plan(config, K)]
    path = StepPath(config, device, chunks, warn, first_step=first_step)
    if compile_first and config.compile:
        path.compile_now(chunks[0])

    record_every = max(1, math.ceil(config.steps / HISTORY_POINTS))
    snap_steps = snapshot_schedule(config, K, after=first_step)
    snapshots: list[np.ndarray] = []
    loss_steps: list[int] = []
    loss_rows: list[np.ndarray] = []

    def gather(attr: str) -> np.ndarray:
        full = None
        for chunk in chunks:
            value = getattr(chunk, attr).detach().cpu().numpy()
            if full is None:
                full = np.empty((K,) + value.shape[1:], dtype=value.dtype)
            full[chunk.index] = value  # padded repeats write the same instance twice
        return full

    def take_loss_row(steps: int) -> np.ndarray:
        """Each instance's mean training loss over the last `steps` steps: [K]. A diverged
        instance is frozen and adds nothing, so its row is NaN, never a misleading 0."""
        row = (gather("loss_sum") / steps).astype(np.float32)
        for chunk in chunks:
            chunk.loss_sum.zero_()
        row[gather("diverged")] = np.nan
        return row

    if len(snap_steps) and snap_steps[0] == 0:
        snapshots.append(gather("W"))

    def result(status: str, steps_done: int, elapsed: float) -> TrainResult:
        W, b = gather("W"), gather("b")
        kept = [s for s in snap_steps if s <= steps_done][: len(snapshots)]
        unknown = np.full(K, np.nan)
        if status == "checkpoint":
            final = Evaluation(unknown, unknown, unknown)
        else:  # a cancelled run is judged on the stream's first chunk: saved within a second, its errors wider
            final = evaluate(config, table, W, b, device, samples=EVAL_CHUNK if status == "cancelled" else EVAL_SAMPLES)
        diverged = gather("diverged")
        final.loss[diverged] = np.nan  # frozen where it diverged: no final loss, never a point's best
        return TrainResult(
            W=W,
            b=b,
            final_loss=final.loss,
            final_loss_se=final.se,
            final_loss_gap_se=final.gap_se,
            loss_steps=np.asarray(loss_steps, dtype=np.int64),
            loss_history=np.asarray(loss_rows, dtype=np.float32).reshape(len(loss_rows), K),
            snapshot_steps=np.asarray(kept, dtype=np.int64),
            snapshots=np.asarray(snapshots, dtype=np.float32).reshape(len(snapshots), K, config.m, config.n),
            diverged=diverged,
            status=status,
            steps_done=steps_done,
            device=describe_device(device),
            compiled=path.compiled_from is not None,
            compiled_from_step=path.compiled_from,
            step_rates=dict(path.rates),
            elapsed=elapsed,
            warnings=notes,
            optimizer=OptimizerState(gather("mW"), gather("vW"), gather("mb"), gather("vb"), int(steps_done)),
        )

    reported_rows = 0

    def report(stage: str, step: int, elapsed: float, rate: float, losses: np.ndarray) -> None:
        nonlocal reported_rows
        if on_progress is None:
            return
        new_steps, new_rows = loss_steps[reported_rows:], loss_rows[reported_rows:]
        reported_rows = len(loss_rows)
        on_progress(
            TrainProgress(
                step=step,
                steps=config.steps,
                losses=losses,
                elapsed=elapsed,
                steps_per_second=rate,
                stage=stage,
                diverged=gather("diverged"),
                W=gather("W") if send_weights else None,
                b=gather("b") if send_weights else None,
                history_steps=np.asarray(new_steps, dtype=np.int64),
                history_rows=np.asarray(new_rows, dtype=np.float32).reshape(len(new_rows), K),
            )
        )

    # Training starts at once on the eager step; the compiled one takes over when it is ready.
    started = time.perf_counter()
    last_report = last_checkpoint = started
    interval_start, done, status = first_step, first_step, "completed"
    report(path.stage, done, 0.0, 0.0, np.full(K, np.nan))
    try:
        while True:
            # A row every record_every steps, at the end, and after the very first step: a
            # watcher's first point comes after one step, not after record_every of them.
            if done > first_step and (done % record_every == 0 or done == config.steps or done == first_step + 1):
                loss_rows.append(take_loss_row(done - interval_start))
                loss_steps.append(done)
                interval_start = done
            if len(snapshots) < len(snap_steps) and snap_steps[len(snapshots)] == done:
                snapshots.append(gather("W"))
            if done == config.steps:
                break
            if should_stop is not None and should_stop():
                status = "cancelled"
                if interval_start < done:
                    loss_rows.append(take_loss_row(done - interval_start))
                    loss_steps.append(done)
                break
            path.between_steps(done, config.steps - done)
            now = time.perf_counter()
            first_point = len(loss_rows) == 1 and loss_steps[0] == done  # what a watcher waits for: at once
            if now - last_report >= progress_interval or first_point:
                losses = loss_rows[-1] if loss_rows else np.full(K, np.nan)
                report(path.stage, done, now - started, (done - first_step) / max(now - started, 1e-9), losses)
                last_report = now
            # Only once something is trained: a checkpoint before the first step would save an
            # empty loss history under a manifest that says the run has started.
            if on_checkpoint is not None and done > first_step and now - last_checkpoint >= checkpoint_interval:
                on_checkpoint(result("checkpoint", done, now - started))
                last_checkpoint = now
            path.step(chunks)
            done += 1
    finally:
        path.close(done)
    elapsed = time.perf_counter() - started
    final = result(status, done, elapsed)
    report("done", done, elapsed, (done - first_step) / max(elapsed, 1e-9),
           final.loss_history[-1] if len(final.loss_history) else np.full(K, np.nan))
    return final

