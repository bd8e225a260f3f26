"""One lifecycle: a claimed run taken from its start to a terminal status with a reason.

    status = carry(writer, local_execution(device="cuda:1"), stop=stop_flag)

`carry` is the only code that decides how a run ends, whoever trains it: the local worker
(engine.jobs.worker), the Ray driver (engine.jobs.ray_executor, whose execution streams a remote
task) and the in-process path of tests and benchmarks (engine.jobs.runner). An execution is a
function that trains the run and returns its result, telling the lifecycle through `Hooks` when
the run started, its progress, its checkpoints and warnings. The ends:

    completed / cancelled   the result's status (cancelled: the stop flag was set while it trained)
    cancelled               the run's cancel file was there before it started, or CancelledBeforeStart
    interrupted             RunLost (the process that trained it was lost: a Ray worker, a node),
                            or Ctrl+C in an in-process run
    failed                  any other exception, as one line (failure_line)
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from engine.store.live import LiveWriter
    from engine.store.runs import RunWriter
    from engine.training.train import TrainProgress, TrainResult

FAILURE_LINE_LIMIT = 300  # characters of a failed run's reason
CANCEL_POLL_INTERVAL = 0.05  # seconds between looks at the run's cancel file
CTRL_C_REASON = "stopped by Ctrl+C; the last checkpoint is kept"


class RunLost(Exception):
    """The process training the run was lost: the run ends interrupted with this message."""


class CancelledBeforeStart(Exception):
    """The run was cancelled before its training began."""


class RunFailed(Exception):
    """The run failed elsewhere (a Ray task) and its reason is already one line: kept as it is."""


def failure_line(exc: BaseException, limit: int = FAILURE_LINE_LIMIT) -> str:
    """A failed run's reason: the exception's type and message on one line."""
    text = " ".join((str(exc) if isinstance(exc, RunFailed) else f"{type(exc).__name__}: {exc}").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def log_to_stderr(text: str) -> None:
    """A line for the scheduler's log (a worker's stderr); a full disk loses the line, not the run."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


class StopFlag:
    """Set by a signal handler (`event`), by `also()` (a Ctrl+C in a client), or by the run's
    cancel file, which is looked at every CANCEL_POLL_INTERVAL."""

    def __init__(self, writer: "RunWriter", also: Callable[[], bool] | None = None):
        self.writer = writer
        self.also = also
        self.event = threading.Event()
        self._last_look = 0.0

    def __call__(self) -> bool:
        if self.event.is_set():
            return True
        if self.also is not None and self.also():
            self.event.set()
        now = time.monotonic()
        if now - self._last_look >= CANCEL_POLL_INTERVAL:
            self._last_look = now
            if self.writer.cancel_requested():
                self.event.set()
        return self.event.is_set()


@dataclass
class Hooks:
    """What an execution tells the lifecycle while the run trains."""

    writer: "RunWriter"
    stop: Callable[[], bool]
    log: Callable[[str], None]
    on_progress: Callable[["TrainProgress"], None] | None = None  # a client following in-process
    on_warning: Callable[[str], None] | None = None  # else warnings go to the log
    live: "LiveWriter | None" = None
    started_at: float | None = field(default=None)

    def started(self, **fields: Any) -> None:
        """The run's training begins (status `running`, where and with what it runs)."""
        from engine.store.live import LiveWriter

        self.writer.start(**fields)
        self.live = LiveWriter(self.writer.path, len(self.writer.instances))
        self.started_at = time.monotonic()

    def progress(self, progress: "TrainProgress") -> None:
        if self.live is not None:
            self.live.publish(progress)
        if self.on_progress is not None:
            self.on_progress(progress)

    def checkpoint(self, result: "TrainResult") -> None:
        if not self.writer.checkpoint(result):
            self.warning(f"checkpoint not saved ({self.writer.checkpoint_error}); training goes on")

    def warning(self, text: str) -> None:
        if self.on_warning is not None:
            self.on_warning(text)
        else:
            self.log(f"warning: {self.writer.id}: {text}")

    def close(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None


Execution = Callable[[Hooks], "TrainResult"]


def carry(writer: "RunWriter", execute: Execution, *, stop: Callable[[], bool],
          log: Callable[[str], None] = log_to_stderr,
          on_progress: Callable[["TrainProgress"], None] | None = None,
          on_warning: Callable[[str], None] | None = None, reraise: bool = False) -> str:
    """Take the claimed run of `writer` to a terminal status and return it (see the module doc).
    Its lock is released whatever happens; KeyboardInterrupt is re-raised after the run is saved,
    and with `reraise` (an in-process caller) so is the exception that failed it."""
    hooks = Hooks(writer, stop, log, on_progress, on_warning)
    try:
        if writer.cancel_requested():  # cancelled while it waited for a device
            raise CancelledBeforeStart()
        result = execute(hooks)
        hooks.close()  # the live files go before the final save (they are what a full disk frees)
        writer.finish(result)  # a write failure: keeps what fits, marks the run failed, raises OSError
        return result.status
    except CancelledBeforeStart:
        writer.cancel_before_start()
        return "cancelled"
    except RunLost as exc:
        writer.interrupt(str(exc))
        return "interrupted"
    except KeyboardInterrupt:
        writer.interrupt(CTRL_C_REASON)
        raise
    except BaseException as exc:
        log(traceback.format_exc())
        _fail(writer, failure_line(exc), log)
        if reraise:
            raise
        return "failed"
    finally:
        hooks.close()
        if not writer.ended:
            writer.release()


def _fail(writer: "RunWriter", reason: str, log: Callable[[str], None]) -> None:
    try:
        writer.fail(reason)  # a no-op when finish() already wrote the failure
    except Exception:
        log(traceback.format_exc())  # the disk refuses even that: the reconciler ends it interrupted


def local_execution(*, device: str | None = None, send_weights: bool = True,
                    progress_interval: float = 0.25) -> Execution:
    """Train in this process: the run resolved once (validated, its experiment, activation and
    sampler looked up; `device` overrides the config's), continued from its parent when it is a
    `train --resume` run."""

    def execute(hooks: Hooks) -> "TrainResult":
        import torch

        from engine.jobs.resume import continuation
        from engine.training.device import describe_device
        from engine.training.run import resolve_run
        from engine.training.train import train

        writer = hooks.writer
        run = resolve_run(writer.config, device=device)  # validated against the device's free memory
        writer.instances = run.table  # the one lookup of the instance table, shared with the store
        resumed = continuation(writer.store, writer.manifest, writer.config)  # None unless `train --resume`
        join = resumed.join if resumed else (lambda result: result)
        hooks.started(device=describe_device(run.device), versions={"torch": torch.__version__})
        result = train(
            run,
            on_progress=hooks.progress,
            should_stop=hooks.stop,
            on_checkpoint=lambda partial: hooks.checkpoint(join(partial)),
            on_warning=hooks.warning,
            send_weights=send_weights,
            progress_interval=progress_interval,
            initial=resumed.initial if resumed else None,
        )
        return join(result)

    return execute
