"""The blog's first experiment: n=10 features of decaying importance in m=5 dimensions, one model
per density from 1 down to 0.001. Where does superposition begin, and in what geometry?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.config import RunConfig
from engine.experiments.base import Claim, Evidence, Experiment, Table, log_grid, register, series, tiny, verdict
from engine.science.metrics import METRICS, REPRESENTED_NORM, feature_norms, format_metric, run_points

if TYPE_CHECKING:
    import torch

ANTIPODAL_COSINE = -0.9  # a represented feature has an antipodal partner below this cosine
INTERFERENCE = 0.1  # "interferes": some off-diagonal |WᵀW| at least this

_quick = RunConfig(preset="sparsity", n=10, m=5, densities=log_grid(1.0, 0.001, 7), importance_decay=0.9,
                   seeds=1, steps=5_000, lr=1e-3)
MEASURES = ("represented", "max_interference", "features_per_neuron")


def density_rows(record) -> list[dict]:
    """Per density, the lowest-loss seed's represented count, largest interference and most
    features on one neuron."""
    return run_points(record, MEASURES)


def antipodal_share(record) -> tuple[float, int]:
    """At the sparsest density: the share of represented features whose direction has another
    represented feature at cosine below ANTIPODAL_COSINE, and how many are represented."""
    rows = density_rows(record)
    W = record.arrays.W[min(rows, key=lambda r: r["density"])["winner"]]
    norms = feature_norms(W)
    live = np.flatnonzero(norms >= REPRESENTED_NORM)
    if live.size < 2:
        return float("nan"), int(live.size)
    unit = W[:, live] / norms[live]
    cosines = unit.T @ unit - 2 * np.eye(live.size)  # the diagonal never counts
    return float(np.mean(cosines.min(axis=1) < ANTIPODAL_COSINE)), int(live.size)


def _ends(record):
    rows = sorted(density_rows(record), key=lambda r: -r["density"])
    return rows[0], rows[-1], rows


def _keeps_top_m(runs):
    record = runs["linear"]
    m = record.config.m
    rows = density_rows(record)
    kept = []
    for row in rows:
        norms = feature_norms(record.arrays.W[row["winner"]])
        kept.append(bool((norms[:m] >= REPRESENTED_NORM).all() and (norms[m:] < REPRESENTED_NORM).all()))
    return Evidence({"densities keeping exactly the top m": f"{sum(kept)} of {len(kept)}",
                     "represented per density": series([r["represented"] for r in rows])}, verdict(all(kept)))


def _superposes_when_sparse(activation: str, two_per_neuron: bool = False):
    def measure(runs):
        record = runs[activation]
        m = record.config.m
        dense, sparse, rows = _ends(record)
        numbers = {"represented when dense": dense["represented"], "represented when sparsest": sparse["represented"],
                   "m": m}
        ok = sparse["represented"] > m
        if two_per_neuron:
            most = max(r["features_per_neuron"] for r in rows)
            numbers["most features on one neuron"] = most
            ok = ok and most <= 2
        else:
            ok = ok and dense["represented"] <= m
        return Evidence(numbers, verdict(ok))

    return measure


def _antipodal(runs):
    share, live = antipodal_share(runs["relu"])
    return Evidence({"share with an antipodal partner": share, "represented at the sparsest density": live},
                    verdict(np.isfinite(share) and share >= 0.5))


def _interferes(activation: str, everywhere: bool):
    def measure(runs):
        rows = sorted(density_rows(runs[activation]), key=lambda r: -r["density"])
        judged = rows if everywhere else rows[1:]
        values = [r["max_interference"] for r in judged]
        return Evidence({"largest off-diagonal |WᵀW| per density": series([r["max_interference"] for r in rows])},
                        verdict(bool(values) and min(values) >= INTERFERENCE))

    return measure


def _like_linear(runs):
    record = runs["tanh"]
    rows = density_rows(record)
    most = max(r["represented"] for r in rows)
    return Evidence({"represented per density": series([r["represented"] for r in rows]), "m": record.config.m},
                    verdict(most <= record.config.m))


class Sparsity(Experiment):
    def headline(self, record):
        sparsest = min(run_points(record, ("represented",)), key=lambda r: r["density"])
        return f"features represented at density {sparsest['density']:.3g}", float(sparsest["represented"])

    def tables(self, runs):
        first = next(iter(runs.values()))
        densities = [r["density"] for r in density_rows(first)]
        header = ["activation"] + [f"1−S={d:.3g}" for d in densities]
        out = []
        notes = {"represented": f" out of n={first.config.n}",
                 "features_per_neuron": " (the hidden basis is not privileged: this reads the bars as drawn)"}
        for key in MEASURES:
            title = f"{METRICS[key].label.capitalize()}, {METRICS[key].formula}{notes.get(key, '')}"
            rows = [[a] + [format_metric(key, r[key]) for r in density_rows(record)] for a, record in runs.items()]
            out.append(Table(title + "; lowest-loss seed per density", header, rows))
        return out


SPARSITY = register(Sparsity(
    name="sparsity",
    title="Sparsity sweep",
    description="n=10, m=5, importance 0.9**i, densities from 1 down to 0.001: WᵀW and neuron bars per density",
    configs={
        "quick": _quick,
        "paper": _quick.replace(densities=log_grid(1.0, 0.001, 10), seeds=5, steps=10_000),
        "tiny": tiny(_quick.replace(n=6, m=3, densities=log_grid(1.0, 0.01, 3))),
    },
    panes=("loss", "gram", "bars", "norms", "points"),
    compare_pane="gram",
    figures=("wtw",),
    compare_figure="wtw",
    point_metrics=("loss", "represented", "mean_superposition", "max_interference", "dims_per_feature"),
    in_reproduction=True,
    claims=(
        Claim("sparsity.linear_keeps_top_m",
              "The linear model represents exactly its m most important features at every density, and no others.",
              ("linear",), _keeps_top_m),
        Claim("sparsity.relu_superposes_when_sparse",
              "ReLU represents at most m features at density 1 and more than m at the sparsest density.",
              ("relu",), _superposes_when_sparse("relu")),
        Claim("sparsity.relu_antipodal",
              "At the sparsest density, at least half of ReLU's represented features have an antipodal partner "
              f"(cosine below {ANTIPODAL_COSINE}).", ("relu",), _antipodal),
        Claim("sparsity.gelu_two_per_neuron",
              "GeLU represents more than m features at the sparsest density, with at most two features on any neuron.",
              ("gelu",), _superposes_when_sparse("gelu", two_per_neuron=True)),
        Claim("sparsity.silu_two_per_neuron",
              "SiLU represents more than m features at the sparsest density, with at most two features on any neuron.",
              ("silu",), _superposes_when_sparse("silu", two_per_neuron=True)),
        Claim("sparsity.sigmoid_interferes_early",
              f"Sigmoid interferes as soon as features are sparse: largest off-diagonal |WᵀW| ≥ {INTERFERENCE} at every "
              "density below 1.", ("sigmoid",), _interferes("sigmoid", everywhere=False)),
        Claim("sparsity.tanh_like_linear", "Tanh represents at most m features at every density, like the linear model.",
              ("tanh",), _like_linear),
        Claim("sparsity.solu_interferes_everywhere",
              f"SoLU interferes at every density: largest off-diagonal |WᵀW| ≥ {INTERFERENCE} throughout.",
              ("solu",), _interferes("solu", everywhere=True)),
    ),
))


def input_batch(n: int, samples: int, density: float, seed: int = 0) -> "torch.Tensor":
    """The blog's "input batches" figure: one [n, samples] batch at a density 1 - S, drawn by
    the sparsity experiment's own sampler."""
    config = RunConfig(preset="sparsity", n=n, m=1, densities=(float(density),), seed=seed)
    return SPARSITY.sample(SPARSITY.instance_table(config), samples)[0]  # [n, samples]
