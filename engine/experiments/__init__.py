"""The experiments supertui runs, one module each, and their registry.

    get_experiment("phase")        the experiment of that name (ConfigError naming all if unknown)
    experiment_for(config)         the experiment a config (or a saved run) belongs to
    experiment_names()             every registered name, in the order the app and the CLI list them
    validate_config(config)        every check a run must pass (fields, experiment, size, memory)
    instance_table(config)         the instances a run trains, as its experiment lays them out

Importing this package registers the shipped experiments; it never imports torch.
"""

from engine.experiments.base import (
    QUALITIES,
    Axis,
    Claim,
    Evidence,
    Experiment,
    Point,
    Sampler,
    experiment_for,
    experiment_names,
    get_experiment,
    instance_count,
    instance_table,
    register,
    validate_config,
)
from engine.experiments import sparsity, phase, dims, correlated, custom  # noqa: E402,F401  (registration order)

__all__ = [
    "QUALITIES", "Axis", "Claim", "Evidence", "Experiment", "Point", "Sampler", "experiment_for",
    "experiment_names", "get_experiment", "instance_count", "instance_table", "register",
    "validate_config",
]
