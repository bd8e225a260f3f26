"""The experiments under their old name, presets: kept so `from engine.presets import ...` works.
The registry is engine.experiments; a preset is an experiment's name."""

from __future__ import annotations

from engine.experiments import validate_config
from engine.config import RunConfig
from engine.experiments import experiment_names, get_experiment
from engine.experiments.base import Experiment, log_grid  # noqa: F401
from engine.experiments.dims import dims_densities  # noqa: F401
from engine.experiments.phase import phase_axes  # noqa: F401

QUALITIES = ("quick", "paper")


class _Registry(dict):
    """Every experiment by name (custom included), read from the registry on each access."""

    def _current(self) -> dict[str, Experiment]:
        return {name: get_experiment(name) for name in experiment_names()}

    def __getitem__(self, name):
        return get_experiment(name)

    def __iter__(self):
        return iter(self._current())

    def __len__(self):
        return len(self._current())

    def __contains__(self, name):
        return name in self._current()

    def keys(self):
        return self._current().keys()

    def values(self):
        return self._current().values()

    def items(self):
        return self._current().items()


PRESETS = _Registry()


def get_preset(name: str) -> Experiment:
    return get_experiment(name)


def preset_config(name: str, quality: str = "quick", **overrides) -> RunConfig:
    """The experiment's config at a quality, with overrides applied, validated."""
    return validate_config(get_experiment(name).config(quality).replace(**overrides))
