"""Sweeps: one run per combination of config values, kept together under one sweep id.

A sweep is a base config (a preset with fixed overrides), activations as its first axis, and any
number of swept fields, each a list of values:

    SweepPlan(base, activations=["relu", "gelu"], axes={"lr": [1e-3, 3e-3], "m": [5, 10]})

`grid` gives every combination; `random` draws `count` combinations with a seed (a field given
as a range LOW:HIGH is then drawn log-uniformly, a list uniformly). Values are typed and checked
field by field, and every resulting config is validated, before any run exists. The same plan
comes from command-line flags (`--sweep lr=1e-4:1e-2:5`), from a TOML file (`supertui sweep
FILE`), or from the app's launch form, so the three queue identical configs.

Each run of a sweep records `{"id": SWEEP_ID, "axes": {field: value}}` in its manifest, and
`<data>/sweeps/<id>.json` lists the sweep's plan and runs.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import itertools
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from engine.experiments import validate_config
from engine.config import INITS, LOSS_REDUCTIONS, OPTIMIZERS, SCHEDULES, RunConfig
from engine.errors import ConfigError

# The fields a sweep may vary, with how their values are read. Instance axes (densities, the
# phase grid, seeds of one point) vary inside a run; these vary from run to run.
FIELD_KINDS: dict[str, str] = {
    "lr": "float",
    "weight_decay": "float",
    "importance_decay": "float",
    "batch_size": "int",
    "steps": "int",
    "m": "int",
    "n": "int",
    "seeds": "int",
    "seed": "int",
    "init": "choice",
    "optimizer": "choice",
    "schedule": "choice",
    "loss_reduction": "choice",
}
CHOICES = {"init": INITS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "loss_reduction": LOSS_REDUCTIONS}
PARAM_PREFIX = "param."
MODES = ("grid", "random")
MAX_SEED = 2**63 - 1  # numpy seeds a generator from a whole number >= 0
MAX_VALUES = 10_000  # values of one axis: a range asking for more is a typo
CONFIRM_ABOVE = 64  # runs: a bigger sweep asks for --yes


def sweepable_fields() -> list[str]:
    return [*FIELD_KINDS, f"{PARAM_PREFIX}NAME"]


def field_kind(name: str) -> str:
    if name.startswith(PARAM_PREFIX) and len(name) > len(PARAM_PREFIX):
        return "param"  # a number, or a name the activation checks (param.axis=feature,instance)
    if name not in FIELD_KINDS:
        raise ConfigError("sweep", f"cannot sweep {name!r} (accepted: {', '.join(sweepable_fields())}; "
                                   "activations with -a, densities inside a run)")
    return FIELD_KINDS[name]


def parse_value(name: str, text: Any) -> Any:
    """One value of field `name`, from text (flags) or a TOML value."""
    kind = field_kind(name)
    if kind == "param" and not isinstance(text, (int, float)):
        try:
            float(text)
        except (TypeError, ValueError):
            return str(text).strip()
    if kind == "choice":
        value = str(text).strip().lower()
        if value not in CHOICES[name]:
            raise ConfigError(name, f"unknown value {text!r} (accepted: {', '.join(CHOICES[name])})")
        return value
    try:
        number = float(text) if not isinstance(text, bool) else math.nan
    except (TypeError, ValueError):
        raise ConfigError(name, f"cannot read {text!r} as a number") from None
    if not math.isfinite(number):
        raise ConfigError(name, f"must be a finite number, got {text!r}")
    if kind == "int":
        if not number.is_integer():
            raise ConfigError(name, f"must be a whole number, got {text!r}")
        return int(number)
    return number


def parse_values(name: str, text: str) -> list[Any]:
    """`1e-4:1e-2:5` (COUNT log-spaced values from LOW to HIGH, whole numbers rounded) or
    `a,b,c`; duplicates are dropped, order kept."""
    text = str(text).strip()
    if not text:
        raise ConfigError(name, "needs at least one value")
    if ":" in text:
        if field_kind(name) == "choice":
            raise ConfigError(name, f"a range needs a numeric field, got {text!r}")
        parts = text.split(":")
        if len(parts) != 3:
            raise ConfigError(name, f"cannot read range {text!r} (accepted: LOW:HIGH:COUNT, e.g. 1e-4:1e-2:5)")
        low, high = (parse_value(name, p) for p in parts[:2])
        if isinstance(low, str) or isinstance(high, str):
            raise ConfigError(name, f"a range needs numbers, got {text!r}")
        try:
            count = int(parts[2])
        except ValueError:
            raise ConfigError(name, f"cannot read the count of {text!r} (a whole number)") from None
        if not 1 <= count <= MAX_VALUES:
            raise ConfigError(name, f"a range has 1 to {MAX_VALUES} values, got {count}")
        if low <= 0 or high <= 0:
            raise ConfigError(name, f"a log-spaced range needs LOW and HIGH > 0, got {text!r}")
        values = np.geomspace(float(low), float(high), count).tolist()
        if field_kind(name) == "int":
            values = [int(round(v)) for v in values]
    else:
        values = [parse_value(name, token) for token in text.split(",") if token.strip()]
        if not values:
            raise ConfigError(name, "needs at least one value")
    return list(dict.fromkeys(values))


def parse_sweep_flag(text: str) -> tuple[str, list[Any]]:
    """`FIELD=VALUES` from a --sweep flag."""
    name, eq, values = str(text).partition("=")
    name = name.strip().replace("-", "_") if not name.strip().startswith(PARAM_PREFIX) else name.strip()
    if not eq or not name:
        raise ConfigError("sweep", f"cannot read {text!r} (accepted: FIELD=V1,V2,... or FIELD=LOW:HIGH:COUNT)")
    field_kind(name)
    return name, parse_values(name, values)


def apply_axis_value(config: RunConfig, name: str, value: Any) -> RunConfig:
    if name.startswith(PARAM_PREFIX):
        return config.replace(activation_params={**config.activation_params, name[len(PARAM_PREFIX):]: value})
    return config.replace(**{name: value})


@dataclass(frozen=True)
class SweepPoint:
    config: RunConfig
    axes: dict[str, Any]  # the swept fields' values (activation included when it varies)


@dataclass
class SweepPlan:
    base: RunConfig
    activations: list[str]
    axes: dict[str, list[Any]] = field(default_factory=dict)
    mode: str = "grid"
    count: int | None = None  # random mode: how many runs
    seed: int = 0  # random mode
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # random mode: LOW..HIGH log-uniform

    def points(self) -> list[SweepPoint]:
        """Every run of the sweep, each config validated (the first bad one raises ConfigError)."""
        if self.mode not in MODES:
            raise ConfigError("mode", f"unknown sweep mode {self.mode!r} (accepted: {', '.join(MODES)})")
        if not self.activations:
            raise ConfigError("activation", "a sweep needs at least one activation")
        combos = self._grid() if self.mode == "grid" else self._random()
        points = []
        varies_activation = len(self.activations) > 1
        for activation, values in combos:
            config = self.base.replace(activation=activation)
            for name, value in values.items():
                config = apply_axis_value(config, name, value)
            validate_config(config)
            axes = ({"activation": activation} if varies_activation else {}) | values
            points.append(SweepPoint(config, axes))
        return points

    def _grid(self) -> list[tuple[str, dict[str, Any]]]:
        names = list(self.axes)
        return [(activation, dict(zip(names, combo)))
                for activation in self.activations
                for combo in itertools.product(*(self.axes[n] for n in names))]

    def _random(self) -> list[tuple[str, dict[str, Any]]]:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or not 1 <= self.count <= MAX_VALUES:
            raise ConfigError("count", f"random mode needs a count of 1 to {MAX_VALUES} runs, got {self.count!r}")
        rng = np.random.default_rng(self.seed)
        out = []
        for _ in range(self.count):
            activation = self.activations[int(rng.integers(len(self.activations)))]
            values: dict[str, Any] = {}
            for name, choices in self.axes.items():
                values[name] = choices[int(rng.integers(len(choices)))]
            for name, (low, high) in self.ranges.items():
                value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
                values[name] = int(round(value)) if field_kind(name) == "int" else value
            out.append((activation, values))
        return out

    @property
    def is_sweep(self) -> bool:
        return bool(self.axes or self.ranges) or len(self.activations) > 1

    def describe(self) -> dict[str, Any]:
        """The plan as recorded in the sweep's index file."""
        return {
            "preset": self.base.preset,
            "activations": list(self.activations),
            "axes": {name: list(values) for name, values in self.axes.items()},
            "ranges": {name: list(bounds) for name, bounds in self.ranges.items()},
            "mode": self.mode,
            "count": self.count,
            "seed": self.seed,
        }


