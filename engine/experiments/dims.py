"""The blog's third experiment ("bringing them all together"): n=200 features of equal importance in
m=20 dimensions across densities; D* = m/‖W‖²_F against 1/(1-S), with each feature's D_i."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from engine.training.activations import BLOG_ACTIVATIONS
from engine.config import RunConfig
from engine.experiments.base import Claim, Evidence, Experiment, Table, register, series, tiny, verdict
from engine.science.metrics import METRICS, REPRESENTED_NORM, feature_dimensionality, feature_norms, format_metric, run_points
from engine.config import apply_profile

if TYPE_CHECKING:
    from engine.experiments.base import SavedRun

STICKY_TOLERANCE = 0.05  # "at a sticky value": D_i within this of 1 or 1/2


def dims_densities(count: int = 20, max_inverse: float = 20.0) -> tuple[float, ...]:
    """max_inverse ** -linspace(0, 1, count): 1/(1-S) from 1 to max_inverse (the blog: 20)."""
    return tuple(float(v) for v in max_inverse ** -np.linspace(0, 1, count))


def dims_measures(record) -> dict:
    """D* per density (lowest-loss seed), its represented features and their mean ‖W_i‖², and
    the share of represented features, over every density, whose D_i sits within
    STICKY_TOLERANCE of 1 or 1/2 (ReLU's sticky values)."""
    rows = run_points(record, ("dims_per_feature", "represented", "represented_norm_sq"))
    W = record.arrays.W[[r["winner"] for r in rows]]  # [P, m, n]
    Di = feature_dimensionality(W)
    live = feature_norms(W) >= REPRESENTED_NORM
    sticky = (np.abs(Di - 1.0) < STICKY_TOLERANCE) | (np.abs(Di - 0.5) < STICKY_TOLERANCE)
    return {"density": np.array([r["density"] for r in rows]), "dstar": np.array([r["dims_per_feature"] for r in rows]),
            "sticky_share": float(sticky[live].mean()) if live.any() else float("nan"),
            "represented": int(live.sum()), "features": int(live.size),
            "represented_per_point": np.array([r["represented"] for r in rows]),
            "norm_sq_per_point": np.array([r["represented_norm_sq"] for r in rows])}


def _sticky(runs):
    shares = {a: dims_measures(r)["sticky_share"] for a, r in runs.items()}
    relu = shares["relu"]
    others = [v for a, v in shares.items() if a != "relu" and np.isfinite(v)]
    numbers = {"relu sticky share": relu, "highest other sticky share": max(others) if others else float("nan")}
    return Evidence(numbers, verdict(np.isfinite(relu) and relu >= 0.5 and all(relu > v for v in others)))


def _alike(runs):
    gap = float(np.nanmean(np.abs(dims_measures(runs["gelu"])["dstar"] - dims_measures(runs["silu"])["dstar"])))
    return Evidence({"mean |D*(gelu) − D*(silu)|": gap}, verdict(gap < 0.05))


def _pack(runs):
    def sparsest(m):
        return float(m["dstar"][int(np.argmin(m["density"]))])

    values = {a: sparsest(dims_measures(runs[a])) for a in ("sigmoid", "solu")}
    return Evidence({f"D* {a} at the sparsest density": v for a, v in values.items()},
                    verdict(all(v < 0.1 for v in values.values())))


def _tanh_like_linear(runs):
    gap = np.abs(dims_measures(runs["tanh"])["dstar"] - dims_measures(runs["linear"])["dstar"])
    return Evidence({"largest |D*(tanh) − D*(linear)|": float(np.nanmax(gap)),
                     "D* tanh": series(dims_measures(runs["tanh"])["dstar"])}, verdict(float(np.nanmax(gap)) < 0.1))


# --------------------------------------------------------------------------- reference switches


@dataclass(frozen=True)
class Variant:
    """Another reference's choices, as a change of config: trained beside the project's own runs,
    its D* curve measures what the choice does (the blog's SoLU axis, Anthropic's code)."""

    name: str
    description: str
    activations: tuple[str, ...]  # the runs it applies to
    apply: Callable[[RunConfig], RunConfig]


def _instance_axis(config: RunConfig) -> RunConfig:
    return config.replace(activation_params={**config.activation_params, "axis": "instance"})


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("anthropic", "the anthropic profile: loss averaged over features, AdamW with weight decay 0.01, "
                             "Xavier of the batched [K, n, m] tensor", BLOG_ACTIVATIONS,
                lambda config: apply_profile(config, "anthropic")),
        Variant("solu_instance_axis", "SoLU's softmax over the instance axis (the models trained side by side), "
                                      "which the blog's plotted curve matches", ("solu",), _instance_axis),
    )
}


