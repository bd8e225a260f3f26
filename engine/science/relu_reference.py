"""The exact n=2, m=1 ReLU reference: the expected loss in closed form, its true minimum over all
of (w1, w2, b1, b2), and a table of that minimum over the phase diagram (SCIENCE.md, "The exact
n=2 ReLU solution"). numpy only: the app and the exports read it without torch or scipy.

The model is x' = ReLU(WᵀW x + b) with W = [w1, w2] (1x2), so z_i = w_i (w1 x1 + w2 x2) + b_i.
Each x_i is U[0, 1) with probability s (the density) and 0 otherwise; importance I = (1, r).
The loss E[sum_i I_i (x_i - ReLU(z_i))^2] splits by which features are present. In each case the
error is a quadratic in x on the region where z_i > 0 and x_i^2 elsewhere, so

    E_i = E[x_i^2] + integral over {z_i > 0} of ((x_i - z_i)^2 - x_i^2)

and the region is an interval (one feature present) or the unit square clipped by a half-plane
(both present). A quadrature rule exact for degree 2 on each piece makes the result exact up to
rounding: Simpson's rule on the interval, and on the clipped square a fan of triangles from a
point of the line z_i = 0, each integrated with its three edge midpoints. The fan from a point of
the cutting line needs no polygon bookkeeping: the triangle over the cut itself has zero area, so
the integral is the signed sum of the triangles over the four clipped edges of the square.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.science.phase import PHASES

# Corners of the unit square, counter-clockwise; edge k runs from corner k to corner k + 1.
_CORNER_X1 = np.array([0.0, 1.0, 1.0, 0.0])[:, None]  # [4, 1]
_CORNER_X2 = np.array([0.0, 0.0, 1.0, 1.0])[:, None]
_EDGE_X1 = np.roll(_CORNER_X1, -1, axis=0) - _CORNER_X1  # [4, 1]
_EDGE_X2 = np.roll(_CORNER_X2, -1, axis=0) - _CORNER_X2


def _positive_part(g_start: np.ndarray, g_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a linear function with these end values is positive on [0, 1]: [lo, hi] (lo = hi if nowhere)."""
    step = g_start - g_end
    root = np.clip(g_start / np.where(step == 0, 1.0, step), 0.0, 1.0)
    pos_start, pos_end = g_start > 0, g_end > 0
    lo = np.where(pos_start, 0.0, np.where(pos_end, root, 0.0))
    hi = np.where(pos_end, 1.0, np.where(pos_start, root, 0.0))
    return lo, hi


