"""The blog's second experiment: two features in one dimension (n=2, m=1), on a grid of density by
the relative importance r of feature 2 (I = (1, r)), several seeds per point. Which feature does
the lowest-loss seed keep, or does it superpose both?"""

from __future__ import annotations

import numpy as np

from engine.config import RunConfig
from engine.errors import ConfigError
from engine.experiments.base import Claim, Evidence, Experiment, Table, log_grid, register, tiny, verdict

PHASE_MARGIN = 1.5  # "away from the boundary": the reference phase is the same this factor away in s and r
SPARSE = 0.1  # the blog's S = 0.9: "below 1-S = 0.1"


def phase_axes(densities: int, importances: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The phase diagram's grid: density 0.01..1 by relative importance 0.1..10, both log-spaced."""
    return log_grid(0.01, 1.0, densities), log_grid(0.1, 10.0, importances)


def _config(grid: int, **fields) -> RunConfig:
    densities, relatives = phase_axes(grid, grid)
    return RunConfig(preset="phase", n=2, m=1, densities=densities, relative_importances=relatives, **fields)


def phase_measures(record) -> dict[str, float]:
    """Share of the grid in each phase, mean seed agreement, the superposition share on each side
    of density SPARSE, the share of the densest points keeping the more important feature (r = 1
    left out), and agreement with the closed-form ReLU comparison away from its boundary (where
    its phase is the same PHASE_MARGIN away in density and importance)."""
    from engine.phase import PHASES, relu_reference_phase

    grid = PHASE.grid(record)
    phases = np.array([p.phase for p in grid])
    s = np.array([p.density for p in grid])
    r = np.array([p.relative_importance for p in grid])
    out: dict[str, float] = {f"share_{name}": float(np.mean(phases == name)) for name in PHASES}
    out["agreement"] = float(np.mean([p.agreement for p in grid]))
    sparse = s < SPARSE
    out["superposition_sparse"] = float(np.mean(phases[sparse] == "superposition")) if sparse.any() else float("nan")
    out["superposition_dense"] = float(np.mean(phases[~sparse] == "superposition")) if (~sparse).any() else float("nan")
    densest = (s == s.max()) & (np.abs(np.log10(r)) > 0.05)
    important = np.where(r < 1, "feature1", "feature2")
    out["dense_keeps_important"] = float(np.mean(phases[densest] == important[densest])) if densest.any() else float("nan")
    away = (np.abs(np.log10(r)) > 0.05)
    out["keeps_important"] = float(np.mean(phases[away] == important[away])) if away.any() else float("nan")
    exact = relu_reference_phase(s, r)
    stable = np.ones(len(grid), dtype=bool)
    for fs in (1 / PHASE_MARGIN, 1.0, PHASE_MARGIN):
        for fr in (1 / PHASE_MARGIN, 1.0, PHASE_MARGIN):
            stable &= relu_reference_phase(np.minimum(s * fs, 1.0), r * fr) == exact
    out["reference_points"] = int(stable.sum())
    out["reference_match"] = float(np.mean(phases[stable] == exact[stable])) if stable.any() else float("nan")
    return out


MEASURE_LABELS = {
    "share_superposition": "share of the grid superposed",
    "superposition_sparse": f"share superposed below density {SPARSE:g}",
    "dense_keeps_important": "share of density-1 points keeping the more important feature",
    "keeps_important": "share of points keeping the more important feature",
    "reference_match": "share in the closed-form phase",
    "reference_points": "points away from its boundary",
}


def _claim(activation: str, keys: tuple[str, ...], ok):
    def measure(runs):
        m = phase_measures(runs[activation])
        return Evidence({MEASURE_LABELS[k]: m[k] for k in keys}, verdict(bool(ok(m))))

    return measure


class Phase(Experiment):
    def validate(self, config: RunConfig) -> None:
        # RunConfig.validate has already held relative importances to n=2 (so m=1).
        if config.relative_importances is None:
            raise ConfigError("relative_importances",
                              "the phase experiment needs relative importances of feature 2 (e.g. --grid 12x12)")

    def grid(self, record):
        """The phase grid of a saved run (engine.phase.PhasePoint per point)."""
        from engine.phase import phase_grid

        a = record.arrays
        return phase_grid(a.W, a.final_loss, a.instances.density, a.instances.relative_importance,
                          a.instances.point, record.config.phase_threshold, gap_se=a.final_loss_gap_se)

    def headline(self, record):
        grid = self.grid(record)
        return "share of grid points superposed", float(np.mean([p.phase == "superposition" for p in grid]))

    def run_json(self, record):
        return {"phase_grid": [p.to_dict() for p in self.grid(record)]}

    def tables(self, runs):
        from engine.phase import PHASES

        header = ["activation", *[f"{p}" for p in PHASES], "mean seed agreement", f"superposed at 1−S<{SPARSE:g}",
                  f"superposed at 1−S≥{SPARSE:g}", "closed-form ReLU phase, away from its boundary"]
        rows = []
        for activation, record in runs.items():
            m = phase_measures(record)
            rows.append([activation, *[_pct(m[f"share_{p}"]) for p in PHASES], _pct(m["agreement"]),
                         _pct(m["superposition_sparse"]), _pct(m["superposition_dense"]),
                         f"{_pct(m['reference_match'])} of {m['reference_points']}"])
        return [Table("Share of the grid in each phase (the lowest-loss seed decides)", header, rows)]


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.0f}%"


