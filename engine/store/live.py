"""A training run, live, through its folder: the worker publishes, any client tails.

Two files, both safe to read at any moment:
- `live.npz`, replaced whole (temporary name, then rename) at most every `PUBLISH_INTERVAL`:
  the step, the stage, the speed, the latest per-instance losses, the divergence flags and the
  current W and b. A reader that opened the old file keeps reading the old file.
- `history.bin`, the loss history, appended one fixed-size row per recorded interval
  (int64 step, then K float32 losses). It only grows, by at most the few hundred rows the
  trainer records in a whole run; a reader uses the complete rows it sees and ignores a row
  still being written.

Both go away when the run ends: its arrays.npz then holds everything, at full resolution.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.system.files import atomic_write_npz, load_npz
from engine.system.input_files import InputFileError, open_regular
from engine.training.memory import HISTORY_POINTS

LIVE = "live.npz"
HISTORY = "history.bin"
PUBLISH_INTERVAL = 0.25  # seconds: at most four updates a second
MAX_LIVE_WEIGHTS = 8_000_000  # floats of W published live; bigger runs show weights at checkpoints
STAGES = ("starting", "eager", "compiling", "compiled", "done")
MAX_HISTORY_ROWS = 4 * HISTORY_POINTS + 4  # a reader keeps no more rows than a run can write


@dataclass
class LiveState:
    """What a client knows of a training run: the latest report and the loss history so far."""

    step: int = 0
    steps: int = 0
    stage: str = "starting"  # see TrainProgress.stage
    elapsed: float = 0.0
    steps_per_second: float = 0.0
    losses: np.ndarray | None = None  # [K] mean training loss over the last interval
    diverged: np.ndarray | None = None  # [K] bool
    W: np.ndarray | None = None  # [K, m, n]
    b: np.ndarray | None = None  # [K, n]
    history_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [T]
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # [T, K]
    updated: float = 0.0  # time.time() of the last change seen

    @property
    def seconds_left(self) -> float | None:
        if self.steps_per_second <= 0:
            return None
        return (self.steps - self.step) / self.steps_per_second

    @property
    def fraction_done(self) -> float:
        return self.step / max(1, self.steps)


class LiveWriter:
    """The worker's side: `publish(progress)` after each progress report, `close()` at the end."""

    def __init__(self, run_path: Path, instances: int):
        self.run_path = Path(run_path)
        self.instances = instances
        self._last_publish = 0.0
        self._history = open(self.run_path / HISTORY, "ab", buffering=0)
        self._history_broken = False

    def publish(self, progress, force: bool = False) -> None:
        """Best effort: a disk that refuses (full) costs the live view, never the training."""
        try:
            self._publish(progress, force)
        except OSError:
            pass

    def _publish(self, progress, force: bool) -> None:
        self._append_history(progress)
        now = time.monotonic()
        if not force and now - self._last_publish < PUBLISH_INTERVAL:
            return
        self._last_publish = now
        arrays = {
            "step": np.int64(progress.step),
            "steps": np.int64(progress.steps),
            "stage": np.str_(progress.stage),
            "elapsed": np.float64(progress.elapsed),
            "steps_per_second": np.float64(progress.steps_per_second),
            "losses": np.asarray(progress.losses, dtype=np.float32),
            "diverged": np.asarray(progress.diverged, dtype=bool),
        }
        if progress.W is not None and progress.W.size <= MAX_LIVE_WEIGHTS:
            arrays["W"] = np.asarray(progress.W, dtype=np.float32)
            arrays["b"] = np.asarray(progress.b, dtype=np.float32)
        atomic_write_npz(self.run_path / LIVE, arrays, make_parents=False)

    def _append_history(self, progress) -> None:
        steps = getattr(progress, "history_steps", None)
        rows = getattr(progress, "history_rows", None)
        if steps is None or rows is None or len(steps) == 0:
            return
        record = np.empty(len(steps), dtype=history_dtype(self.instances))
        record["step"] = steps
        record["losses"] = np.asarray(rows, dtype=np.float32).reshape(len(steps), self.instances)
        if self._history_broken:
            return
        data = record.tobytes()
        try:
            written = self._history.write(data)  # one write: whole rows or nothing a reader uses
        except OSError:
            written = None
        if written != len(data):
            # A full disk wrote part of a row (or nothing): later rows would be misaligned, so the
            # history stops here; the final arrays hold it all.
            self._history_broken = True

    def close(self, remove: bool = True) -> None:
        self._history.close()
        if remove:
            for name in (LIVE, HISTORY):
                (self.run_path / name).unlink(missing_ok=True)


