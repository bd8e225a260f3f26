"""supertui's engine: plain PyTorch toy models of superposition, trained as batched instances.

The public names below load on first use, so `import engine` costs nothing: commands that only
read runs (listing, showing, exporting) never import torch, which takes seconds.
"""

from __future__ import annotations

import importlib
import os as _os
import sys as _sys
import types as _types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Before torch loads OpenMP: idle threads sleep instead of spinning, which on a busy 2-core
# machine made compiled steps ~15x slower (a spinning thread starves the one it waits for).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_PUBLIC = {
    "BLOG_ACTIVATIONS": "engine.activations",
    "activation_names": "engine.activations",
    "build_activation": "engine.activations",
    "get_activation": "engine.activations",
    "register_activation": "engine.activations",
    "RunConfig": "engine.config",
    "dstar_history": "engine.convergence",
    "run_dstar_history": "engine.convergence",
    "select_device": "engine.device",
    "ConfigError": "engine.errors",
    "DeviceError": "engine.errors",
    "StoreError": "engine.errors",
    "SupertuiError": "engine.errors",
    "PRESETS": "engine.presets",
    "get_preset": "engine.presets",
    "preset_config": "engine.presets",
    "PROFILES": "engine.profiles",
    "apply_profile": "engine.profiles",
    "run_phase_grid": "engine.report",
    "run_to_json": "engine.report",
    "resume_config": "engine.resume",
    "run_experiment": "engine.runner",
    "RunRecord": "engine.store",
    "RunStore": "engine.store",
    "default_data_dir": "engine.store",
    "InstanceTable": "engine.sweep",
    "expand_sweep": "engine.sweep",
    "instance_table": "engine.sweep",
    "TrainProgress": "engine.train",
    "TrainResult": "engine.train",
    "train": "engine.train",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


class _Engine(_types.ModuleType):
    """Importing the submodule engine.train binds the module as `engine.train`; the public name
    is the function, as it was when this file imported everything eagerly, so keep it that way."""

    def __setattr__(self, name: str, value) -> None:
        if name in _PUBLIC and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Engine


if TYPE_CHECKING:  # for readers and type checkers: the same names, eagerly
    from engine.activations import (  # noqa: F401
        BLOG_ACTIVATIONS,
        activation_names,
        build_activation,
        get_activation,
        register_activation,
    )
    from engine.config import RunConfig  # noqa: F401
    from engine.convergence import dstar_history, run_dstar_history  # noqa: F401
    from engine.device import select_device  # noqa: F401
    from engine.errors import ConfigError, DeviceError, StoreError, SupertuiError  # noqa: F401
    from engine.presets import PRESETS, get_preset, preset_config  # noqa: F401
    from engine.profiles import PROFILES, apply_profile  # noqa: F401
    from engine.report import run_phase_grid, run_to_json  # noqa: F401
    from engine.resume import resume_config  # noqa: F401
    from engine.runner import run_experiment  # noqa: F401
    from engine.store import RunRecord, RunStore, default_data_dir  # noqa: F401
    from engine.sweep import InstanceTable, expand_sweep, instance_table  # noqa: F401
    from engine.train import TrainProgress, TrainResult, train  # noqa: F401
