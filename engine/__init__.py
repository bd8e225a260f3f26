"""supertui's engine: plain PyTorch toy models of superposition, trained as batched instances.

Public API (the app and the CLI use only these names):
"""

__version__ = "0.1.0"

import os as _os  # noqa: E402
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402

# Before torch loads OpenMP: idle threads sleep instead of spinning, which on a busy 2-core
# machine made compiled steps ~15x slower (a spinning thread starves the one it waits for).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Public names resolve on first use (PEP 562), so a torch-free module such as engine.metrics,
# engine.phase or engine.relu_reference can be imported without loading torch.
_PUBLIC = {
    "BLOG_ACTIVATIONS": "engine.activations", "activation_names": "engine.activations",
    "build_activation": "engine.activations", "get_activation": "engine.activations",
    "register_activation": "engine.activations",
    "RunConfig": "engine.config",
    "select_device": "engine.device",
    "ConfigError": "engine.errors", "DeviceError": "engine.errors", "StoreError": "engine.errors",
    "SupertuiError": "engine.errors",
    "PRESETS": "engine.presets", "get_preset": "engine.presets", "preset_config": "engine.presets",
    "run_phase_grid": "engine.report", "run_to_json": "engine.report",
    "run_experiment": "engine.runner",
    "RunRecord": "engine.store", "RunStore": "engine.store", "default_data_dir": "engine.store",
    "InstanceTable": "engine.sweep", "expand_sweep": "engine.sweep", "instance_table": "engine.sweep",
    "TrainProgress": "engine.train", "TrainResult": "engine.train", "train": "engine.train",
}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


class _Engine(_types.ModuleType):
    """Importing the submodule engine.train binds the module as `engine.train`; the public name
    is the function, as it was when this file imported everything eagerly, so keep it that way."""

    def __setattr__(self, name: str, value) -> None:
        if name in _PUBLIC and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Engine


__all__ = [
    "BLOG_ACTIVATIONS", "ConfigError", "DeviceError", "InstanceTable", "PRESETS", "RunConfig", "RunRecord",
    "RunStore", "StoreError", "SupertuiError", "TrainProgress", "TrainResult", "activation_names",
    "build_activation", "default_data_dir", "expand_sweep", "get_activation", "get_preset", "instance_table",
    "preset_config", "register_activation", "run_experiment", "run_phase_grid", "run_to_json", "select_device",
    "train",
]