def variant_effect(runs: Mapping[str, "SavedRun"], variant_runs: Mapping[str, "SavedRun"]) -> dict[str, dict]:
    """Per activation present in both: D* per density of the project's run and of the variant's
    (lowest-loss seeds), and their largest and mean absolute difference. The numbers a report
    quotes for a reference switch, e.g. variant_effect(default_runs, anthropic_runs)."""
    out = {}
    for activation in runs:
        if activation not in variant_runs:
            continue
        ours, theirs = dims_measures(runs[activation]), dims_measures(variant_runs[activation])
        if not np.allclose(ours["density"], theirs["density"]):
            raise ValueError(f"{activation}: the two runs have different densities")
        gap = np.abs(ours["dstar"] - theirs["dstar"])
        out[activation] = {
            "density": ours["density"], "dstar": ours["dstar"], "variant_dstar": theirs["dstar"],
            "max_abs_difference": float(np.nanmax(gap)), "mean_abs_difference": float(np.nanmean(gap)),
            "densest": (float(ours["dstar"][0]), float(theirs["dstar"][0])),
            "sparsest": (float(ours["dstar"][-1]), float(theirs["dstar"][-1])),
        }
    return out


def variant_table(variant: Variant, runs: Mapping[str, "SavedRun"], variant_runs: Mapping[str, "SavedRun"]) -> Table:
    """The report's table of one reference switch: D* at the densest and sparsest density, ours
    and the variant's, and the largest and mean |ΔD*| over all densities, per activation."""
    rows = []
    for activation, e in variant_effect(runs, variant_runs).items():
        rows.append([activation, *(format_metric("dims_per_feature", v) for v in (*e["densest"], *e["sparsest"])),
                     f"{e['max_abs_difference']:.3f}", f"{e['mean_abs_difference']:.3f}"])
    return Table(f"D* with {variant.description} ({variant.name}) against the project's choices",
                 ["activation", "D* at 1−S=1", f"{variant.name}", "D* sparsest", f"{variant.name}", "max |ΔD*|",
                  "mean |ΔD*|"], rows)


def _represented_cell(measures: dict, i: int) -> str:
    n = measures["features"] // len(measures["density"])
    return (f"{format_metric('represented', measures['represented_per_point'][i], n)} · "
            f"{format_metric('represented_norm_sq', measures['norm_sq_per_point'][i])}")


class Dims(Experiment):
    def tables(self, runs):
        measures = {a: dims_measures(r) for a, r in runs.items()}
        first = next(iter(measures.values()))
        rows = [[f"{1 / d:.3g}"] + [format_metric("dims_per_feature", measures[a]["dstar"][i]) for a in runs]
                for i, d in enumerate(first["density"])]
        sticky = [[a, "–" if not np.isfinite(m["sticky_share"]) else f"{100 * m['sticky_share']:.0f}%",
                   f"{m['represented']} of {m['features']}"] for a, m in measures.items()]
        represented = [[f"{1 / d:.3g}"] + [_represented_cell(m, i) for m in measures.values()]
                       for i, d in enumerate(first["density"])]
        return [
            Table(f"{METRICS['dims_per_feature'].label} = {METRICS['dims_per_feature'].formula} per density, lowest-loss seed",
                  ["1/(1−S)", *runs], rows),
            Table(f"Represented features (‖W_i‖ ≥ {REPRESENTED_NORM}) · their mean ‖W_i‖², per density, lowest-loss seed: "
                  "a small D* from many features per dimension, or from a few long weights", ["1/(1−S)", *runs], represented),
            Table(f"Share of represented features (‖W_i‖ ≥ {REPRESENTED_NORM}) with D_i within {STICKY_TOLERANCE} of 1 "
                  "or 1/2, over all densities", ["activation", "sticky share", "represented features"], sticky),
        ]


_quick = RunConfig(preset="dims", n=200, m=20, densities=dims_densities(20), importance_decay=1.0, seeds=1,
                   steps=3_000, lr=1e-3)

DIMS = register(Dims(
    name="dims",
    title="Dimensions per feature",
    description="n=200, m=20, uniform importance, densities 20**-linspace(0,1,20): D* against 1/(1-S)",
    configs={
        "quick": _quick,
        "paper": _quick.replace(steps=10_000),
        "tiny": tiny(_quick.replace(n=12, m=3, densities=dims_densities(4))),
    },
    panes=("loss", "gram", "bars", "dstar", "points"),
    compare_pane="dstar",
    figures=("dims",),
    compare_figure="dims",
    point_metrics=("loss", "dims_per_feature", "represented", "represented_norm_sq", "mean_superposition"),
    in_reproduction=True,
    extras={"variants": VARIANTS},
    claims=(
        Claim("dims.only_relu_sticky",
              f"ReLU's represented features sit at D_i = 1 or 1/2 (within {STICKY_TOLERANCE}) more often than not, and "
              "more often than any other activation's.", ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu"),
              _sticky),
        Claim("dims.gelu_silu_alike", "GeLU and SiLU give nearly the same D* curve: mean absolute difference below 0.05.",
              ("gelu", "silu"), _alike),
        Claim("dims.sigmoid_solu_pack",
              "Sigmoid and SoLU pack many features per dimension at the sparsest density: D* below 0.1 for both.",
              ("sigmoid", "solu"), _pack),
        Claim("dims.tanh_like_linear", "Tanh's D* stays within 0.1 of the linear model's at every density.",
              ("tanh", "linear"), _tanh_like_linear),
    ),
))
