"""Refinement: a phase diagram's compute spent where its boundary lies.

A refinement of a phase run trains a coarse `coarse` x `coarse` grid over the phase experiment's
ranges (level 0), then, level by level, only the points that split the cells whose corners
disagree (engine.science.boundary.cell_disagrees: different winning phases, or a phase its seeds
contest within a few paired standard errors) into four, until the cells that hold the boundary are
`levels` halvings finer than the coarse grid. Each level is one run of the queue holding just its
new points (RunConfig.point_layout = "pairs"), so it trains on any worker or through Ray and
outlives the client.

The refinement is kept like a sweep: `<data>/sweeps/<id>.json` holds its plan (kind "refinement",
the base config, coarse, levels) and its runs in level order, and each run's manifest says
`{"id": ID, "axes": {"level": k}}`. Who submits the next level is the scheduler
(advance_refinements, called from its loop): when every run of a refinement has ended completed,
it plans the next level from all of them and queues it. That is idempotent under the
refinement's lock, so a client calling it too (or a restarted scheduler) never queues a level twice.
A level run that ends otherwise (cancelled, failed) ends the refinement with that reason.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from typing import TYPE_CHECKING, Any

from engine.config import RunConfig
from engine.errors import ConfigError, StoreError
from engine.science.boundary import Lattice, Outcome, cell_disagrees, outcomes_of_run, phase_boundaries

if TYPE_CHECKING:
    from engine.store.runs import RunStore

KIND = "refinement"
MIN_COARSE, MAX_COARSE = 2, 64
MAX_LEVELS = 8  # 2**8 halvings of a coarse cell: far below what training resolves
DEFAULT_COARSE = 8
DEFAULT_LEVELS = 3  # the app's `f`: an 8 x 8 grid's boundary cells made 8 times finer
PREFIX = "refine-"  # a refinement's id (and its index's name) starts so; a sweep's with "sweep-"


def check_levels(levels: Any, coarse: Any = DEFAULT_COARSE) -> tuple[int, int]:
    """`--refine LEVELS` (and the coarse grid): integers in range, or ConfigError naming the field."""
    for name, value, low, high in (("refine", levels, 1, MAX_LEVELS), ("coarse", coarse, MIN_COARSE, MAX_COARSE)):
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ConfigError(name, f"must be a whole number from {low} to {high}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(name, f"must be a whole number from {low} to {high}, got {value!r}")
    return int(levels), int(coarse)


def new_refinement_id(activation: str) -> str:
    return f"{PREFIX}{_dt.datetime.now():%Y%m%d-%H%M%S}-{activation}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- planning (pure)


def level_cell(lattice: Lattice, level: int) -> int:
    """Side, in finest steps, of the cells examined to plan `level` (1..levels): the cells of
    the level before."""
    return lattice.coarse_step // 2 ** (level - 1)


def disagreeing_cells(known: dict[tuple[int, int], Outcome], side: int) -> list[tuple[int, int]]:
    """Lower-left corners of the aligned cells of `side` whose four corners are known and disagree."""
    out = []
    for (i, j) in known:
        if i % side or j % side:
            continue
        corners = [known.get(c) for c in ((i, j), (i + side, j), (i, j + side), (i + side, j + side))]
        if all(c is not None for c in corners) and cell_disagrees(corners):
            out.append((i, j))
    return sorted(out)


def next_nodes(known: dict[tuple[int, int], Outcome], lattice: Lattice, level: int) -> list[tuple[int, int]]:
    """The lattice nodes level `level` trains: the edge midpoints and centre of every disagreeing
    cell of the level before that are not known yet, each once."""
    side = level_cell(lattice, level)
    half = side // 2
    new = set()
    for i, j in disagreeing_cells(known, side):
        for di, dj in ((half, 0), (0, half), (half, half), (side, half), (half, side)):
            node = (i + di, j + dj)
            if node not in known:
                new.add(node)
    return sorted(new)


def level_config(base: RunConfig, lattice: Lattice, nodes: list[tuple[int, int]]) -> RunConfig:
    """The run of one level: the base run's settings at exactly these points."""
    s, r = lattice.coordinates([n[0] for n in nodes], [n[1] for n in nodes])
    return base.replace(densities=tuple(float(x) for x in s), relative_importances=tuple(float(x) for x in r),
                        point_layout="pairs")


def coarse_config(base: RunConfig, lattice: Lattice) -> RunConfig:
    return level_config(base, lattice, lattice.coarse_nodes())


