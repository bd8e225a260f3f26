"""Correlated and anticorrelated features (Toy Models of Superposition, the section on correlated
features; ARENA's exercises build the same data), for every activation.

Features come in partner pairs (0, 1), (2, 3), ... Every feature has marginal density p and,
when present, a magnitude drawn from U[0, 1), as for independent features:
- a correlated pair is present together with probability p and absent together otherwise;
- an anticorrelated pair has exactly one of its two features present, with probability 2p (each
  one with probability p), never both; so p <= 1/2.

Layout: one run trains both kinds of pairs, as an instance axis. Each grid point is a density and
a pair kind, and all pairs of an instance are of that kind (per-instance `partner` and
`pair_kind` arrays, which the sampler reads as tensors). One model holding both kinds (as in
ARENA's first plot) would let a correlated pair and an anticorrelated pair interfere with each
other, and the geometry of each kind would then depend on the other; separate instances measure
each kind on its own, at the same n, m and densities, within one batched run.

Size: n = 4 features in m = 2 dimensions (two pairs, uniform importance), the smallest model in
which a pair can be orthogonal or superposed with the other pair. Known ReLU geometry: an
anticorrelated pair never needs its two features at once, so the model puts them antipodal
(W_j = -W_i, cosine -1): two pairs fit m = 2 with no interference at any density. A correlated
pair is always read together: sparse enough, the model keeps each pair orthogonal (a local basis)
and superposes the two pairs antipodally; dense, there is no room for that interference, and each
pair collapses onto one shared direction (cosine +1), reading out their sum.

Sampler: one hashed uniform per element, as for independent features (engine.training.data). A pair's
first feature i carries the pair's draw u_i: correlated, both are present iff u_i < p, with
magnitudes u_i / p and the partner's own uniform; anticorrelated, i is present iff u_i < p
(magnitude u_i / p) and its partner iff p <= u_i < 2p (magnitude (u_i - p) / p). Exact, elementwise,
and each instance's data depend on its seed and its own parameters alone.
"""

from __future__ import annotations

import numpy as np

from engine.config import RunConfig
from engine.errors import ConfigError
from engine.experiments.base import (
    Axis,
    Claim,
    Evidence,
    Experiment,
    Point,
    Sampler,
    Table,
    log_grid,
    register,
    series,
    tiny,
    verdict,
)
from engine.science.metrics import METRICS, PAIR_KINDS, feature_pairs, format_metric, pair_cosines, run_points

KINDS = ("correlated", "anticorrelated")  # the pair kinds a run trains, in point order


def _build_pairs():
    import torch

    def partnered_features(uniform, seed_row, params):
        """uniform [S, n, batch], seed_row [K], params density [K], partner [K, n], pair_kind [K, n]
        -> x [K, n, batch]."""
        u = uniform[seed_row]  # [K, n, batch]
        K, n, batch = u.shape
        p = params["density"].view(-1, 1, 1)  # [K, 1, 1]
        feature = torch.arange(n, device=u.device).view(1, n)  # [1, n]
        lead = torch.minimum(params["partner"], feature)  # [K, n]: the pair's first feature
        u_lead = torch.gather(u, 1, lead.unsqueeze(-1).expand(K, n, batch))  # [K, n, batch]: the pair's draw
        is_lead = (lead == feature).unsqueeze(-1)  # [K, n, 1]
        kind = params["pair_kind"].view(K, n, 1).to(torch.int64)  # [K, n, 1]
        zero = torch.zeros((), dtype=u.dtype, device=u.device)
        independent = torch.where(u < p, u / p, zero)
        together = torch.where(u_lead < p, torch.where(is_lead, u / p, u), zero)
        first = torch.where(u_lead < p, u_lead / p, zero)
        second = torch.where((u_lead >= p) & (u_lead < 2 * p), (u_lead - p) / p, zero)
        one_of_two = torch.where(is_lead, first, second)
        return torch.where(kind == 1, together, torch.where(kind == 2, one_of_two, independent))

    return partnered_features


