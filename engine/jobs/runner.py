"""Train a config in this very process and keep the run in the store: the in-process path of
tests, benchmarks and scripts that want one run without the queue. It takes the one lifecycle
(engine.jobs.lifecycle) that the workers take; commands a user runs submit to the queue instead
(engine.jobs.batch)."""

from __future__ import annotations

from typing import Callable

from engine.config import RunConfig
from engine.jobs.lifecycle import StopFlag, carry, local_execution
from engine.jobs.resume import resume_extra
from engine.store.runs import RunRecord, RunStore
from engine.training.train import TrainProgress


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
    """Train `config` in this process, saving as it goes, and return the saved run (completed, or
    cancelled when should_stop() asked). A failure marks the run failed with its reason and
    re-raises; Ctrl+C saves it interrupted and re-raises.

    The run folder exists (status running, its lock held) from the first moment, so a killed
    process leaves a run the reconciler ends interrupted. With `parent`, the run continues that
    one (config from engine.jobs.resume.resume_config), as `train --resume` does."""
    if parent is not None:
        extra = {**(extra or {}), **resume_extra(parent)}
    writer = store.create(config, extra)  # validates the config before the run folder exists
    if on_created:
        on_created(writer.id)
    execution = local_execution(send_weights=send_weights, progress_interval=progress_interval)
    carry(writer, execution, stop=StopFlag(writer, should_stop), log=lambda text: None, on_progress=on_progress,
          on_warning=on_warning or (lambda text: None), reraise=True)
    return store.load(writer.id)
