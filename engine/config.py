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

from engine.training.activations import get_activation
from engine.errors import ConfigError
from engine.profiles import PROFILES, get_profile

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "linear", "cosine")
INITS = ("xavier", "xavier_batched")
# How the loss combines the features of a sample: summed (the blog's formula) or averaged (Anthropic's code).
LOSS_REDUCTIONS = ("sum", "mean")
# How a phase run's densities and relative importances make its points: every density with every
# relative importance (a grid), or densities[i] with relative_importances[i] (pairs: the explicit
# points a refinement level adds where a phase boundary lies, engine.sweeps.refine).
POINT_LAYOUTS = ("grid", "pairs")

# Sane maxima: every number a config holds is bounded here, so nothing is allocated or trained
# before a bad value is refused with the field's name (the memory estimate bounds the rest).
MAX_FEATURES = 100_000
MAX_AXIS_VALUES = 10_000  # densities, relative importances
MAX_SEEDS = 10_000
MAX_INSTANCES = 1_000_000
MAX_STEPS = 1_000_000_000
MAX_BATCH_SIZE = 1_000_000_000
MAX_SNAPSHOTS = 2**31 - 1  # any count is accepted: the trainer keeps at most engine.training.memory.SNAPSHOT_FLOATS
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 100.0
MAX_PARAMETER = 1e6  # |activation parameter|
MAX_PHASE_THRESHOLD = 1e6