PAIRS = Sampler(
    "partnered",
    _build_pairs,
    lambda table: {"density": table.density, "partner": table.partner, "pair_kind": table.pair_kind},
)


def pair_layout(n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Partners (0, 1), (2, 3), ... all of one kind: partner [n], pair_kind [n]."""
    partner = np.arange(n) ^ 1  # [n]: 0 <-> 1, 2 <-> 3, ...
    return partner.astype(np.int64), np.full(n, PAIR_KINDS.index(kind), dtype=np.int8)


ANTIPODAL = -0.9  # partners "antipodal": cosine below this
ORTHOGONAL = 0.2  # partners "orthogonal": |cosine| below this
SHARED = 0.9  # partners "on one direction": cosine above this
SPARSE = 0.1  # "sparse": densities at or below this


def cosine_rows(record) -> list[dict]:
    """Per grid point (density, pair kind): the lowest-loss seed's mean partner cosine."""
    return run_points(record, ("partner_cosine", "represented"))


GEOMETRIES = ("antipodal", "orthogonal", "one direction", "in between", "not represented")


def geometry(cosine: float) -> str:
    """The arrangement a partner cosine stands for (one of GEOMETRIES)."""
    if not np.isfinite(cosine):
        return "not represented"
    if cosine < ANTIPODAL:
        return "antipodal"
    if abs(cosine) < ORTHOGONAL:
        return "orthogonal"
    return "one direction" if cosine > SHARED else "in between"


def partner_geometry(record) -> dict[str, list[tuple[float, float, str]]]:
    """Per pair kind, dense to sparse: (density, lowest-loss seed's partner cosine, its geometry)."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for row in sorted(cosine_rows(record), key=lambda r: -r["density"]):
        out.setdefault(row["pairs"], []).append((row["density"], row["partner_cosine"], geometry(row["partner_cosine"])))
    return out


def _by_kind(record, kind: str) -> list[dict]:
    return sorted((r for r in cosine_rows(record) if r["pairs"] == kind), key=lambda r: -r["density"])


def _relu_antipodal(runs):
    rows = _by_kind(runs["relu"], "anticorrelated")
    cosines = [r["partner_cosine"] for r in rows]
    return Evidence({"cosine per density (dense to sparse)": series(cosines)},
                    verdict(all(np.isfinite(c) and c < ANTIPODAL for c in cosines)))


def _relu_orthogonal_when_sparse(runs):
    rows = [r for r in _by_kind(runs["relu"], "correlated") if r["density"] <= SPARSE]
    cosines = [r["partner_cosine"] for r in rows]
    return Evidence({f"cosine per density ≤ {SPARSE:g}": series(cosines)},
                    verdict(bool(cosines) and all(np.isfinite(c) and abs(c) < ORTHOGONAL for c in cosines)))


def _relu_collapse_when_dense(runs):
    densest = _by_kind(runs["relu"], "correlated")[0]
    return Evidence({"density": densest["density"], "cosine": densest["partner_cosine"]},
                    verdict(np.isfinite(densest["partner_cosine"]) and densest["partner_cosine"] > SHARED))


class Correlated(Experiment):
    def tables(self, runs):
        first = next(iter(runs.values()))
        points = [(r["density"], r["pairs"]) for r in cosine_rows(first)]
        measured = {a: cosine_rows(record) for a, record in runs.items()}
        rows = [[f"{d:.3g}", kind] + [format_metric("partner_cosine", measured[a][i]["partner_cosine"]) for a in runs]
                for i, (d, kind) in enumerate(points)]
        metric = METRICS["partner_cosine"]
        return [Table(f"Partner cosine, {metric.formula}; lowest-loss seed per point (−1 antipodal, 0 orthogonal, "
                      "+1 one shared direction; – when a partner is not represented)", ["1−S", "pairs", *runs], rows)]

    def validate(self, config: RunConfig) -> None:
        super().validate(config)
        if config.n % 2:
            raise ConfigError("n", f"features come in pairs: n must be even, got {config.n}")
        for d in config.densities:
            if d > 0.5:
                raise ConfigError("densities", "an anticorrelated pair is present with probability 2p, so each density "
                                               f"must be <= 0.5, got {d!r}")

    def axes(self, config: RunConfig) -> tuple[Axis, ...]:
        return (Axis("density", tuple(config.densities)), Axis("pairs", KINDS))

    def points(self, config: RunConfig) -> list[Point]:
        importance = (config.importance_decay ** np.arange(config.n)).astype(np.float32)  # [n]
        out = []
        for density in config.densities:
            for kind in KINDS:
                partner, pair_kind = pair_layout(config.n, kind)
                out.append(Point(float(density), importance, partner=partner, pair_kind=pair_kind))
        return out

    def headline(self, record):
        from engine.science.metrics import run_points

        rows = [r for r in run_points(record, ("partner_cosine",)) if r["pairs"] == "anticorrelated"]
        sparsest = min(rows, key=lambda r: r["density"])
        return f"anticorrelated partner cosine at density {sparsest['density']:.3g}", float(sparsest["partner_cosine"])

    def instance_json(self, arrays, k):
        a = arrays.instances
        pairs = feature_pairs(a.partner[k], a.pair_kind[k])
        cosines = pair_cosines(arrays.W[k], pairs)
        return {"feature_pairs": [
            {"i": i, "j": j, "kind": kind, "cosine": float(c) if np.isfinite(c) else None}
            for (i, j, kind), c in zip(pairs, cosines)
        ]}


_quick = RunConfig(preset="correlated", n=4, m=2, densities=log_grid(0.5, 0.01, 6), importance_decay=1.0,
                   seeds=3, steps=5_000, lr=3e-3)

CORRELATED = register(Correlated(
    name="correlated",
    title="Correlated features",
    headline_name="anti cos",
    description="pairs present together, or exactly one of two: n=4, m=2, densities 0.5..0.01, both kinds",
    configs={
        "quick": _quick,
        "paper": _quick.replace(densities=log_grid(0.5, 0.005, 10), seeds=5, steps=10_000, lr=1e-3),
        "tiny": tiny(_quick.replace(densities=(0.5, 0.05), seeds=2)),
    },
    panes=("loss", "pairs", "bars", "cosine", "points"),
    compare_pane="cosine",
    figures=("pairs", "cosine"),
    compare_figure="cosine",
    point_metrics=("loss", "partner_cosine", "represented", "dims_per_feature"),
    sampler=PAIRS,
    in_reproduction=True,
    claims=(
        Claim("correlated.relu_anticorrelated_antipodal",
              f"ReLU puts anticorrelated partners antipodally: mean partner cosine below {ANTIPODAL} at every density.",
              ("relu",), _relu_antipodal, threshold=f"reproduced when the mean partner cosine < {ANTIPODAL} at every density"),
        Claim("correlated.relu_correlated_orthogonal_when_sparse",
              f"ReLU keeps correlated partners orthogonal when features are sparse: |cosine| below {ORTHOGONAL} at every "
              f"density ≤ {SPARSE:g}.", ("relu",), _relu_orthogonal_when_sparse,
              threshold=f"reproduced when |partner cosine| < {ORTHOGONAL} at every density ≤ {SPARSE:g}"),
        Claim("correlated.relu_correlated_collapse_when_dense",
              f"ReLU collapses correlated partners onto one direction when there is no room: cosine above {SHARED} at the "
              "densest point.", ("relu",), _relu_collapse_when_dense,
              threshold=f"reproduced when the correlated partner cosine > {SHARED} at the densest point"),
    ),
))