def plan_refinement(base: RunConfig, levels: int, coarse: int = DEFAULT_COARSE) -> tuple[dict, RunConfig]:
    """The refinement's plan (stored in its index) and its level-0 run. ConfigError when it cannot be."""
    from engine.experiments import validate_config

    levels, coarse = check_levels(levels, coarse)
    if base.preset != "phase":
        raise ConfigError("refine", f"refines a phase diagram: the phase preset only, got {base.preset!r}")
    lattice = Lattice(coarse, levels)
    first = coarse_config(base, lattice)
    validate_config(first)
    plan = {"kind": KIND, "preset": base.preset, "activation": base.activation, "activations": [base.activation],
            "axes": {"level": list(range(levels + 1))}, "coarse": coarse, "levels": levels,
            "base": base.replace(densities=(1.0,), relative_importances=(1.0,)).to_dict()}
    return plan, first


def lattice_of(plan: dict) -> Lattice:
    levels, coarse = check_levels(plan.get("levels"), plan.get("coarse"))
    return Lattice(coarse, levels)


def is_refinement(index: Any) -> bool:
    return isinstance(index, dict) and isinstance(index.get("plan"), dict) and index["plan"].get("kind") == KIND


# --------------------------------------------------------------------------- the stored object


def index_path(store: "RunStore", refinement_id: str):
    return store.sweeps_dir / f"{refinement_id}.json"


def write_index(store: "RunStore", index: dict) -> None:
    from engine.store.runs import validate_run_id
    from engine.system.files import atomic_write_json

    validate_run_id(index["id"])
    atomic_write_json(index_path(store, index["id"]), index)


def start_refinement(store: "RunStore", base: RunConfig, levels: int, coarse: int = DEFAULT_COARSE,
                     extra: dict | None = None) -> tuple[str, str]:
    """Queue level 0 of a new refinement of `base` and record it; (refinement id, run id). The
    scheduler queues the levels after it (advance_refinements)."""
    from engine.jobs.queue import JobQueue
    from engine.store.runs import now_iso

    from engine.system.locks import try_lock

    plan, first = plan_refinement(base, levels, coarse)
    plan["extra"] = dict(extra or {})  # where each level runs (an executor), passed on to every level
    refinement_id = new_refinement_id(base.activation)
    index = {"id": refinement_id, "created": now_iso(), "plan": plan, "runs": [], "ended": None}
    # Held until level 0 is recorded: a scheduler looking in between must not plan from no run.
    with try_lock(lock_path(store, refinement_id)) or _no_lock(refinement_id):
        write_index(store, index)  # first, listing no run: a run never belongs to an unrecorded refinement
        [run_id] = JobQueue(store).submit_all([first], [_level_extra(plan, refinement_id, 0)])
        index["runs"] = [run_id]
        write_index(store, index)
    return refinement_id, run_id


def lock_path(store: "RunStore", refinement_id: str):
    return store.sweeps_dir / f".{refinement_id}.lock"


def _no_lock(refinement_id: str):
    raise StoreError(f"refinement {refinement_id}: its lock is held by another process")


def _level_extra(plan: dict, refinement_id: str, level: int) -> dict:
    return {**plan.get("extra", {}), "sweep": {"id": refinement_id, "axes": {"level": level}}}


def load_records(store: "RunStore", index: dict) -> list:
    """The refinement's runs, in level order (a run that cannot be read raises StoreError)."""
    return [store.load(run_id) for run_id in index["runs"]]


def known_outcomes(records, lattice: Lattice) -> dict[tuple[int, int], Outcome]:
    known: dict[tuple[int, int], Outcome] = {}
    for record in records:
        if record.status == "completed" and record.has_arrays:
            known.update(outcomes_of_run(record, lattice))
    return known


def advance(store: "RunStore", index: dict) -> str | None:
    """One look at a refinement: queue its next level when every run so far has completed, end it
    when a run did not or the last level is done. Returns what it did (a line), or None."""
    from engine.experiments import validate_config
    from engine.jobs.queue import JobQueue
    from engine.store.manifest import LIVE_STATUSES
    from engine.system.locks import try_lock

    if not is_refinement(index) or index.get("ended"):
        return None
    lock = try_lock(lock_path(store, index["id"]))
    if lock is None:
        return None  # another process is advancing it
    with lock:
        index = read_refinement(store, index["id"]) or index  # what the lock's last holder wrote
        if index.get("ended"):
            return None
        plan, records = index["plan"], load_records(store, index)
        if not records or any(r.status in LIVE_STATUSES for r in records):
            return None  # level 0 not recorded yet (its starter holds the lock), or a level still going
        failed = [r for r in records if r.status != "completed"]
        lattice = lattice_of(plan)
        level = len(records)
        if failed:
            return _end(store, index, f"level {level - 1} run {failed[0].id} ended {failed[0].status}")
        if level > lattice.levels:
            return _end(store, index, "completed")
        nodes = next_nodes(known_outcomes(records, lattice), lattice, level)
        if not nodes:
            return _end(store, index, f"completed at level {level - 1}: no cell's corners disagree")
        try:
            config = validate_config(level_config(RunConfig.from_dict(plan["base"]), lattice, nodes))
        except ConfigError as exc:  # e.g. more points than a run may hold: it never could be, so it ends
            return _end(store, index, f"level {level} ({len(nodes)} points) cannot be a run: {exc}")
        [run_id] = JobQueue(store).submit_all([config], [_level_extra(plan, index["id"], level)])
        index["runs"] = [*index["runs"], run_id]
        write_index(store, index)
        return f"refinement {index['id']}: level {level} queued as {run_id} ({len(nodes)} points)"


