"""What a run allocates, known without torch: the trainer's sizing constants and the estimate that
`RunConfig.validate` holds against the memory a device has.

The trainer (engine.training.train) takes its chunk sizes from here, so the estimate and the allocations
it bounds have one definition. Every allocation that grows with the config is counted: the
chunked training step, the evaluation on the shared 65,536-sample stream, the weights with their
Adam moments, the snapshots and the loss history. Bytes per element were measured on CPU
(float32 intermediates and the int64 temporaries of the hashed uniforms) and rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import RunConfig

CHUNK_ELEMENTS = 3_000_000  # data elements per step call: keeps the intermediates in cache
HISTORY_POINTS = 500  # loss-history rows kept, whatever the number of steps
SNAPSHOT_FLOATS = 16_000_000  # bound on the W snapshots kept (64 MB of float32)
EVAL_SAMPLES = 65_536
EVAL_CHUNK = 8_192
EVAL_CHUNK_ELEMENTS = 8_000_000  # data elements per evaluation call (no gradients: more than a step's)

HASH_BYTES = 32  # int64 temporaries of one hashed uniform (engine.training.data.hashed_uniform)
INSTANCE_BYTES = 24  # float32 intermediates per instance, feature and sample (x, z, f(z), errors, gradients)
STATE_FLOATS = 8  # per weight: W, its two Adam moments, the initial copy, gathered copies
SAFETY = 1.5  # the measured peaks, rounded up once more


def snapshot_count(config: "RunConfig", instances: int) -> int:
    """How many W snapshots the trainer keeps: the config's count, within SNAPSHOT_FLOATS."""
    budget = max(2, SNAPSHOT_FLOATS // max(1, instances * config.m * config.n))
    return max(0, min(config.snapshots, budget))


def step_chunk(instances: int, n: int, batch: int) -> int:
    """Instances trained by one call of the step (engine.training.step.chunk_plan)."""
    return min(instances, max(1, CHUNK_ELEMENTS // (n * batch)))


def evaluation_chunk(instances: int, n: int, seeds: int) -> int:
    """Instances evaluated together on one chunk of the evaluation stream (engine.training.evaluate)."""
    seeds = max(1, seeds)
    return min(instances, seeds * max(1, EVAL_CHUNK_ELEMENTS // (n * EVAL_CHUNK * seeds)))


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of each part of a run at its peak; `field` names what to lower when it is too big."""

    step: int
    evaluation: int
    state: int  # weights, Adam moments, the instance table, snapshots and the loss history

    @property
    def total(self) -> int:
        return int(SAFETY * (max(self.step, self.evaluation) + self.state))

    def largest(self) -> str:
        parts = {"step": self.step, "evaluation": self.evaluation, "state": self.state}
        return max(parts, key=parts.get)


def estimate(config: "RunConfig", instances: int) -> MemoryEstimate:
    """The peak bytes of a run of `config` training `instances` models."""
    K, n, m, batch = instances, config.n, config.m, config.batch_size
    k = step_chunk(K, n, batch)
    step = batch * k * (HASH_BYTES * n + INSTANCE_BYTES * (n + m))
    e = evaluation_chunk(K, n, config.seeds)
    evaluation = EVAL_CHUNK * (HASH_BYTES * n + INSTANCE_BYTES * e * (n + m))
    weights = K * (m * n + n)
    state = 4 * (STATE_FLOATS * weights + 4 * K * n + snapshot_count(config, K) * K * m * n + 2 * HISTORY_POINTS * K)
    return MemoryEstimate(step=step, evaluation=evaluation, state=state)
