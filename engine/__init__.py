"""supertui's engine: plain PyTorch toy models of superposition, trained as batched instances.

Public API (the app and the CLI use only these names):
"""

__version__ = "0.1.0"

import os as _os  # noqa: E402

# Before torch loads OpenMP: idle threads sleep instead of spinning, which on a busy 2-core
# machine made compiled steps ~15x slower (a spinning thread starves the one it waits for).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from engine.activations import (  # noqa: E402
    BLOG_ACTIVATIONS,
    activation_names,
    build_activation,
    get_activation,
    register_activation,
)
from engine.config import RunConfig  # noqa: E402
from engine.device import select_device  # noqa: E402
from engine.errors import ConfigError, DeviceError, StoreError, SupertuiError  # noqa: E402
from engine.presets import PRESETS, get_preset, preset_config  # noqa: E402
from engine.report import run_phase_grid, run_to_json  # noqa: E402
from engine.runner import run_experiment  # noqa: E402
from engine.store import RunRecord, RunStore, default_data_dir  # noqa: E402
from engine.sweep import InstanceTable, expand_sweep, instance_table  # noqa: E402
from engine.train import TrainProgress, TrainResult, train  # noqa: E402

__all__ = [
    "BLOG_ACTIVATIONS", "ConfigError", "DeviceError", "InstanceTable", "PRESETS", "RunConfig", "RunRecord",
    "RunStore", "StoreError", "SupertuiError", "TrainProgress", "TrainResult", "activation_names",
    "build_activation", "default_data_dir", "expand_sweep", "get_activation", "get_preset", "instance_table",
    "preset_config", "register_activation", "run_experiment", "run_phase_grid", "run_to_json", "select_device",
    "train",
]