def history_dtype(instances: int) -> np.dtype:
    return np.dtype([("step", "<i8"), ("losses", "<f4", (instances,))])


class LiveReader:
    """A client's side: `poll()` returns True when anything new arrived; `state` holds it all."""

    def __init__(self, run_path: Path, instances: int, weights: bool = True):
        self.run_path = Path(run_path)
        self.instances = instances
        self.weights = weights  # read W and b too (a view that draws them); progress alone is cheaper
        self.state = LiveState()
        self._live_stamp: tuple[int, int] | None = None
        self._history_offset = 0
        self._steps: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        K = instances
        # Only these entries are read from live.npz, none larger (it lies in a run folder: untrusted).
        self._limits = {"step": 64, "steps": 64, "stage": 1024, "elapsed": 64, "steps_per_second": 64,
                        "losses": 8 * K, "diverged": K, "W": 4 * MAX_LIVE_WEIGHTS, "b": 4 * MAX_LIVE_WEIGHTS}
        self._history_rows = 0

    def poll(self) -> bool:
        changed = self._read_history()
        changed |= self._read_live()
        if changed:
            self.state.updated = time.time()
        return changed

    def _read_live(self) -> bool:
        path = self.run_path / LIVE
        try:
            info = os.stat(path)
        except OSError:
            return False
        stamp = (info.st_mtime_ns, info.st_ino)
        if stamp == self._live_stamp:
            return False
        limits = {key: limit for key, limit in self._limits.items() if self.weights or key not in ("W", "b")}
        try:
            values = load_npz(path, limits)  # only these members, each checked for size, load
        except Exception:
            return False  # vanished between stat and open (the run just ended), or not ours
        self._live_stamp = stamp
        s = self.state
        s.step, s.steps = int(values.get("step", 0)), int(values.get("steps", 0))
        s.stage = str(values.get("stage", "training"))
        s.elapsed = float(values.get("elapsed", 0.0))
        s.steps_per_second = float(values.get("steps_per_second", 0.0))
        s.losses = _shaped(values.get("losses"), (self.instances,))
        s.diverged = _shaped(values.get("diverged"), (self.instances,))
        W, b = values.get("W"), values.get("b")
        if W is not None and W.ndim == 3 and W.shape[0] == self.instances and b is not None:
            s.W, s.b = W, b
        return True

    def want_weights(self, weights: bool) -> None:
        """Start (or stop) reading W: starting re-reads the current file at the next poll."""
        if weights and not self.weights:
            self._live_stamp = None
        self.weights = weights

    def _read_history(self) -> bool:
        dtype = history_dtype(self.instances)
        try:
            # Non-blocking and bounded: a FIFO or /dev/zero in its place is no history, never a hang.
            with open_regular(self.run_path / HISTORY, MAX_HISTORY_ROWS * dtype.itemsize) as fh:
                size = os.fstat(fh.fileno()).st_size
                whole = (size - self._history_offset) // dtype.itemsize
                whole = min(whole, MAX_HISTORY_ROWS - self._history_rows)  # the trainer writes far fewer
                if whole <= 0:
                    return False
                fh.seek(self._history_offset)
                data = fh.read(whole * dtype.itemsize)
        except (OSError, InputFileError):
            return False
        rows = np.frombuffer(data, dtype=dtype, count=len(data) // dtype.itemsize)
        self._history_offset += rows.size * dtype.itemsize
        self._history_rows += rows.size
        self._steps.append(rows["step"].copy())
        self._rows.append(rows["losses"].copy())
        self.state.history_steps = np.concatenate(self._steps)
        self.state.history = np.concatenate(self._rows).reshape(-1, self.instances)
        return True


def _shaped(value: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """Arrays from disk are untrusted: anything of the wrong shape is dropped, not drawn."""
    if value is None or value.shape != shape:
        return None
    return value
