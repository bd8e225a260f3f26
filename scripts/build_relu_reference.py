"""Build engine/science/relu_reference_table.npz: the exact optimum of the n=2, m=1 ReLU model over the
phase diagram (a developer tool; the package only reads its output).

    python scripts/build_relu_reference.py [--grid 161] [--check 12] [--workers 2]

What it does (engine.science.relu_reference has the loss, its gradient and the minimiser):
1. Every point of a log grid (density 0.01..1 by relative importance 0.1..1; r > 1 follows by
   swapping the features, L(s, r) = r L(s, 1/r)) and every point of the phase preset's 12x12
   and 40x40 grids is minimised from 13 starts (the closed form's candidates, the kinds of
   optimum a wide search finds, 4 random) inside each phase's region.
2. Polish: each grid point is re-minimised from its four neighbours' optima, phase by phase,
   until no point improves (this repairs a basin that the fixed starts missed somewhere). On the
   r = 1 row each phase also starts from its mirror image (feature1 <-> feature2).
3. The phase boundaries: on every grid edge whose ends differ in phase, the crossing is found
   by bisection (each midpoint minimised from both ends' optima), and the crossings are joined
   cell by cell into polylines; the triple point is the crossing on the r = 1 row.
4. With --check N, scipy's L-BFGS-B from 40 random starts at N random grid points (unconstrained,
   an independent search) must not find a lower loss than the table. scipy is needed only here.

Run time on the 2-core development machine (shared with other work): 10.9 minutes for the
committed table (161 x 161, 2 workers, --check 12, which takes about one minute of that).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.presets import phase_axes  # noqa: E402
from engine.science.relu_reference import (  # noqa: E402
    _BOXES,
    PHASE_THRESHOLD,
    TABLE_FORMAT,
    TABLE_PATH,
    decide_phase,
    expected_loss_and_grad,
    refine,
    solve,
)

FEATURE1, FEATURE2, SUPERPOSITION, NEITHER = range(4)
MIRROR = np.array([FEATURE2, FEATURE1, SUPERPOSITION, NEITHER])  # phase index after swapping features
BISECTIONS = 26  # 2**-26 of a grid step: about 2e-10 in log10 of density or importance


def _solve_chunk(args):
    s, r, starts = args
    return solve(s, r, extra_starts=starts)


def solve_parallel(s: np.ndarray, r: np.ndarray, workers: int, starts=()) -> dict[str, np.ndarray]:
    """solve() in chunks of points, spread over worker processes."""
    chunks = [(s[i:i + 256], r[i:i + 256], [(w[i:i + 256], b[i:i + 256]) for w, b in starts])
              for i in range(0, len(s), 256)]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_solve_chunk, chunks)
    else:
        parts = [_solve_chunk(c) for c in chunks]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def mirrored(w: np.ndarray) -> np.ndarray:
    return w[..., ::-1]


def polish(res: dict, s: np.ndarray, r: np.ndarray, shape: tuple[int, int], log) -> int:
    """Re-minimise every grid point from its neighbours' optima until nothing improves."""
    ns, nr = shape
    grid = lambda key: res[key].reshape(ns, nr, *res[key].shape[1:])  # noqa: E731
    dirty = np.ones(shape, dtype=bool)
    rounds = 0
    while dirty.any() and rounds < 40:
        rounds += 1
        ii, jj = np.nonzero(dirty)
        flat = ii * nr + jj
        PW, PB = grid("phase_w"), grid("phase_b")
        starts = {p: [] for p in range(4)}
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ni, nj = np.clip(ii + di, 0, ns - 1), np.clip(jj + dj, 0, nr - 1)
            for p in range(4):
                starts[p].append((PW[ni, nj, p], PB[ni, nj, p]))
        on_one = np.isclose(r[flat], 1.0, rtol=1e-12, atol=0)
        for p in range(4):  # the mirror image of the other monosemantic phase, on r = 1
            q = MIRROR[p]
            starts[p].append((np.where(on_one[:, None], mirrored(PW[ii, jj, q]), PW[ii, jj, p]),
                              np.where(on_one[:, None], mirrored(PB[ii, jj, q]), PB[ii, jj, p])))
        before = res["phase_loss"][flat].copy()
        part = {k: v[flat].copy() for k, v in res.items()}
        refine(s[flat], r[flat], starts, part)
        for k in res:
            res[k][flat] = part[k]
        gain = (before - part["phase_loss"]) / np.abs(before)  # [n, 4] relative improvement per phase
        improved = (gain > 1e-15).any(-1)
        optimum_gain = (before.min(-1) - part["phase_loss"].min(-1)) / before.min(-1)
        log(f"  polish round {rounds}: {dirty.sum()} points, {improved.sum()} improved (largest gain "
            f"{gain.max():.1e} in some phase, {optimum_gain.max():.1e} in the optimum)")
        dirty = np.zeros(shape, dtype=bool)
        for di, dj in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
            dirty[np.clip(ii[improved] + di, 0, ns - 1), np.clip(jj[improved] + dj, 0, nr - 1)] = True
    return rounds


