"""The blog's first experiment: n=10 features of decaying importance in m=5 dimensions, one model
per density from 1 down to 0.001. Where does superposition begin, and in what geometry?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.config import RunConfig
from engine.experiments.base import Claim, Evidence, Experiment, Table, log_grid, register, series, tiny, verdict
from engine.science.metrics import (METRICS, PARTNER_COSINE, REPRESENTED_NORM, direction_partners, feature_norms,
                                    format_metric, run_points)

if TYPE_CHECKING:
    import torch

ANTIPODAL_COSINE = -0.9  # a represented feature has an antipodal partner below this cosine
INTERFERENCE = 0.1  # "interferes": some off-diagonal |WᵀW| at least this
ANTIPODAL_SHARE = 0.5  # "uses antipodal pairs": at least this share of represented features has one

_quick = RunConfig(preset="sparsity", n=10, m=5, densities=log_grid(1.0, 0.001, 7), importance_decay=0.9,
                   seeds=1, steps=5_000, lr=1e-3)
MEASURES = ("represented", "max_interference", "max_partners", "features_per_neuron")


def density_rows(record) -> list[dict]:
    """Per density, the lowest-loss seed's represented count, largest interference, most direction
    partners of a represented feature (basis-free) and most features on one neuron (as drawn)."""
    return run_points(record, MEASURES)


def sparsest_W(record) -> np.ndarray:
    """W [m, n] of the lowest-loss seed at the sparsest density."""
    rows = density_rows(record)
    return record.arrays.W[min(rows, key=lambda r: r["density"])["winner"]]


def pair_dominance(W: np.ndarray) -> float:
    """Median over antipodal pairs (cosine below ANTIPODAL_COSINE, each feature's closest) of the
    weaker feature's ‖W_i‖ over the stronger's: 1 when both are as long, small when one
    dominates (the blog's "one feature that dominates"); NaN without pairs. W [m, n]."""
    norms = feature_norms(W)
    live = np.flatnonzero(norms >= REPRESENTED_NORM)
    if live.size < 2:
        return float("nan")
    unit = W[:, live] / norms[live]
    cosines = unit.T @ unit + 2 * np.eye(live.size)
    ratios = []
    for a, b in enumerate(cosines.argmin(axis=1)):
        if a < b and cosines[a, b] < ANTIPODAL_COSINE and cosines[b].argmin() == a:
            pair = norms[live[[a, b]]]
            ratios.append(pair.min() / pair.max())
    return float(np.median(ratios)) if ratios else float("nan")


def antipodal_share(record) -> tuple[float, int]:
    """At the sparsest density: the share of represented features whose direction has another
    represented feature at cosine below ANTIPODAL_COSINE, and how many are represented."""
    W = sparsest_W(record)
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
    return Evidence({f"densities (of {len(kept)}) at which exactly the {m} most important features are represented":
                     sum(kept), "represented per density": series([r["represented"] for r in rows])}, verdict(all(kept)))


def _superposes_when_sparse(activation: str):
    def measure(runs):
        record = runs[activation]
        m = record.config.m
        dense, sparse, rows = _ends(record)
        numbers = {"represented when dense": dense["represented"], "represented when sparsest": sparse["represented"],
                   "m": m}
        return Evidence(numbers, verdict(sparse["represented"] > m and dense["represented"] <= m))

    return measure


def _in_pairs_claim(activation: str, shown: str) -> Claim:
    """The blog's "two features per neuron", measured without the neuron basis."""
    return Claim(f"sparsity.{activation}_two_per_neuron",
                 f"{shown} represents more than m features at the sparsest density, in pairs: no represented feature "
                 f"shares its direction (|cosine| ≥ {PARTNER_COSINE}) with more than one other.",
                 (activation,), _pairs_not_groups(activation),
                 threshold=f"reproduced when represented > m and every represented feature has ≤ 1 partner at |cosine| ≥ "
                           f"{PARTNER_COSINE}; refuted when represented ≤ m")


def _pairs_not_groups(activation: str):
    """The blog's "at most two features per neuron", basis-free: more than m features at the
    sparsest density, none of them sharing its direction with more than one other."""

    def measure(runs):
        record = runs[activation]
        m = record.config.m
        sparse = _ends(record)[1]
        partners = direction_partners(sparsest_W(record))
        live = partners[partners >= 0]
        numbers = {"represented when sparsest": sparse["represented"], "m": m,
                   f"most partners of a represented feature (|cosine| ≥ {PARTNER_COSINE})": int(live.max(initial=0)),
                   "represented features with exactly one partner": int((live == 1).sum()),
                   "most features on one neuron, as drawn (basis-dependent, not judged)": sparse["features_per_neuron"]}
        ok = sparse["represented"] > m and live.size > 0 and live.max() <= 1
        return Evidence(numbers, verdict(ok, refuted=sparse["represented"] <= m))

    return measure


def _antipodal_of(activation: str):
    def measure(runs):
        share, live = antipodal_share(runs[activation])
        numbers = {"share with an antipodal partner": share, "represented at the sparsest density": live}
        if activation != "relu":
            numbers["weaker ‖W_i‖ / stronger in a pair, median (one dominates when small; not judged)"] = \
                pair_dominance(sparsest_W(runs[activation]))
        return Evidence(numbers, verdict(np.isfinite(share) and share >= ANTIPODAL_SHARE))

    return measure


def _interferes(activation: str, everywhere: bool):
    def measure(runs):
        rows = sorted(density_rows(runs[activation]), key=lambda r: -r["density"])
        judged = rows if everywhere else rows[1:]
        values = [r["max_interference"] for r in judged]
        return Evidence({"largest off-diagonal |WᵀW| per density, densest first": series([r["max_interference"] for r in rows]),
                         "smallest of them (judged)": min(values, default=float("nan"))},
                        verdict(bool(values) and min(values) >= INTERFERENCE))

    return measure


def _sigmoid_early(runs):
    """Sigmoid interferes at every density below 1, while ReLU, GeLU and SiLU interfere less at
    the first density below 1 (superposition "leaks in" gradually for them)."""
    first = {a: sorted(density_rows(runs[a]), key=lambda r: -r["density"])[1]["max_interference"]
             for a in ("sigmoid", "relu", "gelu", "silu")}
    evidence = _interferes("sigmoid", everywhere=False)(runs)
    numbers = {**evidence.numbers, **{f"{a}: largest |WᵀW| at the first density below 1": v for a, v in first.items()}}
    ok = evidence.verdict == "reproduced" and all(first[a] < first["sigmoid"] for a in ("relu", "gelu", "silu"))
    return Evidence(numbers, verdict(ok))


def _like_linear(runs):
    record = runs["tanh"]
    rows = density_rows(record)
    most = max(r["represented"] for r in rows)
    return Evidence({"represented per density": series([r["represented"] for r in rows]), "m": record.config.m,
                     "most represented at one density": most}, verdict(most <= record.config.m))


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
                 "features_per_neuron": " (the hidden basis is not privileged: this reads the bars as drawn)",
                 "max_partners": " (basis-free: 1 for antipodal pairs, 2 for triangles and pentagons)"}
        for key in MEASURES:
            title = f"{METRICS[key].label.capitalize()}, {METRICS[key].formula}{notes.get(key, '')}"
            rows = [[a] + [format_metric(key, r[key]) for r in density_rows(record)] for a, record in runs.items()]
            out.append(Table(title + "; lowest-loss seed per density", header, rows))
        return out


SPARSITY = register(Sparsity(
    name="sparsity",
    title="Sparsity sweep",
    headline_name="represented",
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
              ("linear",), _keeps_top_m,
              threshold=f"reproduced when, at every density, features 1..m have ‖W_i‖ ≥ {REPRESENTED_NORM} and the rest below"),
        Claim("sparsity.relu_superposes_when_sparse",
              "ReLU represents at most m features at density 1 and more than m at the sparsest density.",
              ("relu",), _superposes_when_sparse("relu"),
              threshold=f"reproduced when represented (‖W_i‖ ≥ {REPRESENTED_NORM}) ≤ m at density 1 and > m at the sparsest"),
        Claim("sparsity.relu_antipodal",
              f"At the sparsest density, at least {ANTIPODAL_SHARE:.0%} of ReLU's represented features have an antipodal "
              f"partner (cosine below {ANTIPODAL_COSINE}).", ("relu",), _antipodal_of("relu"),
              threshold=f"reproduced when the share with a partner at cosine < {ANTIPODAL_COSINE} ≥ {ANTIPODAL_SHARE:.0%}"),
        _in_pairs_claim("gelu", "GeLU"),
        _in_pairs_claim("silu", "SiLU"),
        Claim("sparsity.gelu_antipodal",
              f"At the sparsest density, at least {ANTIPODAL_SHARE:.0%} of GeLU's represented features have an antipodal "
              f"partner (cosine below {ANTIPODAL_COSINE}).", ("gelu",), _antipodal_of("gelu"),
              threshold=f"reproduced when the share with a partner at cosine < {ANTIPODAL_COSINE} ≥ {ANTIPODAL_SHARE:.0%}"),
        Claim("sparsity.silu_antipodal",
              f"At the sparsest density, at least {ANTIPODAL_SHARE:.0%} of SiLU's represented features have an antipodal "
              f"partner (cosine below {ANTIPODAL_COSINE}).", ("silu",), _antipodal_of("silu"),
              threshold=f"reproduced when the share with a partner at cosine < {ANTIPODAL_COSINE} ≥ {ANTIPODAL_SHARE:.0%}"),
        Claim("sparsity.sigmoid_interferes_early",
              f"Sigmoid interferes as soon as features are sparse (largest off-diagonal |WᵀW| ≥ {INTERFERENCE} at every "
              "density below 1), and more than ReLU, GeLU and SiLU at the first density below 1.",
              ("sigmoid", "relu", "gelu", "silu"), _sigmoid_early,
              threshold=f"reproduced when sigmoid's smallest largest-|WᵀW| below density 1 ≥ {INTERFERENCE} and ReLU's, "
                        "GeLU's and SiLU's at the first density below 1 are below sigmoid's there"),
        Claim("sparsity.tanh_like_linear", "Tanh represents at most m features at every density, like the linear model.",
              ("tanh",), _like_linear, threshold=f"reproduced when represented (‖W_i‖ ≥ {REPRESENTED_NORM}) ≤ m at every density"),
        Claim("sparsity.solu_interferes_everywhere",
              f"SoLU interferes at every density: largest off-diagonal |WᵀW| ≥ {INTERFERENCE} throughout.",
              ("solu",), _interferes("solu", everywhere=True),
              threshold=f"reproduced when the smallest largest-|WᵀW| over all densities ≥ {INTERFERENCE}"),
    ),
))


def input_batch(n: int, samples: int, density: float, seed: int = 0) -> "torch.Tensor":
    """The blog's "input batches" figure: one [n, samples] batch at a density 1 - S, drawn by
    the sparsity experiment's own sampler."""
    config = RunConfig(preset="sparsity", n=n, m=1, densities=(float(density),), seed=seed)
    return SPARSITY.sample(SPARSITY.instance_table(config), samples)[0]  # [n, samples]