def _end(store: "RunStore", index: dict, reason: str) -> str:
    index["ended"] = reason
    write_index(store, index)
    return f"refinement {index['id']}: {reason}"


def read_refinement(store: "RunStore", refinement_id: str) -> dict | None:
    from engine.bounds import SWEEP_INDEX_MAX_BYTES
    from engine.system.input_files import read_bounded_json

    try:
        data = read_bounded_json(index_path(store, refinement_id), SWEEP_INDEX_MAX_BYTES)
    except (OSError, ValueError):
        return None
    return data if is_refinement(data) and isinstance(data.get("runs"), list) else None


def advance_refinements(store: "RunStore", log=None, ended: set[str] | None = None) -> None:
    """advance() every unfinished refinement; one that cannot be read is logged and skipped.
    `ended`: the ids of refinements known to have ended (an ended one never goes on), kept by the
    caller across calls so that a long-lived scheduler does not read them again every look."""
    if not store.sweeps_dir.is_dir():
        return
    for path in sorted(store.sweeps_dir.glob(f"{PREFIX}*.json")):
        if ended is not None and path.stem in ended:
            continue
        index = read_refinement(store, path.stem)
        if index is not None and index.get("ended") and ended is not None:
            ended.add(path.stem)
        if index is None or index.get("ended"):
            continue
        try:
            line = advance(store, index)
        except (StoreError, ConfigError, OSError, ValueError, KeyError, TypeError) as exc:
            line = f"refinement {index.get('id')}: not advanced ({type(exc).__name__}: {exc})"
        if line and log is not None:
            log(line)


# --------------------------------------------------------------------------- what it found


def refinement_boundaries(store: "RunStore", index: dict):
    """(lattice, outcomes, boundaries) of a refinement from its completed runs; the boundaries of
    a ReLU refinement are held against the exact reference."""
    lattice = lattice_of(index["plan"])
    records = [r for r in load_records(store, index) if r.status == "completed"]
    known = known_outcomes(records, lattice)
    relu = index["plan"].get("activation") == "relu"
    return lattice, known, phase_boundaries(known, lattice, reference=relu)


def refinement_of(store: "RunStore", record) -> dict | None:
    """The refinement a run belongs to (its index), or None."""
    sweep = record.manifest.get("sweep")
    if not isinstance(sweep, dict) or not isinstance(sweep.get("id"), str):
        return None
    index = read_refinement(store, sweep["id"]) if sweep["id"].startswith(PREFIX) else None
    return index if index is not None and record.id in index["runs"] else None


def refinement_json(store: "RunStore", index: dict) -> dict:
    """What `show --json` adds to a run of a refinement: the refinement and its boundaries so far."""
    from engine.science.boundary import reference_error, reference_point_agreement

    lattice, known, boundaries = refinement_boundaries(store, index)
    out = {"refinement": {"id": index["id"], "coarse": lattice.coarse, "levels": lattice.levels,
                          "runs": index["runs"], "ended": index.get("ended"), "points": len(known),
                          "finest_cell_decades": {"density": lattice.decades(0), "relative_importance": lattice.decades(1)}},
           "boundary": [b.to_dict() for b in boundaries]}
    if index["plan"].get("activation") == "relu":
        out["refinement"]["reference"] = reference_error(boundaries)
        out["refinement"]["reference_points"] = reference_point_agreement(known, lattice)
    return out