def phase_at(s, r, starts_a, starts_b) -> np.ndarray:
    """Phase index at (s, r) [N], minimised from the optima of two nearby points."""
    starts = {p: [starts_a[p], starts_b[p]] for p in range(4)}
    res = refine(s, r, starts)
    return decide_phase(res["phase_loss"])[0]


def crossings(S, R, phase, PW, PB):
    """Where the phase changes along each grid edge: {edge id: (point (s, r), phases (a, b))}.

    Edge ("h", i, j) joins (i, j)-(i+1, j) (along density), ("v", i, j) joins (i, j)-(i, j+1)."""
    ns, nr = phase.shape
    edges = []
    for i in range(ns):
        for j in range(nr):
            if i + 1 < ns and phase[i, j] != phase[i + 1, j]:
                edges.append(("h", i, j, i + 1, j))
            if j + 1 < nr and phase[i, j] != phase[i, j + 1]:
                edges.append(("v", i, j, i, j + 1))
    if not edges:
        return {}
    a = np.array([(e[1], e[2]) for e in edges])
    b = np.array([(e[3], e[4]) for e in edges])
    la = np.stack([np.log(S[a[:, 0]]), np.log(R[a[:, 1]])], -1)
    lb = np.stack([np.log(S[b[:, 0]]), np.log(R[b[:, 1]])], -1)
    start_a = {p: (PW[a[:, 0], a[:, 1], p], PB[a[:, 0], a[:, 1], p]) for p in range(4)}
    start_b = {p: (PW[b[:, 0], b[:, 1], p], PB[b[:, 0], b[:, 1], p]) for p in range(4)}
    phase_a = phase[a[:, 0], a[:, 1]]
    lo, hi = np.zeros(len(edges)), np.ones(len(edges))
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        point = np.exp(la + mid[:, None] * (lb - la))
        same = phase_at(point[:, 0], point[:, 1], start_a, start_b) == phase_a
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    point = np.exp(la + ((lo + hi) / 2)[:, None] * (lb - la))
    return {e[:3]: (point[k], tuple(sorted((int(phase[e[1], e[2]]), int(phase[e[3], e[4]])))))
            for k, e in enumerate(edges)}