def _interval_nodes(a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes and weights on {u in [0, 1]: a u + c > 0}: a, c [N] -> u [3, N], weight [3, N]."""
    lo, hi = _positive_part(c, a + c)
    u = np.stack([lo, (lo + hi) / 2, hi])  # [3, N]
    weight = (hi - lo) / 6 * np.array([1.0, 4.0, 1.0])[:, None]  # [3, N]
    return u, weight


def _clipped_square_nodes(a1: np.ndarray, a2: np.ndarray, c: np.ndarray):
    """Nodes and weights, exact for polynomials of degree 2, on {x in [0,1]^2: a1 x1 + a2 x2 + c > 0}.

    a1, a2, c [N] -> x1 [12, N], x2 [12, N], weight [12, N]: the three edge midpoints of four
    triangles, one over the part of each edge of the square where the line is positive."""
    g = a1 * _CORNER_X1 + a2 * _CORNER_X2 + c  # [4, N] the line's value at each corner
    t_lo, t_hi = _positive_part(g, np.roll(g, -1, axis=0))  # [4, N]
    A1, A2 = _CORNER_X1 + t_lo * _EDGE_X1, _CORNER_X2 + t_lo * _EDGE_X2  # [4, N]
    B1, B2 = _CORNER_X1 + t_hi * _EDGE_X1, _CORNER_X2 + t_hi * _EDGE_X2
    # Apex: the foot of the square's centre on the line when the line crosses the square (so every
    # node stays within a unit of the square), else the centre (the whole square, or nothing).
    positive = g > 0
    crosses = positive.any(0) & ~positive.all(0)  # [N]
    norm2 = np.where(crosses, a1 * a1 + a2 * a2, 1.0)
    shift = np.where(crosses, (0.5 * (a1 + a2) + c) / norm2, 0.0)
    O1, O2 = 0.5 - shift * a1, 0.5 - shift * a2  # [N]
    area = 0.5 * ((A1 - O1) * (B2 - O2) - (A2 - O2) * (B1 - O1))  # [4, N] signed
    x1 = np.concatenate([(O1 + A1) / 2, (A1 + B1) / 2, (B1 + O1) / 2])  # [12, N]
    x2 = np.concatenate([(O2 + A2) / 2, (A2 + B2) / 2, (B2 + O2) / 2])
    weight = np.concatenate([area, area, area]) / 3.0  # [12, N]
    return x1, x2, weight


def _feature_terms(w1, w2, b, s, i: int):
    """Feature i's expected squared error and the integrals its gradient needs; all inputs [N].

    Returns (E, M0, M1, M2), each [N]: E = E[(x_i - ReLU(z_i))^2] and, over the event z_i > 0,
    M0 = E[e], M1 = E[e x1], M2 = E[e x2] for the error e = x_i - z_i."""
    p_none, p_one, p_both = (1 - s) ** 2, s * (1 - s), s * s
    wi = w1 if i == 0 else w2
    zeros3 = np.zeros((3, len(s)))
    # Neither present: x = 0, z_i = b_i. Only feature k present, x_k = u: z_i = w_i w_k u + b_i.
    u1, wt1 = _interval_nodes(wi * w1, b)
    u2, wt2 = _interval_nodes(wi * w2, b)
    # Both present: x uniform on the unit square.
    sq1, sq2, wt12 = _clipped_square_nodes(wi * w1, wi * w2, b)
    x1 = np.concatenate([np.zeros((1, len(s))), u1, zeros3, sq1])  # [19, N]
    x2 = np.concatenate([np.zeros((1, len(s))), zeros3, u2, sq2])
    weight = np.concatenate([(p_none * (b > 0))[None], p_one * wt1, p_one * wt2, p_both * wt12])
    z = wi * (w1 * x1 + w2 * x2) + b  # [19, N]
    target = x1 if i == 0 else x2
    err = target - z
    weighted = weight * err
    # E[x_i^2] = s / 3 over all cases; where z_i > 0 the error x_i^2 becomes (x_i - z_i)^2.
    E = s / 3 + (weighted * err - weight * target * target).sum(0)
    return E, weighted.sum(0), (weighted * x1).sum(0), (weighted * x2).sum(0)


def _loss_and_grad_flat(w1, w2, b1, b2, s, r):
    """[N] arrays -> loss [N], gradient [4, N] in the order (w1, w2, b1, b2)."""
    E1, M0, M1, M2 = _feature_terms(w1, w2, b1, s, 0)
    F1, N0, N1, N2 = _feature_terms(w1, w2, b2, s, 1)
    # dz_i/db_i = 1 and dz_i/dw_j = delta_ij (w . x) + w_i x_j. The loss is C^1 in the parameters
    # (the error is continuous across z_i = 0), so only the region z_i > 0 contributes.
    dot1, dot2 = w1 * M1 + w2 * M2, w1 * N1 + w2 * N2  # E[e_i (w . x)] over z_i > 0
    g_w1 = -2 * (dot1 + w1 * M1 + r * w2 * N1)
    g_w2 = -2 * (w1 * M2 + r * (dot2 + w2 * N2))
    return E1 + r * F1, np.stack([g_w1, g_w2, -2 * M0, -2 * r * N0])


def _flatten(w, b, s, r):
    w, b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
    s, r = np.asarray(s, dtype=float), np.asarray(r, dtype=float)
    shape = np.broadcast_shapes(w.shape[:-1], b.shape[:-1], s.shape, r.shape)
    w, b = np.broadcast_to(w, shape + (2,)).reshape(-1, 2), np.broadcast_to(b, shape + (2,)).reshape(-1, 2)
    s, r = np.broadcast_to(s, shape).ravel(), np.broadcast_to(r, shape).ravel()
    return shape, (w[:, 0], w[:, 1], b[:, 0], b[:, 1], s, r)


def expected_loss_and_grad(w, b, s, r) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact expected loss and its gradient.

    w [..., 2] = (w1, w2), b [..., 2], density s [...], relative importance r [...] (all
    broadcast) -> loss [...], dloss/dw [..., 2], dloss/db [..., 2]."""
    shape, flat = _flatten(w, b, s, r)
    loss, grad = _loss_and_grad_flat(*flat)
    return loss.reshape(shape), grad[:2].T.reshape(shape + (2,)), grad[2:].T.reshape(shape + (2,))


def expected_loss(w, b, s, r) -> np.ndarray:
    """Exact E[sum_i I_i (x_i - ReLU(z_i))^2] with I = (1, r): w, b [..., 2], s, r [...] -> [...]."""
    return expected_loss_and_grad(w, b, s, r)[0]


# --------------------------------------------------------------------------- the true optimum

PHASE_THRESHOLD = 0.5  # |w_i| at which a feature counts as represented (engine.science.phase.classify)

# Each phase's region of (w1, w2), up to the symmetry w -> -w (the loss sees w only through
# WᵀW), as boxes. Per coordinate: +1 means w >= t, -1 means w <= -t, 0 means |w| <= t.
# Superposition needs two boxes: antipodal (w1 w2 < 0) and same-sign.
_BOXES = (
    (0, (+1, 0)),  # feature1
    (1, (0, +1)),  # feature2
    (2, (+1, -1)),  # superposition, antipodal
    (2, (+1, +1)),  # superposition, same sign
    (3, (0, 0)),  # neither
)
_FD_STEP = 1e-7  # forward differences of the exact gradient give the Newton Hessian
_CHUNK = 4096  # problems per vectorised pass: keeps the working set in cache


def _to_box(q: np.ndarray, kind: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Free coordinate q -> w inside the box, and dw/dq: w = ±(t + q²) outside, t sin q inside.

    Both maps are smooth and onto, so a minimum on the box's edge is an ordinary stationary point
    in q and the minimisation needs no constraint handling."""
    outer = kind != 0
    w = np.where(outer, kind * (t + q * q), t * np.sin(q))
    dw = np.where(outer, kind * 2 * q, t * np.cos(q))
    return w, dw


def _from_box(w: np.ndarray, kind: np.ndarray, t: float) -> np.ndarray:
    """A start w -> q, moved just off the box's edge (where q would be a stationary point)."""
    outer = kind != 0
    q_outer = np.sqrt(np.maximum(kind * w - t, 0.0) + 0.01)
    q_inner = np.arcsin(np.clip(w / t, -0.95, 0.95))
    return np.where(outer, q_outer, q_inner)


def _box_loss_and_grad(theta, kinds, s, r, t):
    """theta [4, N] = (q1, q2, b1, b2), kinds [2, N] -> loss [N], gradient in theta [4, N]."""
    w1, d1 = _to_box(theta[0], kinds[0], t)
    w2, d2 = _to_box(theta[1], kinds[1], t)
    loss, grad = _loss_and_grad_flat(w1, w2, theta[2], theta[3], s, r)
    return loss, np.stack([grad[0] * d1, grad[1] * d2, grad[2], grad[3]])


def _newton_step(theta, loss_grad, kinds, s, r, t):
    """Saddle-free Newton direction -|H|^-1 g, with H from forward differences of the exact gradient."""
    grad = loss_grad
    columns = []
    for k in range(4):
        e = np.zeros((4, 1))
        e[k] = _FD_STEP
        columns.append((_box_loss_and_grad(theta + e, kinds, s, r, t)[1] - grad) / _FD_STEP)
    H = np.stack(columns, axis=1).transpose(2, 0, 1)  # [N, 4, 4]
    H = (H + H.transpose(0, 2, 1)) / 2
    values, vectors = np.linalg.eigh(H)  # [N, 4], [N, 4, 4]
    scale = np.maximum(np.abs(values), 1e-8 * np.abs(values).max(-1, keepdims=True) + 1e-14)
    coeff = np.einsum("nji,jn->ni", vectors, grad) / scale  # [N, 4]
    step = -np.einsum("nij,nj->in", vectors, coeff)  # [4, N]
    length = np.sqrt((step**2).sum(0))
    return step * np.minimum(1.0, 1.0 / np.maximum(length, 1e-300))  # at most unit length


def _minimise_chunk(theta, kinds, s, r, t, iterations: int):
    loss, grad = _box_loss_and_grad(theta, kinds, s, r, t)
    active = np.ones(len(s), dtype=bool)
    halvings = 0.5 ** np.arange(1, 16)
    for _ in range(iterations):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        th, kd, ss, rr = theta[:, idx], kinds[:, idx], s[idx], r[idx]
        step = _newton_step(th, grad[:, idx], kd, ss, rr, t)
        new_loss, new_grad = _box_loss_and_grad(th + step, kd, ss, rr, t)
        better = new_loss < loss[idx]
        new_theta = th + step
        # Backtrack the rest along their direction, all step lengths in one vectorised pass.
        back = np.flatnonzero(~better)
        if back.size:
            k = len(halvings)
            trial = (th[:, back, None] + step[:, back, None] * halvings).reshape(4, -1)  # [4, B*k]
            rep = lambda a: np.repeat(a, k, axis=-1)  # noqa: E731
            trial_loss, _ = _box_loss_and_grad(trial, rep(kd[:, back]), rep(ss[back]), rep(rr[back]), t)
            trial_loss = trial_loss.reshape(-1, k)
            pick = trial_loss.argmin(-1)
            ok = trial_loss[np.arange(back.size), pick] < loss[idx[back]]
            chosen = trial.reshape(4, -1, k)[:, np.arange(back.size), pick]
            moved = back[ok]
            new_theta[:, moved] = chosen[:, ok]
            lo, gr = _box_loss_and_grad(chosen[:, ok], kd[:, moved], ss[moved], rr[moved], t)
            new_loss[moved], new_grad[:, moved] = lo, gr
            better[moved] = True
        upd = idx[better]
        theta[:, upd], loss[upd], grad[:, upd] = new_theta[:, better], new_loss[better], new_grad[:, better]
        # No lower loss along the Newton direction at any length: converged to rounding.
        active[idx[~better]] = False
    return theta, loss, np.abs(grad).max(0)


def minimise(w0, b0, s, r, kinds, threshold: float = PHASE_THRESHOLD, iterations: int = 60):
    """Local minima of the exact loss from starts (w0, b0) [N, 2], each kept inside its box.

    kinds [N, 2] in {-1, 0, +1} names each start's box (see _BOXES). Returns w [N, 2], b [N, 2],
    loss [N] and the largest gradient component in the box's free coordinates [N]."""
    w0, b0 = np.asarray(w0, dtype=float), np.asarray(b0, dtype=float)
    s, r = np.broadcast_to(np.asarray(s, dtype=float), len(w0)), np.broadcast_to(np.asarray(r, dtype=float), len(w0))
    kinds = np.asarray(kinds, dtype=float).T  # [2, N]
    N = len(w0)
    w, b = np.zeros((N, 2)), np.zeros((N, 2))
    loss, gmax = np.zeros(N), np.zeros(N)
    for lo in range(0, N, _CHUNK):
        sl = slice(lo, min(N, lo + _CHUNK))
        kd = kinds[:, sl]
        theta = np.stack([_from_box(w0[sl, 0], kd[0], threshold), _from_box(w0[sl, 1], kd[1], threshold),
                          b0[sl, 0], b0[sl, 1]])
        theta, loss[sl], gmax[sl] = _minimise_chunk(theta, kd, s[sl].copy(), r[sl].copy(), threshold, iterations)
        w[sl, 0] = _to_box(theta[0], kd[0], threshold)[0]
        w[sl, 1] = _to_box(theta[1], kd[1], threshold)[0]
        b[sl] = theta[2:].T
    return w, b, loss, gmax


def _standard_starts(s: np.ndarray, random_starts: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Starts for every point: the closed form's candidates, the kinds of optimum found by the
    build's wide search (antipodal pairs with a positive bias, symmetric or not, and a dominant
    feature with a small same-sign partner), and a few random ones. s [N] -> list of (w, b) [N, 2]."""
    one = np.ones_like(s)
    fixed = [
        ((1, 0), (0, s / 2)), ((0, 1), (s / 2, 0)), ((1, -1), (0, 0)),  # the closed form
        ((0.8, -0.8), (0.28, 0.28)), ((1.0, -1.0), (0.02, 0.02)),  # symmetric antipodal, biased
        ((0.47, -0.93), (0.2, 0.46)), ((0.93, -0.47), (0.46, 0.2)),  # asymmetric antipodal
        ((0.39, 0.96), (0.15, -0.12)), ((0.96, 0.39), (-0.12, 0.15)),  # a small same-sign partner
    ]
    starts = [(np.stack([w[0] * one, w[1] * one], -1), np.stack([b[0] * one, b[1] * one], -1)) for w, b in fixed]
    rng = np.random.default_rng(seed)
    for _ in range(random_starts):
        starts.append((rng.normal(0.0, 0.8, size=(len(s), 2)), rng.normal(0.0, 0.3, size=(len(s), 2))))
    return starts


def _empty_result(N: int) -> dict[str, np.ndarray]:
    return {"phase_loss": np.full((N, 4), np.inf), "phase_w": np.zeros((N, 4, 2)), "phase_b": np.zeros((N, 4, 2)),
            "grad": np.zeros((N, 4))}


def refine(s, r, phase_starts, result=None, threshold: float = PHASE_THRESHOLD):
    """Minimise from more starts and keep, per point and phase, whichever minimum is lower.

    s, r [N]; phase_starts: {phase index: list of (w, b) pairs of [N, 2] arrays}, each start
    minimised inside that phase's box(es); result: a previous `solve`/`refine` answer, updated
    in place (or None). Returns the result (see `solve`)."""
    s, r = np.asarray(s, dtype=float), np.asarray(r, dtype=float)
    N = len(s)
    result = _empty_result(N) if result is None else result
    for phase, kind in _BOXES:
        starts = phase_starts.get(phase, [])
        if not starts:
            continue
        S = len(starts)
        W0 = np.concatenate([np.asarray(w, dtype=float) for w, _ in starts])  # [S*N, 2] start-major
        B0 = np.concatenate([np.asarray(b, dtype=float) for _, b in starts])
        kinds = np.broadcast_to(np.array(kind, dtype=float), (S * N, 2))
        w, b, loss, g = minimise(W0, B0, np.tile(s, S), np.tile(r, S), kinds, threshold)
        loss = loss.reshape(S, N)
        best = loss.argmin(0)  # [N]
        pick = best * N + np.arange(N)
        lowest = loss[best, np.arange(N)]
        better = lowest < result["phase_loss"][:, phase]
        result["phase_loss"][better, phase] = lowest[better]
        result["phase_w"][better, phase] = w[pick][better]
        result["phase_b"][better, phase] = b[pick][better]
        result["grad"][better, phase] = g[pick][better]
    return result


def solve(s, r, extra_starts=(), threshold: float = PHASE_THRESHOLD, random_starts: int = 4, seed: int = 0):
    """The minimum of the exact loss inside each phase's region, at each (s, r).

    s, r [N] (or scalars); extra_starts: more (w, b) pairs of [N, 2] arrays (e.g. the optima of
    nearby points). Every start is minimised inside every phase's box(es). Returns a dict of
    arrays: `phase_loss` [N, 4], the lowest loss found inside the region of each of PHASES;
    `phase_w`, `phase_b` [N, 4, 2], where; `grad` [N, 4], the largest gradient component there
    (in the box's free coordinates: about 1e-9 or less when converged)."""
    s, r = np.broadcast_arrays(np.atleast_1d(np.asarray(s, dtype=float)), np.atleast_1d(np.asarray(r, dtype=float)))
    s, r = s.ravel(), r.ravel()
    starts = _standard_starts(s, random_starts, seed) + [(np.asarray(w, float), np.asarray(b, float))
                                                         for w, b in extra_starts]
    return refine(s, r, {phase: starts for phase in range(4)}, threshold=threshold)


# --------------------------------------------------------------------------- the table

TABLE_PATH = Path(__file__).with_name("relu_reference_table.npz")
TABLE_FORMAT = 1
TIE_TOLERANCE = 1e-12  # relative: losses this close tie, and the first of PHASES wins (feature1 at r = 1)
MATCH_RTOL = 1e-6  # a point this close to a table point is that point (float32 copies included)
_MIRROR = np.array([1, 0, 2, 3])  # phase index after swapping the two features


@dataclass(frozen=True)
class Boundary:
    """One polyline of a phase boundary, in the phase diagram's coordinates."""

    phases: tuple[str, str]  # the two phases it separates
    density: np.ndarray  # [k]
    relative_importance: np.ndarray  # [k]


@dataclass(frozen=True)
class ReferenceOptimum:
    """The exact optimum at each point asked for (arrays of the broadcast shape of s and r)."""

    loss: np.ndarray  # [...] the lowest expected loss over all of (w1, w2, b1, b2)
    w: np.ndarray  # [..., 2] where (up to the sign of w, which the loss cannot see)
    b: np.ndarray  # [..., 2]
    phase: np.ndarray  # [...] its phase (a PHASES name)
    gap: np.ndarray  # [...] how much higher the best solution of any other phase is (>= 0)
    phase_loss: np.ndarray  # [..., 4] the lowest loss inside each phase's region, in PHASES order
    from_table: np.ndarray  # [...] bool: read from the table (else minimised on the spot)


@dataclass(frozen=True)
class _Table:
    density: np.ndarray  # [S] grid densities
    importance: np.ndarray  # [R] grid relative importances, r <= 1 (r > 1 by symmetry)
    points: np.ndarray  # [P, 2] every stored point (grid, then preset points), (s, r) with r <= 1
    phase_loss: np.ndarray  # [P, 4]
    w: np.ndarray  # [P, 2]
    b: np.ndarray  # [P, 2]
    phase: np.ndarray  # [P] index into PHASES
    gap: np.ndarray  # [P]
    boundaries: tuple[Boundary, ...]
    triple_point: tuple[float, float]
    build_seconds: float
    cell_segments: dict  # (i, j) grid cell -> its boundary segments, [(start, end)] in (log s, log r)


def decide_phase(phase_loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Phase index (the first of PHASES within TIE_TOLERANCE of the lowest) and the gap to the
    best other phase: [..., 4] -> [...], [...]."""
    best = phase_loss.min(-1, keepdims=True)
    phase = np.argmax(phase_loss <= best * (1 + TIE_TOLERANCE), axis=-1)
    others = np.where(np.arange(4) == phase[..., None], np.inf, phase_loss)
    return phase, others.min(-1) - best[..., 0]


@lru_cache(maxsize=1)
def _table(path: Path = TABLE_PATH) -> _Table:
    with np.load(path, allow_pickle=False) as z:
        if int(z["format"]) != TABLE_FORMAT:
            raise ValueError(f"{path}: table format {int(z['format'])}, expected {TABLE_FORMAT}")
        S, R = z["grid_density"], z["grid_importance"]
        grid = lambda key: z[f"grid_{key}"].reshape(len(S) * len(R), *z[f"grid_{key}"].shape[2:])  # noqa: E731
        join = lambda key: np.concatenate([grid(key), z[f"extra_{key}"]]).astype(  # noqa: E731
            np.float64 if key != "phase" else np.int64)
        s_grid, r_grid = (a.ravel() for a in np.meshgrid(S, R, indexing="ij"))
        points = np.stack([np.concatenate([s_grid, z["extra_density"]]), np.concatenate([r_grid, z["extra_importance"]])], -1)
        pts, offsets, pairs = z["boundary_points"], z["boundary_offsets"], z["boundary_phases"]
        boundaries = tuple(
            Boundary((PHASES[pairs[k, 0]], PHASES[pairs[k, 1]]), pts[offsets[k]:offsets[k + 1], 0].copy(),
                     pts[offsets[k]:offsets[k + 1], 1].copy())
            for k in range(len(pairs))
        )
        return _Table(S, R, points, join("phase_loss"), join("w"), join("b"), join("phase"), join("gap"),
                      boundaries, (float(z["triple_point"][0]), float(z["triple_point"][1])),
                      float(z["build_seconds"]), _cell_segments(S, R, boundaries))


def _cell_segments(S: np.ndarray, R: np.ndarray, boundaries) -> dict:
    """The boundary segments inside each cell of the r <= 1 grid (each joins two crossings on the
    cell's edges, so its midpoint names the cell)."""
    gs, gr = np.log(S), np.log(R)
    cells: dict = {}
    for line in boundaries:
        if line.relative_importance.max() > 1 + MATCH_RTOL or (line.relative_importance >= 1 - MATCH_RTOL).all():
            continue  # the mirror images above r = 1, and the feature1 | feature2 line on r = 1
        pts = np.stack([np.log(line.density), np.log(line.relative_importance)], -1)
        mid = (pts[1:] + pts[:-1]) / 2
        i = np.searchsorted(gs, mid[:, 0]) - 1
        j = np.searchsorted(gr, mid[:, 1]) - 1
        for k in range(len(mid)):
            cells.setdefault((int(i[k]), int(j[k])), []).append((pts[k], pts[k + 1]))
    return cells


def _prepare(s, r):
    """Broadcast, flatten, and fold r > 1 onto r <= 1 (swapping the features)."""
    s, r = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(r, dtype=float))
    shape, s, r = s.shape, s.ravel(), r.ravel()
    mirror = r > 1 + MATCH_RTOL
    return shape, s, np.where(mirror, 1 / r, np.minimum(r, 1.0)), r, mirror


def _find(t: _Table, s: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Row of t.points matching each (s, r <= 1), or -1."""
    ls, lr = np.log(s), np.log(r)
    gs, gr = np.log(t.density), np.log(t.importance)
    i = np.clip(np.searchsorted(gs, ls), 1, len(gs) - 1)
    i = np.where(np.abs(gs[i - 1] - ls) < np.abs(gs[i] - ls), i - 1, i)
    j = np.clip(np.searchsorted(gr, lr), 1, len(gr) - 1)
    j = np.where(np.abs(gr[j - 1] - lr) < np.abs(gr[j] - lr), j - 1, j)
    on_grid = (np.abs(gs[i] - ls) <= MATCH_RTOL) & (np.abs(gr[j] - lr) <= MATCH_RTOL)
    row = np.where(on_grid, i * len(gr) + j, -1)
    extra = np.log(t.points[len(gs) * len(gr):])  # [E, 2]
    for k in np.flatnonzero(~on_grid):
        near = np.flatnonzero((np.abs(extra[:, 0] - ls[k]) <= MATCH_RTOL) & (np.abs(extra[:, 1] - lr[k]) <= MATCH_RTOL))
        if near.size:
            row[k] = len(gs) * len(gr) + near[0]
    return row


def _cell_of(t: _Table, s: np.ndarray, r: np.ndarray):
    """Grid cell (i, j) holding each point and its place in it (u, v in [0, 1]), in log coordinates."""
    gs, gr = np.log(t.density), np.log(t.importance)
    ls, lr = np.log(s), np.log(r)
    i = np.clip(np.searchsorted(gs, ls) - 1, 0, len(gs) - 2)
    j = np.clip(np.searchsorted(gr, lr) - 1, 0, len(gr) - 2)
    return i, j, (ls - gs[i]) / (gs[i + 1] - gs[i]), (lr - gr[j]) / (gr[j + 1] - gr[j])


def _interpolated_phase_loss(t: _Table, s: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Bilinear in (log s, log r) between the four surrounding grid points: [N] -> [N, 4]."""
    i, j, u, v = _cell_of(t, s, r)
    u, v = u[:, None], v[:, None]
    at = lambda a, b: t.phase_loss[a * len(t.importance) + b]  # noqa: E731
    return (1 - u) * (1 - v) * at(i, j) + u * (1 - v) * at(i + 1, j) + (1 - u) * v * at(i, j + 1) + u * v * at(i + 1, j + 1)


def _phase_by_boundary(t: _Table, s: np.ndarray, r: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Phase of off-table points from the table's phases at the cell's corners and, in a cell
    that one boundary segment crosses, the side of that segment (exact to the boundary's
    curvature inside one cell); fallback [N] where three phases meet in the cell."""
    i, j, _, _ = _cell_of(t, s, r)
    nr = len(t.importance)
    corners = np.stack([t.phase[(i + di) * nr + (j + dj)] for di in (0, 1) for dj in (0, 1)], -1)  # [N, 4]
    phase = np.where((corners == corners[:, :1]).all(-1), corners[:, 0], fallback)
    gs, gr = np.log(t.density), np.log(t.importance)
    cross = lambda a, b, p: (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])  # noqa: E731
    for k in np.flatnonzero((corners != corners[:, :1]).any(-1)):
        segments = t.cell_segments.get((int(i[k]), int(j[k])), [])
        if len(segments) != 1:
            continue
        a, b = segments[0]
        side = np.sign(cross(a, b, (np.log(s[k]), np.log(r[k]))))
        for c, (di, dj) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            if np.sign(cross(a, b, (gs[i[k] + di], gr[j[k] + dj]))) == side:
                phase[k] = corners[k, c]
                break
    return phase


def _in_range(t: _Table, s: np.ndarray, r: np.ndarray) -> np.ndarray:
    lo_s, hi_s = t.density[0] * (1 - MATCH_RTOL), t.density[-1] * (1 + MATCH_RTOL)
    return (s >= lo_s) & (s <= hi_s) & (r >= t.importance[0] * (1 - MATCH_RTOL))


def _unfold(phase_loss, w, b, r, mirror):
    """Values at (s, 1/r) -> values at (s, r) for the mirrored points: L(s, r) = r L(s, 1/r)."""
    scale = np.where(mirror, r, 1.0)
    phase_loss = np.where(mirror[:, None], phase_loss[:, _MIRROR], phase_loss) * scale[:, None]
    w = np.where(mirror[:, None], w[:, ::-1], w)
    b = np.where(mirror[:, None], b[:, ::-1], b)
    return phase_loss, w, b


def _lookup(s, r, off_table: str):
    """Everything the reference knows at each (s, r): table rows where there are some, else
    interpolated (off_table="interpolate", no w and b then) or minimised (off_table="solve").

    Returns shape, phase [N], gap [N], phase_loss [N, 4], w [N, 2], b [N, 2], from_table [N]."""
    t = _table()
    shape, s, folded, r, mirror = _prepare(s, r)
    row = _find(t, s, folded)
    hit = row >= 0
    N = len(s)
    phase_loss, w, b = np.full((N, 4), np.nan), np.full((N, 2), np.nan), np.full((N, 2), np.nan)
    phase_loss[hit], w[hit], b[hit] = t.phase_loss[row[hit]], t.w[row[hit]], t.b[row[hit]]
    to_solve, inside = ~hit, np.zeros(N, dtype=bool)
    if off_table == "interpolate":
        inside = ~hit & _in_range(t, s, folded)
        phase_loss[inside] = _interpolated_phase_loss(t, s[inside], folded[inside])
        to_solve = ~hit & ~inside
    if to_solve.any():
        res = solve(s[to_solve], folded[to_solve])
        best = decide_phase(res["phase_loss"])[0]
        k = np.arange(len(best))
        phase_loss[to_solve] = res["phase_loss"]
        w[to_solve], b[to_solve] = res["phase_w"][k, best], res["phase_b"][k, best]
    folded_phase = decide_phase(phase_loss)[0]
    if inside.any():
        folded_phase[inside] = _phase_by_boundary(t, s[inside], folded[inside], folded_phase[inside])
    phase_loss, w, b = _unfold(phase_loss, w, b, r, mirror)
    phase, gap = decide_phase(phase_loss)
    phase = np.where(inside, np.where(mirror, _MIRROR[folded_phase], folded_phase), phase)
    # At table points its own decision, made in float64 before the losses were stored as float32.
    phase = np.where(hit, np.where(mirror, _MIRROR[t.phase[row]], t.phase[row]), phase)
    gap = np.where(hit, t.gap[row] * np.where(mirror, r, 1.0), gap)
    return shape, phase, gap, phase_loss, w, b, hit


def reference_phase(s, r) -> np.ndarray:
    """The phase (a PHASES name) of the exact optimum at density s, relative importance r.

    Array-friendly (s and r broadcast). Exact at the table's points (its grid and every point
    of the phase preset's 12x12 and 40x40 grids, float32 copies included). Between grid points:
    the phase of the cell's corners, or where a boundary crosses the cell, the phase on the
    point's side of the boundary's segment in that cell (its crossings on the cell's edges are
    exact, so this is off only by the boundary's curvature within one cell); where three phases
    meet in a cell, the phase whose loss, interpolated bilinearly in (log s, log r), is lowest.
    Outside density 0.01..1 x importance 0.1..10: minimised on the spot (exact, slower)."""
    shape, phase, *_ = _lookup(s, r, "interpolate")
    return np.array(PHASES)[phase].reshape(shape)


def reference_gap(s, r) -> np.ndarray:
    """How sure the reference is: the lowest loss of any other phase minus the optimum's (>= 0).

    Zero on a boundary (and on r = 1 beyond the triple point, where feature1 and feature2 tie);
    compare it with the uncertainty of a trained model's loss before calling a disagreement.
    Looked up like reference_phase."""
    shape, _, gap, *_ = _lookup(s, r, "interpolate")
    return gap.reshape(shape)


def reference_optimum(s, r) -> ReferenceOptimum:
    """The exact optimum (loss, w, b, phase, gap) at each (s, r): read from the table at its
    points, minimised on the spot elsewhere (about a second per hundred points)."""
    shape, phase, gap, phase_loss, w, b, hit = _lookup(s, r, "solve")
    loss = phase_loss[np.arange(len(phase)), phase]
    return ReferenceOptimum(loss.reshape(shape), w.reshape(shape + (2,)), b.reshape(shape + (2,)),
                            np.array(PHASES)[phase].reshape(shape), gap.reshape(shape),
                            phase_loss.reshape(shape + (4,)), hit.reshape(shape))


def reference_boundary() -> list[Boundary]:
    """Every phase boundary of the exact optimum as polylines in (density, relative importance).

    Each point is a crossing found by bisection on an edge of the table's grid, to about 1e-10 in
    log10 (about 1e-6 near r = 1, where the optimum crosses the phase threshold continuously and
    the phases' losses differ only quadratically), joined cell by cell. Draw each polyline as a
    line on log-log axes, e.g. `ax.plot(line.density, line.relative_importance)` with matplotlib,
    or mark the cells a polyline passes through in a character grid."""
    return list(_table().boundaries)


def reference_triple_point() -> tuple[float, float]:
    """(density, relative importance) where superposition, feature1 and feature2 meet (r = 1)."""
    return _table().triple_point
