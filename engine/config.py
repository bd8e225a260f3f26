"""RunConfig: everything that defines one run (one activation, many instances), and its checks.

A run trains K instances of the tied autoencoder as one batched tensor. n, m and the activation
are shared; each instance has its own density, importance vector and seed, laid out by the run's
experiment (`preset` names it; see engine.experiments).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.activations import get_activation
from engine.errors import ConfigError
from engine.profiles import get_profile

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "linear", "cosine")
INITS = ("xavier", "xavier_batched")
# How the loss combines the features of a sample: summed (the blog's formula) or averaged (Anthropic's code).
LOSS_REDUCTIONS = ("sum", "mean")

# float32 bytes of the largest live tensors of one step, times this, must fit in memory.
_MEMORY_SAFETY_FACTOR = 12


@dataclass(frozen=True)
class RunConfig:
    preset: str = "custom"
    activation: str = "relu"
    n: int = 10
    m: int = 5
    densities: tuple[float, ...] = (1.0,)
    # Phase preset: importance of feature 2 relative to feature 1, I = (1, r). None: I_i = decay**i.
    relative_importances: tuple[float, ...] | None = None
    importance_decay: float = 0.9
    seeds: int = 1  # seeds per grid point
    seed: int = 0  # instance seeds are seed, seed + 1, ..., seed + seeds - 1
    steps: int = 5_000
    batch_size: int = 1024
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    init: str = "xavier"
    loss_reduction: str = "sum"  # over the features of a sample: sum_i I_i (x_i - x'_i)^2, or its mean
    profile: str = "default"  # the bundle of reference choices applied first (engine.profiles); for display
    device: str = "auto"
    snapshots: int = 50  # W snapshots kept, log-spaced over training
    compile: bool = True  # the fused compiled step; eager is used where compiling fails
    phase_threshold: float = 0.5
    activation_params: dict[str, float | str] = field(default_factory=dict)  # numbers, or names (axis=instance)

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    @property
    def num_points(self) -> int:
        from engine.experiments import experiment_for

        return int(np.prod([len(axis.values) for axis in experiment_for(self).axes(self)]))

    @property
    def num_instances(self) -> int:
        return self.num_points * self.seeds

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["densities"] = list(self.densities)
        out["relative_importances"] = None if self.relative_importances is None else list(self.relative_importances)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown config field (accepted: {', '.join(sorted(known))})")
        kwargs = dict(data)
        if "densities" in kwargs:
            kwargs["densities"] = tuple(float(d) for d in kwargs["densities"])
        if kwargs.get("relative_importances") is not None:
            kwargs["relative_importances"] = tuple(float(r) for r in kwargs["relative_importances"])
        return cls(**kwargs)

    def validate(self, available_memory_bytes: int | None = None) -> "RunConfig":
        """Raise ConfigError naming the first bad field; return self when all is well."""
        from engine.experiments import get_experiment

        experiment = get_experiment(self.preset)  # names every experiment when it is unknown
        get_activation(self.activation).check(self.activation_params)
        _int_at_least(self.n, "n", 2)
        _int_at_least(self.m, "m", 1)
        _check(self.m < self.n, "m", f"must be smaller than n={self.n} (superposition needs m < n), got {self.m}")
        _check(len(self.densities) > 0, "densities", "needs at least one density in (0, 1]")
        for d in self.densities:
            _check(_finite(d) and 0 < d <= 1, "densities", f"each density must lie in (0, 1], got {d!r}")
        if self.relative_importances is not None:
            _check(self.n == 2, "relative_importances", f"apply to n=2 models only, got n={self.n}")
            _check(len(self.relative_importances) > 0, "relative_importances", "needs at least one value > 0")
            for r in self.relative_importances:
                _check(_finite(r) and r > 0, "relative_importances", f"each must be a number > 0, got {r!r}")
        _check(
            _finite(self.importance_decay) and 0 < self.importance_decay <= 1,
            "importance_decay",
            f"must lie in (0, 1] (importance I_i = decay**i), got {self.importance_decay!r}",
        )
        _int_at_least(self.seeds, "seeds", 1)
        _check(isinstance(self.seed, int) and 0 <= self.seed < 2**31, "seed", f"must be an integer in [0, 2**31), got {self.seed!r}")
        _int_at_least(self.steps, "steps", 1)
        _int_at_least(self.batch_size, "batch_size", 1)
        _check(_finite(self.lr) and self.lr > 0, "lr", f"must be a number > 0, got {self.lr!r}")
        _check(self.optimizer in OPTIMIZERS, "optimizer", f"unknown optimizer {self.optimizer!r} (accepted: {', '.join(OPTIMIZERS)})")
        _check(_finite(self.weight_decay) and self.weight_decay >= 0, "weight_decay", f"must be a number >= 0, got {self.weight_decay!r}")
        _check(self.schedule in SCHEDULES, "schedule", f"unknown schedule {self.schedule!r} (accepted: {', '.join(SCHEDULES)})")
        _check(self.init in INITS, "init", f"unknown init {self.init!r} (accepted: {', '.join(INITS)})")
        _check(self.loss_reduction in LOSS_REDUCTIONS, "loss_reduction",
               f"unknown loss reduction {self.loss_reduction!r} (accepted: {', '.join(LOSS_REDUCTIONS)})")
        get_profile(self.profile)
        _check(isinstance(self.snapshots, int) and self.snapshots >= 0, "snapshots", f"must be an integer >= 0, got {self.snapshots!r}")
        _check(_finite(self.phase_threshold) and self.phase_threshold > 0, "phase_threshold", f"must be a number > 0, got {self.phase_threshold!r}")
        experiment.validate(self)
        if available_memory_bytes is not None:
            need = self.estimated_bytes()
            _check(
                need <= available_memory_bytes,
                "batch_size",
                f"this run needs about {need / 2**30:.1f} GiB but {available_memory_bytes / 2**30:.1f} GiB is available; "
                f"lower batch_size, n or the number of instances ({self.num_instances})",
            )
        return self

    def estimated_bytes(self) -> int:
        """A generous upper bound on the memory the largest step needs (float32)."""
        per_step = self.num_instances * (self.n * self.batch_size + self.m * self.batch_size + 4 * self.m * self.n)
        snapshots = self.snapshots * self.num_instances * self.m * self.n
        return 4 * (_MEMORY_SAFETY_FACTOR * per_step + snapshots)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check(ok: bool, field_name: str, message: str) -> None:
    if not ok:
        raise ConfigError(field_name, message)


def _int_at_least(value: Any, field_name: str, low: int) -> None:
    _check(
        isinstance(value, int) and not isinstance(value, bool) and value >= low,
        field_name,
        f"must be an integer >= {low}, got {value!r}",
    )
