"""A run resolved once: its config validated, its experiment, instance table, activation maths,
data sampler and device looked up, and nothing of it looked up again on the way to the last step.

    run = resolve_run(config)                  # ConfigError / DeviceError here, before anything trains
    result = train(run, on_progress=...)       # engine.training.train

Everything that trains or evaluates (the step, its chunks, the hot swap, the final evaluation) takes
the `Run`, never the bare config, so a run's experiment or activation cannot be resolved twice, or
differently, by two parts of the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

from engine.config import RunConfig
from engine.experiments import Experiment, experiment_for, validate_config
from engine.instances import InstanceTable
from engine.training.activations import ActivationMath, get_activation

if TYPE_CHECKING:
    import numpy as np
    import torch

    from engine.training.data import SampleFn

ASK_DEVICE = "ask the device"  # resolve_run's default: check the memory estimate against the device's free memory


@dataclass(frozen=True)
class Run:
    """One run, resolved: what every part of the trainer needs, looked up once."""

    config: RunConfig  # validated; `device` names the device selected (e.g. "cuda:0", never "auto")
    experiment: Experiment
    table: InstanceTable  # [K] instances, as the experiment lays them out
    maths: ActivationMath  # the activation's forward and written derivative (engine.training.activations)
    activation_factory: Callable  # the registered factory the maths came from: part of a compiled graph's identity
    sample: "SampleFn"  # the experiment's data sampler, built
    sample_params: Mapping[str, "np.ndarray"]  # the sampler's per-instance parameters, name -> [K, ...]
    device: "torch.device"

    @property
    def instances(self) -> int:
        return len(self.table)


def resolve_run(config: RunConfig, *, device: "str | torch.device | None" = None,
                available_memory_bytes: "int | None | str" = ASK_DEVICE) -> Run:
    """Validate `config` once and look up everything a run of it needs.

    `device` overrides the config's device name (a worker given a slot); the device is selected
    here, once. The memory estimate is checked against `available_memory_bytes`: by default the
    selected device's free memory, None to skip the check (the compile helper, which builds one
    chunk of a run already checked). Raises ConfigError naming the first bad field, or
    DeviceError for a device this machine lacks."""
    from engine.training.device import available_memory_bytes as free_memory
    from engine.training.device import select_device

    selected = select_device(str(device if device is not None else config.device))
    config = config.replace(device=str(selected))
    memory = free_memory(selected) if available_memory_bytes == ASK_DEVICE else available_memory_bytes
    validate_config(config, available_memory_bytes=memory)
    experiment = experiment_for(config)
    table = experiment.instance_table(config)
    activation = get_activation(config.activation)
    return Run(
        config=config,
        experiment=experiment,
        table=table,
        maths=activation.build_math(config.activation_params),
        activation_factory=activation.make,
        sample=experiment.sampler.build(),
        sample_params=experiment.sampler.params(table),
        device=selected,
    )
