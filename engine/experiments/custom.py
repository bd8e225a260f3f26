"""Your own run: independent features, any n, m and densities (and, for n=2, relative importances of
feature 2 as a second axis). Its panes and figures are fixed, whatever the config's shape: loss,
WᵀW, neuron bars, feature norms, a table per grid point with D*; the D* curve to compare runs."""

from __future__ import annotations

from engine.config import RunConfig
from engine.experiments.base import Experiment, register, tiny


class Custom(Experiment):
    def validate(self, config: RunConfig) -> None:
        """Independent features with anything RunConfig accepts; relative importances too (n=2)."""


CUSTOM = register(Custom(
    name="custom",
    title="Custom",
    description="your own n, m, densities (and relative importances for n=2): independent features",
    configs={
        "quick": RunConfig(preset="custom"),
        "paper": RunConfig(preset="custom", steps=10_000),
        "tiny": tiny(RunConfig(preset="custom", n=6, m=3, densities=(1.0, 0.1, 0.01))),
    },
    panes=("loss", "gram", "bars", "norms", "points"),
    compare_pane="dstar",
    figures=("wtw", "dims"),
    compare_figure="dims",
))