def polylines(phase, cross):
    """Join the edge crossings cell by cell into polylines: list of (phases (a, b), points [k, 2])."""
    ns, nr = phase.shape
    segments = []  # (node, node, pair); a node is an edge id or ("c", i, j) for a cell's junction
    points = {key: value[0] for key, value in cross.items()}
    for i in range(ns - 1):
        for j in range(nr - 1):
            cell = [e for e in (("h", i, j), ("h", i, j + 1), ("v", i, j), ("v", i + 1, j)) if e in cross]
            pairs = {cross[e][1] for e in cell}
            if len(cell) == 2 and len(pairs) == 1:
                segments.append((cell[0], cell[1], cross[cell[0]][1]))
            elif len(cell) == 4 and len(pairs) == 1:  # a saddle: pair the crossings the short way
                h0, h1, v0, v1 = cell
                d = lambda x, y: np.hypot(*np.log(points[x] / points[y]))  # noqa: E731
                pairing = [(h0, v0), (h1, v1)] if d(h0, v0) + d(h1, v1) < d(h0, v1) + d(h1, v0) else [(h0, v1), (h1, v0)]
                segments += [(x, y, cross[x][1]) for x, y in pairing]
            elif cell:  # three phases meet in this cell: join each crossing to their centre
                junction = ("c", i, j)
                points[junction] = np.exp(np.mean([np.log(points[e]) for e in cell], axis=0))
                segments += [(e, junction, cross[e][1]) for e in cell]
    lines = []
    for pair in sorted({seg[2] for seg in segments}):
        links: dict = {}
        for x, y, p in segments:
            if p == pair:
                links.setdefault(x, []).append(y)
                links.setdefault(y, []).append(x)
        seen: set = set()
        ends = [n for n, nb in links.items() if len(nb) != 2] + list(links)
        for start in ends:
            if start in seen:
                continue
            chain, prev, node = [start], None, start
            seen.add(start)
            while True:
                nxt = [n for n in links[node] if n != prev and n not in seen]
                if not nxt:
                    break
                prev, node = node, nxt[0]
                chain.append(node)
                seen.add(node)
            if len(chain) > 1:
                lines.append((pair, np.array([points[n] for n in chain])))
    return lines


