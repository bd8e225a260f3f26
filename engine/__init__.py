"""supertui's engine: plain PyTorch toy models of superposition, trained as batched instances.

The public names below load on first use, so `import engine` costs nothing: commands that only
read runs (listing, showing, exporting) never import torch, which takes seconds.
"""

from __future__ import annotations

import importlib
import os as _os
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Before torch loads OpenMP: idle threads sleep instead of spinning, which on a busy 2-core
# machine made compiled steps ~15x slower (a spinning thread starves the one it waits for).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_PUBLIC = {
    "BLOG_ACTIVATIONS": "engine.training.activations",
    "activation_names": "engine.training.activations",
    "build_activation": "engine.training.activations",
    "get_activation": "engine.training.activations",
    "register_activation": "engine.training.activations",
    "RunConfig": "engine.config",
    "dstar_history": "engine.science.convergence",
    "run_dstar_history": "engine.science.convergence",
    "select_device": "engine.training.device",
    "ConfigError": "engine.errors",
    "DeviceError": "engine.errors",
    "StoreError": "engine.errors",
    "SupertuiError": "engine.errors",
    "PRESETS": "engine.presets",
    "get_preset": "engine.presets",
    "preset_config": "engine.presets",
    "PROFILES": "engine.profiles",
    "apply_profile": "engine.config",
    "run_phase_grid": "engine.store.run_json",
    "run_to_json": "engine.store.run_json",
    "resume_config": "engine.jobs.resume",
    "run_experiment": "engine.jobs.runner",
    "RunRecord": "engine.store.runs",
    "RunStore": "engine.store.runs",
    "default_data_dir": "engine.store.runs",
    "InstanceTable": "engine.instances",
    "expand_sweep": "engine.sweeps.plan",
    "instance_table": "engine.experiments",
    "validate_config": "engine.experiments",
    "TrainProgress": "engine.training.train",
    "TrainResult": "engine.training.train",
    "train": "engine.training.train",
    "Run": "engine.training.run",
    "resolve_run": "engine.training.run",
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




if TYPE_CHECKING:  # for readers and type checkers: the same names, eagerly
    from engine.training.activations import (  # noqa: F401
        BLOG_ACTIVATIONS,
        activation_names,
        build_activation,
        get_activation,
        register_activation,
    )
    from engine.config import RunConfig  # noqa: F401
    from engine.science.convergence import dstar_history, run_dstar_history  # noqa: F401
    from engine.training.device import select_device  # noqa: F401
    from engine.errors import ConfigError, DeviceError, StoreError, SupertuiError  # noqa: F401
    from engine.presets import PRESETS, get_preset, preset_config  # noqa: F401
    from engine.config import apply_profile  # noqa: F401
    from engine.profiles import PROFILES  # noqa: F401
    from engine.store.run_json import run_phase_grid, run_to_json  # noqa: F401
    from engine.jobs.resume import resume_config  # noqa: F401
    from engine.jobs.runner import run_experiment  # noqa: F401
    from engine.store.runs import RunRecord, RunStore, default_data_dir  # noqa: F401
    from engine.experiments import instance_table, validate_config  # noqa: F401
    from engine.instances import InstanceTable  # noqa: F401
    from engine.sweeps.plan import expand_sweep  # noqa: F401
    from engine.training.train import TrainProgress, TrainResult, train  # noqa: F401
    from engine.training.run import Run, resolve_run  # noqa: F401