@dataclass(frozen=True)
class RunConfig:
    preset: str = "custom"
    activation: str = "relu"
    n: int = 10
    m: int = 5
    densities: tuple[float, ...] = (1.0,)
    # Phase preset: importance of feature 2 relative to feature 1, I = (1, r). None: I_i = decay**i.
    relative_importances: tuple[float, ...] | None = None
    point_layout: str = "grid"  # POINT_LAYOUTS: crossed into a grid, or paired point by point
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

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["densities"] = list(self.densities)
        out["relative_importances"] = None if self.relative_importances is None else list(self.relative_importances)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """A config from plain data (a manifest, a TOML file): every field's type is checked
        against its annotation, so a string where numbers belong is refused with its name."""
        if not isinstance(data, dict):
            raise ConfigError("config", f"must be a table of fields, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - set(fields))
        if unknown:
            raise ConfigError(unknown[0], f"unknown config field (accepted: {', '.join(sorted(fields))})")
        kwargs = {name: _typed(name, str(fields[name].type), value) for name, value in data.items()}
        return cls(**kwargs)

    def check_fields(self) -> "RunConfig":
        """Raise ConfigError naming the first bad field; return self when all is well. These are
        the checks every run shares; `engine.experiments.validate_config` adds the experiment's own,
        the instance count and the memory estimate (a run is validated there, once)."""
        get_activation(self.activation).check(self.activation_params)  # names, and which are choices
        for name, value in self.activation_params.items():
            if not isinstance(value, str):  # a named choice (solu's axis) was checked just above
                _check(_finite(value) and abs(value) <= MAX_PARAMETER, f"activation_params.{name}",
                       f"must be a number within ±{MAX_PARAMETER:g}, got {value!r}")
        _int_within(self.n, "n", 2, MAX_FEATURES)
        _int_within(self.m, "m", 1, MAX_FEATURES)
        _check(self.m < self.n, "m", f"must be smaller than n={self.n} (superposition needs m < n), got {self.m}")
        _check(len(self.densities) > 0, "densities", "needs at least one density in (0, 1]")
        _check(len(self.densities) <= MAX_AXIS_VALUES, "densities",
               f"at most {MAX_AXIS_VALUES:,} values, got {len(self.densities):,}")
        for d in self.densities:
            _check(_finite(d) and 0 < d <= 1, "densities", f"each density must lie in (0, 1], got {d!r}")
        if self.relative_importances is not None:
            _check(self.n == 2, "relative_importances", f"apply to n=2 models only, got n={self.n}")
            _check(len(self.relative_importances) > 0, "relative_importances", "needs at least one value > 0")
            _check(len(self.relative_importances) <= MAX_AXIS_VALUES, "relative_importances",
                   f"at most {MAX_AXIS_VALUES:,} values, got {len(self.relative_importances):,}")
            for r in self.relative_importances:
                _check(_finite(r) and 0 < r <= MAX_PARAMETER, "relative_importances",
                       f"each must be a number in (0, {MAX_PARAMETER:g}], got {r!r}")
        _check(self.point_layout in POINT_LAYOUTS, "point_layout",
               f"unknown point layout {self.point_layout!r} (accepted: {', '.join(POINT_LAYOUTS)})")
        _check(
            _finite(self.importance_decay) and 0 < self.importance_decay <= 1,
            "importance_decay",
            f"must lie in (0, 1] (importance I_i = decay**i), got {self.importance_decay!r}",
        )
        _int_within(self.seeds, "seeds", 1, MAX_SEEDS)
        _check(isinstance(self.seed, int) and 0 <= self.seed < 2**31, "seed", f"must be an integer in [0, 2**31), got {self.seed!r}")
        _int_within(self.steps, "steps", 1, MAX_STEPS)
        _int_within(self.batch_size, "batch_size", 1, MAX_BATCH_SIZE)
        _check(_finite(self.lr) and 0 < self.lr <= MAX_LR, "lr", f"must be a number in (0, {MAX_LR:g}], got {self.lr!r}")
        _check(self.optimizer in OPTIMIZERS, "optimizer", f"unknown optimizer {self.optimizer!r} (accepted: {', '.join(OPTIMIZERS)})")
        _check(_finite(self.weight_decay) and 0 <= self.weight_decay <= MAX_WEIGHT_DECAY, "weight_decay",
               f"must be a number in [0, {MAX_WEIGHT_DECAY:g}], got {self.weight_decay!r}")
        _check(self.schedule in SCHEDULES, "schedule", f"unknown schedule {self.schedule!r} (accepted: {', '.join(SCHEDULES)})")
        _check(self.init in INITS, "init", f"unknown init {self.init!r} (accepted: {', '.join(INITS)})")
        _check(self.loss_reduction in LOSS_REDUCTIONS, "loss_reduction",
               f"unknown loss reduction {self.loss_reduction!r} (accepted: {', '.join(LOSS_REDUCTIONS)})")
        get_profile(self.profile)
        _int_within(self.snapshots, "snapshots", 0, MAX_SNAPSHOTS)
        _check(_finite(self.phase_threshold) and 0 < self.phase_threshold <= MAX_PHASE_THRESHOLD, "phase_threshold",
               f"must be a number in (0, {MAX_PHASE_THRESHOLD:g}], got {self.phase_threshold!r}")
        return self


# --------------------------------------------------------------------------- profiles


def apply_profile(config: RunConfig, name: str) -> RunConfig:
    """`config` with the profile's fields set and its name recorded."""
    return config.replace(profile=name, **get_profile(name).fields)


def profile_overrides(config: RunConfig) -> dict[str, Any]:
    """The profile's fields this config sets otherwise (given explicitly after the profile)."""
    profile = PROFILES.get(config.profile)
    if profile is None:
        return {}
    return {name: getattr(config, name) for name, value in profile.fields.items() if getattr(config, name) != value}


def profile_label(config: RunConfig) -> str:
    """The profile's name as shown, e.g. "anthropic" or "anthropic (weight_decay=0)"."""
    changed = profile_overrides(config)
    if not changed:
        return config.profile
    return f"{config.profile} ({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in changed.items())})"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check(ok: bool, field_name: str, message: str) -> None:
    if not ok:
        raise ConfigError(field_name, message)


def _int_within(value: Any, field_name: str, low: int, high: int) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= low, field_name,
           f"must be an integer >= {low}, got {value!r}")
    _check(value <= high, field_name, f"must be at most {high:,}, got {value:,}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _typed(name: str, annotation: str, value: Any) -> Any:
    """`value` as field `name` (annotated `annotation`) holds it, or ConfigError naming the field."""
    optional = annotation.endswith(" | None")
    kind = annotation.removesuffix(" | None")
    if value is None and optional:
        return None
    if kind == "str":
        ok = isinstance(value, str)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = _is_number(value)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "tuple[float, ...]":
        ok = isinstance(value, (list, tuple)) and all(_is_number(v) for v in value)
        value = tuple(float(v) for v in value) if ok else value
    elif kind == "dict[str, float | str]":  # numbers, or the names of choices (solu's axis=instance)
        ok = isinstance(value, dict) and all(isinstance(k, str) and (_is_number(v) or isinstance(v, str))
                                             for k, v in value.items())
        value = dict(value) if ok else value
    else:
        ok = True  # a field of a kind not listed here is checked by validate()
    if not ok:
        wanted = {"str": "text", "int": "an integer", "float": "a number", "bool": "true or false",
                  "tuple[float, ...]": "a list of numbers",
                  "dict[str, float | str]": "a table of NAME = NUMBER or NAME = \"CHOICE\""}.get(kind, kind)
        raise ConfigError(name, f"must be {wanted}{' or null' if optional else ''}, got {type(value).__name__}")
    return value
