"""A run's short name (`phase-relu-40x40`): made from its config, editable, accepted wherever an id
is (engine.store.runs.RunStore.resolve). Kept apart so the store and its index share it."""

from __future__ import annotations

import re
from typing import Any

from engine.config import RunConfig
from engine.errors import ConfigError

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}$")
# Scalar config fields a list of runs can show as columns (and the index keeps for it).
LISTED_CONFIG_FIELDS = ("n", "m", "steps", "batch_size", "lr", "optimizer", "weight_decay", "schedule", "init",
                        "loss_reduction", "seeds", "seed", "importance_decay", "profile", "device")


def default_run_name(config: RunConfig, sweep: Any = None) -> str:
    """A short name a person can read and type: `phase-relu-40x40` (the grid), `dims-relu-n400m30`;
    a sweep's member says its swept values (`phase-relu-8x8-lr0.003`)."""
    if config.preset == "phase" and config.relative_importances and config.point_layout == "pairs":
        size = f"{len(config.densities)}pts"  # a refinement level's points lie on no grid
    elif config.preset == "phase" and config.relative_importances:
        size = f"{len(config.densities)}x{len(config.relative_importances)}"
    else:
        size = f"n{config.n}m{config.m}"
    name = f"{config.preset}-{config.activation}-{size}"
    axes = sweep.get("axes") if isinstance(sweep, dict) else None
    if isinstance(axes, dict):
        for field_name, value in axes.items():
            if field_name != "activation" and isinstance(value, (int, float, str)):
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                name += f"-{field_name.replace('_', '')}{shown}"
    name = re.sub(r"[^A-Za-z0-9_.+-]", "", name)[:48]
    return name if RUN_NAME.match(name) else f"{config.preset}-{config.activation}"


def validate_run_name(name: str) -> str:
    if not isinstance(name, str) or not RUN_NAME.match(name) or ".." in name:
        raise ConfigError("name", f"invalid run name {name!r} (1 to 48 letters, digits, '.', '_', '+' and '-', "
                                  "starting with a letter or digit)")
    return name


def listed_config(config: RunConfig) -> dict[str, Any]:
    return {key: getattr(config, key) for key in LISTED_CONFIG_FIELDS}



def valid_name_or_default(name: Any, config: RunConfig) -> str:
    """A manifest's name where it is one (a folder may hold anything), else the default."""
    return name if isinstance(name, str) and RUN_NAME.match(name) and ".." not in name else default_run_name(config)