def new_sweep_id(preset: str) -> str:
    return f"sweep-{_dt.datetime.now():%Y%m%d-%H%M%S}-{preset}-{secrets.token_hex(3)}"


def plan_from_toml(data: dict[str, Any], base_for: Any) -> SweepPlan:
    """A plan from a parsed TOML document:

        preset = "dims"            # required
        quality = "quick"          # or "paper"
        activations = ["relu", "gelu"]
        mode = "grid"              # or "random", with count and seed
        [fixed]                    # fields every run shares
        steps = 5000
        [sweep]                    # swept fields: a list, or "LOW:HIGH:COUNT"
        lr = [1e-3, 3e-3]
        m = "5:20:4"

    `base_for(preset, quality, fixed)` builds the validated base config (the CLI's own rules)."""
    known = {"preset", "quality", "activations", "mode", "count", "seed", "fixed", "sweep"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(unknown[0], f"unknown key in the sweep file (accepted: {', '.join(sorted(known))})")
    preset = data.get("preset")
    if not isinstance(preset, str):
        raise ConfigError("preset", "the sweep file needs preset = \"NAME\"")
    fixed = data.get("fixed", {})
    if not isinstance(fixed, dict):
        raise ConfigError("fixed", "must be a table of field = value")
    base = base_for(preset, str(data.get("quality", "quick")), fixed)
    activations = data.get("activations", [base.activation])
    if isinstance(activations, str):
        activations = [activations]
    if not isinstance(activations, list) or not all(isinstance(a, str) for a in activations):
        raise ConfigError("activations", "must be a list of names")
    swept = data.get("sweep", {})
    if not isinstance(swept, dict):
        raise ConfigError("sweep", "must be a table of field = [values] or \"LOW:HIGH:COUNT\"")
    mode = data.get("mode", "grid")
    axes: dict[str, list[Any]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for name, spec in _flatten_params(swept).items():
        if isinstance(spec, list):
            values = [parse_value(name, v) for v in spec]
            if not values:
                raise ConfigError(name, "needs at least one value")
            axes[name] = list(dict.fromkeys(values))
        elif isinstance(spec, str) and mode == "random" and spec.count(":") == 1:
            low, high = (parse_value(name, v) for v in spec.split(":"))
            if not 0 < low <= high:
                raise ConfigError(name, f"a random range needs 0 < LOW <= HIGH, got {spec!r}")
            ranges[name] = (float(low), float(high))
        elif isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
            axes[name] = parse_values(name, str(spec))
        else:
            raise ConfigError(name, f"cannot read {spec!r} (accepted: a list of values or \"LOW:HIGH:COUNT\")")
    count = data.get("count")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ConfigError("seed", f"must be a whole number from 0 to {MAX_SEED}, got {str(seed)[:40]!r}")
    return SweepPlan(base, list(activations), axes, str(mode), count, seed, ranges)


def _number(name: str, value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise ConfigError(name, f"cannot read {value!r} as a number") from None
    return number


def _flatten_params(table: dict[str, Any]) -> dict[str, Any]:
    """TOML reads `param.eps = [...]` as a nested table; give it back its dotted name."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "param" and isinstance(value, dict):
            for name, spec in value.items():
                out[f"{PARAM_PREFIX}{name}"] = spec
        else:
            out[key] = value
    return out


def config_with_fixed(config: RunConfig, fixed: dict[str, Any]) -> RunConfig:
    """`[fixed]` fields of a sweep file applied with the same typing as swept values."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    for name, value in _flatten_params(fixed).items():
        if name.startswith(PARAM_PREFIX):
            config = apply_axis_value(config, name, parse_value(name, value))
        elif name in FIELD_KINDS:
            config = config.replace(**{name: parse_value(name, value)})
        elif name in ("densities", "relative_importances") and isinstance(value, list):
            config = config.replace(**{name: tuple(_number(name, v) for v in value)})
        elif name in ("device",) and isinstance(value, str):
            config = config.replace(device=value)
        elif name == "compile" and isinstance(value, bool):
            config = config.replace(compile=value)
        elif name in known:
            raise ConfigError(name, "cannot be set in [fixed] (use the preset's own value or a flag)")
        else:
            raise ConfigError(name, f"unknown config field (accepted: {', '.join(sorted(known))})")
    return config


# Config fields a sweep may vary (one run per combination); instance axes vary inside a run.
SWEEPABLE = ("activation", "importance_decay", "lr", "batch_size", "steps", "m", "n", "weight_decay", "init", "optimizer", "schedule",
             "loss_reduction")


def expand_sweep(base: RunConfig, axes: dict[str, Iterable[Any]]) -> list[RunConfig]:
    """One config per combination of the swept values, e.g. {"activation": [...], "importance_decay": [...]}."""
    for name in axes:
        if name not in SWEEPABLE:
            raise ConfigError("sweep", f"cannot sweep {name!r} (accepted: {', '.join(SWEEPABLE)})")
    names = list(axes)
    values = [list(axes[name]) for name in names]
    for name, vals in zip(names, values):
        if not vals:
            raise ConfigError(name, "a swept field needs at least one value")
    return [validate_config(base.replace(**dict(zip(names, combo)))) for combo in itertools.product(*values)]