def refinement_summary(store: "RunStore", index: dict) -> list[str]:
    """A few lines for `show`: the refinement, then each boundary with its uncertainty."""
    data = refinement_json(store, index)
    info = data["refinement"]
    lines = [f"refinement {info['id']}: {len(info['runs'])} of {info['levels'] + 1} levels, {info['points']} points "
             f"(coarse {info['coarse']}x{info['coarse']}; finest cell {info['finest_cell_decades']['density']:.4f} "
             f"decades of density){'' if not info['ended'] else '; ' + info['ended']}"]
    for boundary in data["boundary"]:
        points = boundary["points"]
        split = sum(1 for p in points if p["seed_shares"] and max(p["seed_shares"].values()) < 1)
        line = f"  boundary {boundary['phases'][0]}–{boundary['phases'][1]}: {len(points)} points, seeds split at {split}"
        if boundary["reference_mean_decades"] is not None:
            line += (f"; from the exact ReLU boundary {boundary['reference_mean_decades']:.4f} decades of density "
                     f"(mean), {boundary['reference_max_decades']:.4f} (max)")
        lines.append(line)
    points = info.get("reference_points")
    if points and points["points"]:
        band = (f"{points['bound_band_match']:.0%} of the {points['bound_band_points']} where the closed-form bound "
                "and the exact optimum disagree" if points["bound_band_points"] else
                "no point where the closed-form bound and the exact optimum disagree")
        lines.append(f"  in the exact ReLU phase: {points['match']:.0%} of its {points['points']} points; {band}")
    return lines


# --------------------------------------------------------------------------- used by reproduce

def same_base(plan: dict, base: RunConfig, coarse: int, levels: int) -> bool:
    """Whether a stored refinement's plan trains `base` (where it runs aside) at this coarse grid and depth."""
    ignore = ("device", "compile", "snapshots")
    try:
        stored = {k: v for k, v in plan["base"].items() if k not in ignore}
    except (KeyError, AttributeError):
        return False
    wanted = {k: v for k, v in json_ready(base.replace(densities=(1.0,), relative_importances=(1.0,))).items()
              if k not in ignore}
    return stored == wanted and plan.get("coarse") == coarse and plan.get("levels") == levels


def json_ready(config: RunConfig) -> dict:
    import json

    return json.loads(json.dumps(config.to_dict()))


def find_refinement(store: "RunStore", base: RunConfig, coarse: int, levels: int) -> dict | None:
    """The newest stored refinement of `base` that completed, else the newest still going; None."""
    if not store.sweeps_dir.is_dir():
        return None
    going = None
    for path in sorted(store.sweeps_dir.glob(f"{PREFIX}*.json"), reverse=True):
        index = read_refinement(store, path.stem)
        if index is None or not same_base(index["plan"], base, coarse, levels):
            continue
        ended = index.get("ended")
        if isinstance(ended, str) and ended.startswith("completed"):
            return index
        if not ended and going is None:
            going = index
    return going


# --------------------------------------------------------------------------- the app's view

VIEW_SIZE = 40  # the app draws a refinement on a grid this fine (or its lattice, if coarser)


def refinement_view(store: "RunStore", index: dict, size: int = VIEW_SIZE) -> dict:
    """A refinement as one phase diagram for a character grid: every cell of a size x size
    log grid takes the phase (and seed agreement) of the nearest point the refinement trained,
    and `found` lists (density, r) of every boundary point it found. Reads every level's arrays:
    call it off the app's event loop."""
    import numpy as np

    lattice, known, boundaries = refinement_boundaries(store, index)
    if not known:
        return {"densities": [], "importances": [], "phases": [], "agreement": [], "found": [], "points": 0}
    nodes = np.array(list(known), dtype=float)  # [N, 2] lattice indices
    ticks = np.unique(np.round(np.linspace(0, lattice.size, min(size, lattice.size + 1))))  # [G]
    ii, jj = np.meshgrid(ticks, ticks, indexing="ij")  # density-major, as the grid draws
    cells = np.stack([ii.ravel(), jj.ravel()], 1)  # [G*G, 2]
    nearest = np.concatenate([np.argmin(((chunk[:, None, :] - nodes[None, :, :]) ** 2).sum(-1), axis=1)
                              for chunk in np.array_split(cells, max(1, len(cells) // 200))])  # [G*G]
    outcomes = [known[tuple(int(v) for v in nodes[k])] for k in nearest]
    s, r = lattice.coordinates(ticks, ticks)
    from engine.science.phase import PHASES

    return {"densities": [float(x) for x in s], "importances": [float(x) for x in r],
            "phases": [o.phase for o in outcomes],
            "agreement": [float(o.shares[PHASES.index(o.phase)]) if o.shares else 1.0 for o in outcomes],
            "found": [(c.density, c.relative_importance) for b in boundaries for c in b.crossings],
            "points": len(known)}