PHASE = register(Phase(
    name="phase",
    title="Phase diagram",
    description="n=2, m=1, density 0.01..1 by relative importance of feature 2 0.1..10 (log), seeds per point",
    configs={
        "quick": _config(12, seeds=3, steps=4_000, lr=3e-3),
        "paper": _config(40, seeds=5, steps=10_000, lr=1e-3),
        "tiny": tiny(_config(3, seeds=2)),
    },
    panes=("loss", "gram", "bars", "phase"),
    compare_pane="phase",
    figures=("phase",),
    compare_figure="phase",
    in_reproduction=True,
    claims=(
        Claim("phase.linear_keeps_the_important_feature",
              "The linear model never superposes: it keeps the more important feature at every point (r = 1 aside).",
              ("linear",), _claim("linear", ("share_superposition", "keeps_important"),
                                  lambda m: m["share_superposition"] == 0 and m["keeps_important"] >= 0.9)),
        Claim("phase.relu_polysemantic_when_sparse",
              f"ReLU superposes at 90% or more of the points below density {SPARSE:g} and keeps the more important "
              "feature at density 1.",
              ("relu",), _claim("relu", ("superposition_sparse", "dense_keeps_important"),
                                lambda m: m["superposition_sparse"] >= 0.9 and m["dense_keeps_important"] >= 0.8)),
        Claim("phase.relu_matches_closed_form",
              "Away from its boundary, ReLU's winning seeds sit in the phase of the closed-form n=2 comparison "
              "(SCIENCE.md; a bound, not the optimum) at 90% of the points or more.",
              ("relu",), _claim("relu", ("reference_match", "reference_points"), lambda m: m["reference_match"] >= 0.9)),
        Claim("phase.gelu_monosemantic_when_sparse",
              f"GeLU keeps a single feature (no superposition) at most points below density {SPARSE:g}.",
              ("gelu",), _claim("gelu", ("superposition_sparse",), lambda m: m["superposition_sparse"] < 0.5)),
        Claim("phase.silu_monosemantic_when_sparse",
              f"SiLU keeps a single feature (no superposition) at most points below density {SPARSE:g}.",
              ("silu",), _claim("silu", ("superposition_sparse",), lambda m: m["superposition_sparse"] < 0.5)),
        Claim("phase.sigmoid_like_relu",
              f"Sigmoid superposes at most points below density {SPARSE:g}, like ReLU.",
              ("sigmoid",), _claim("sigmoid", ("superposition_sparse",), lambda m: m["superposition_sparse"] >= 0.5)),
        Claim("phase.tanh_nearly_linear",
              "Tanh superposes at under 20% of the grid and otherwise keeps the more important feature.",
              ("tanh",), _claim("tanh", ("share_superposition", "keeps_important"),
                                lambda m: m["share_superposition"] < 0.2 and m["keeps_important"] >= 0.7)),
        Claim("phase.solu_polysemantic",
              "SoLU superposes at most grid points, yet keeps the more important feature at density 1.",
              ("solu",), _claim("solu", ("share_superposition", "dense_keeps_important"),
                                lambda m: m["share_superposition"] >= 0.5 and m["dense_keeps_important"] >= 0.8)),
    ),
))