def scipy_check(S, R, phase_loss, count: int, log) -> float:
    """The lowest loss scipy finds from 40 random unconstrained starts, against the table."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(2024)
    worst = 0.0
    for _ in range(count):
        i, j = rng.integers(len(S)), rng.integers(len(R))
        s, r = S[i], R[j]

        def f(th):
            loss, gw, gb = expected_loss_and_grad(th[:2], th[2:], s, r)
            return float(loss), np.concatenate([gw, gb])

        best = min(minimize(f, np.concatenate([rng.normal(0, 0.8, 2), rng.normal(0, 0.3, 2)]), jac=True,
                            method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 1000}).fun
                   for _ in range(40))
        table = phase_loss[i, j].min()
        worst = min(worst, (best - table) / table)
        log(f"  check s={s:.4f} r={r:.4f}: table {table:.12f}, scipy {best:.12f}")
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=int, default=161, help="points per axis of the full log grid (odd)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", type=int, default=0, help="random grid points to cross-check with scipy")
    parser.add_argument("--out", type=Path, default=TABLE_PATH)
    args = parser.parse_args(argv)
    if args.grid < 3 or args.grid % 2 == 0:
        parser.error("--grid must be an odd number >= 3 (so r = 1 is a grid row)")
    t0 = time.perf_counter()
    log = lambda msg: print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)  # noqa: E731

    S = np.geomspace(0.01, 1.0, args.grid)
    R = np.geomspace(0.1, 10.0, args.grid)[: args.grid // 2 + 1]
    R[-1] = 1.0  # r <= 1; the rest by symmetry
    s_grid, r_grid = (a.ravel() for a in np.meshgrid(S, R, indexing="ij"))
    extra = {}
    for count in (12, 40):  # the presets' grids are symmetric in log r: their r <= 1 half suffices
        densities, importances = phase_axes(count, count)
        for d in densities:
            for r in importances:
                if r <= 1 and not (np.isclose(S, d, rtol=1e-9).any() and np.isclose(R, r, rtol=1e-9).any()):
                    extra[(round(np.log(d), 9), round(np.log(r), 9))] = (d, r)
    extra = sorted(extra.values())
    s_extra = np.array([p[0] for p in extra])
    r_extra = np.array([p[1] for p in extra])
    log(f"grid {len(S)} x {len(R)} (r <= 1) and {len(extra)} preset points")

    res = solve_parallel(s_grid, r_grid, args.workers)
    log("grid: every start minimised")
    polish(res, s_grid, r_grid, (len(S), len(R)), log)
    shape = (len(S), len(R))
    grid_loss = res["phase_loss"].reshape(*shape, 4)
    PW, PB = res["phase_w"].reshape(*shape, 4, 2), res["phase_b"].reshape(*shape, 4, 2)
    grid_phase, grid_gap = decide_phase(grid_loss)
    if (grid_phase[:, :-1] == FEATURE2).any():
        log("note: feature2 wins somewhere below r = 1")

    # Preset points: the fixed starts plus the optima of the grid points around each.
    ks = np.clip(np.searchsorted(S, s_extra), 1, len(S) - 1)
    kr = np.clip(np.searchsorted(R, r_extra), 1, len(R) - 1)
    near = [(PW[ks - di, kr - dj, p], PB[ks - di, kr - dj, p]) for di in (0, 1) for dj in (0, 1) for p in range(4)]
    ext = solve_parallel(s_extra, r_extra, args.workers, near)
    extra_phase, extra_gap = decide_phase(ext["phase_loss"])
    log("preset points done")

    cross = crossings(S, R, grid_phase, PW, PB)
    lines = polylines(grid_phase, cross)
    triple = [cross[e][0] for e in cross if e[0] == "h" and e[2] == len(R) - 1 and SUPERPOSITION in cross[e][1]]
    triple_point = np.array([triple[0][0], 1.0]) if triple else np.array([np.nan, np.nan])
    full = []
    for pair, pts in lines:  # each boundary below r = 1 and its mirror image above
        full.append((pair, pts))
        full.append((tuple(sorted(int(MIRROR[p]) for p in pair)), np.stack([pts[:, 0], 1 / pts[:, 1]], -1)))
    if triple:
        s_line = np.concatenate([[triple_point[0]], S[S > triple_point[0]]])
        full.append(((FEATURE1, FEATURE2), np.stack([s_line, np.ones_like(s_line)], -1)))
    log(f"{len(cross)} edge crossings, {len(full)} boundary polylines, triple point s = {triple_point[0]:.6f}")

    if args.check:
        worst = scipy_check(S, R, grid_loss, args.check, log)
        log(f"scipy cross-check: worst (scipy - table) / table = {worst:.2e}")
        if worst < -1e-9:
            log("scipy found a lower loss than the table: the search missed a basin")
            return 1

    offsets = np.cumsum([0] + [len(p) for _, p in full])
    elapsed = time.perf_counter() - t0
    tables = {
        "format": np.array(TABLE_FORMAT),
        "threshold": np.array(PHASE_THRESHOLD),
        "build_seconds": np.array(elapsed),
        "grid_density": S,
        "grid_importance": R,
        "grid_phase": grid_phase.astype(np.int8),
        "grid_gap": grid_gap.astype(np.float32),
        "grid_phase_loss": grid_loss.astype(np.float32),
        "grid_w": np.take_along_axis(PW, grid_phase[..., None, None], axis=2)[:, :, 0].astype(np.float32),
        "grid_b": np.take_along_axis(PB, grid_phase[..., None, None], axis=2)[:, :, 0].astype(np.float32),
        "grid_max_gradient": res["grad"].reshape(*shape, 4).max(-1).astype(np.float32),
        "extra_density": s_extra,
        "extra_importance": r_extra,
        "extra_phase": extra_phase.astype(np.int8),
        "extra_gap": extra_gap.astype(np.float32),
        "extra_phase_loss": ext["phase_loss"].astype(np.float32),
        "extra_w": ext["phase_w"][np.arange(len(extra)), extra_phase].astype(np.float32),
        "extra_b": ext["phase_b"][np.arange(len(extra)), extra_phase].astype(np.float32),
        "boundary_points": np.concatenate([p for _, p in full]) if full else np.zeros((0, 2)),
        "boundary_offsets": offsets.astype(np.int64),
        "boundary_phases": np.array([pair for pair, _ in full], dtype=np.int8).reshape(-1, 2),
        "triple_point": triple_point,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.stem + ".partial.npz")
    np.savez_compressed(tmp, **tables)
    os.replace(tmp, args.out)
    log(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
