"""One call that trains a config and keeps the run in the store: the CLI and the app both use it."""

from __future__ import annotations

from typing import Callable

from engine.config import RunConfig
from engine.jobs.resume import continuation, resume_extra
from engine.store.runs import RunRecord, RunStore
from engine.training.run import resolve_run
from engine.training.train import TrainProgress, train


def run_experiment(
    config: RunConfig,
    store: RunStore,
    *,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_created: Callable[[str], None] | None = None,
    send_weights: bool = True,
    progress_interval: float = 0.25,
    parent: RunRecord | None = None,
    extra: dict | None = None,
) -> RunRecord:
    """Train `config` in this process, saving as it goes; a failure marks the run failed and
    re-raises. The worker processes (engine.jobs.worker) train queued runs; this is the same job for
    tests, benchmarks and scripts that want a run without the queue.

    The run folder exists (status running, its lock held) from the first moment, so a killed
    process leaves a readable run that the store reports as interrupted. With `parent`, the run
    continues that one (config from engine.jobs.resume.resume_config), as `train --resume` does.
    """
    import torch

    run = resolve_run(config)  # validated and looked up once, before the run folder exists
    if parent is not None:
        extra = {**(extra or {}), **resume_extra(parent)}
    writer = store.create(config, extra)
    writer.start(versions={"torch": torch.__version__})
    if on_created:
        on_created(writer.id)
    try:
        resumed = continuation(store, writer.manifest, config)
        join = resumed.join if resumed else (lambda result: result)
        result = train(
            run,
            on_progress=on_progress,
            should_stop=should_stop,
            on_checkpoint=lambda checkpoint: writer.checkpoint(join(checkpoint)),
            on_warning=on_warning,
            send_weights=send_weights,
            progress_interval=progress_interval,
            initial=resumed.initial if resumed else None,
        )
    except KeyboardInterrupt:
        writer.interrupt("stopped by Ctrl+C; the last checkpoint is kept")
        raise
    except BaseException as exc:
        writer.fail(" ".join(f"{type(exc).__name__}: {exc}".split())[:300])
        raise
    writer.finish(join(result))  # Ctrl+C waits for it; a full disk marks the run failed and raises OSError
    return store.load(writer.id)
