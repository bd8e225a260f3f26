"""The blog's three experiments as presets. Each has a quick default (about a minute on a
2-core CPU) and a paper-quality setting one flag away; every field can be overridden."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config import RunConfig
from engine.errors import ConfigError

QUALITIES = ("quick", "paper")


def log_grid(low: float, high: float, count: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.geomspace(low, high, count))


def phase_axes(densities: int, importances: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The phase diagram's grid: density 0.01..1 by relative importance 0.1..10, both log-spaced."""
    return log_grid(0.01, 1.0, densities), log_grid(0.1, 10.0, importances)


def dims_densities(count: int = 20, max_inverse: float = 20.0) -> tuple[float, ...]:
    """max_inverse ** -linspace(0, 1, count): 1/(1-S) from 1 to max_inverse (the blog: 20)."""
    return tuple(float(v) for v in max_inverse ** -np.linspace(0, 1, count))


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    quick: RunConfig
    paper: RunConfig

    def config(self, quality: str = "quick") -> RunConfig:
        if quality not in QUALITIES:
            raise ConfigError("quality", f"unknown quality {quality!r} (accepted: {', '.join(QUALITIES)})")
        return self.quick if quality == "quick" else self.paper


_quick_phase = phase_axes(12, 12)
_paper_phase = phase_axes(40, 40)

PRESETS: dict[str, Preset] = {
    "sparsity": Preset(
        "sparsity",
        "Sparsity sweep",
        "n=10, m=5, importance 0.9**i, densities from 1 down to 0.001: WᵀW and neuron bars per density",
        quick=RunConfig(preset="sparsity", n=10, m=5, densities=log_grid(1.0, 0.001, 7), importance_decay=0.9,
                        seeds=1, steps=5_000, lr=1e-3),
        paper=RunConfig(preset="sparsity", n=10, m=5, densities=log_grid(1.0, 0.001, 10), importance_decay=0.9,
                        seeds=5, steps=10_000, lr=1e-3),
    ),
    "phase": Preset(
        "phase",
        "Phase diagram",
        "n=2, m=1, density 0.01..1 by relative importance of feature 2 0.1..10 (log), seeds per point",
        quick=RunConfig(preset="phase", n=2, m=1, densities=_quick_phase[0], relative_importances=_quick_phase[1],
                        seeds=3, steps=4_000, lr=3e-3),
        paper=RunConfig(preset="phase", n=2, m=1, densities=_paper_phase[0], relative_importances=_paper_phase[1],
                        seeds=5, steps=10_000, lr=1e-3),
    ),
    "dims": Preset(
        "dims",
        "Dimensions per feature",
        "n=200, m=20, uniform importance, densities 20**-linspace(0,1,20): D* against 1/(1-S)",
        quick=RunConfig(preset="dims", n=200, m=20, densities=dims_densities(20), importance_decay=1.0,
                        seeds=1, steps=3_000, lr=1e-3),
        paper=RunConfig(preset="dims", n=200, m=20, densities=dims_densities(20), importance_decay=1.0,
                        seeds=1, steps=10_000, lr=1e-3),
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("preset", f"unknown preset {name!r} (accepted: {', '.join(PRESETS)})") from None


def preset_config(name: str, quality: str = "quick", **overrides) -> RunConfig:
    """The preset's config with overrides applied, validated."""
    if name == "custom":
        return RunConfig(preset="custom").replace(**overrides).validate()
    return get_preset(name).config(quality).replace(**overrides).validate()
