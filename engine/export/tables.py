"""A run's history as tables, for your own plots: the loss history in long form, the D* history
and the per-point metrics, with the config. `supertui export RUN --format csv|parquet|json` writes
them; `load_run_tables` hands them to Python as pandas DataFrames:

    from engine.export.tables import load_run_tables
    t = load_run_tables("20260101-…-phase-relu-1a2b3c4d")    # an id, a unique prefix, or a run folder
    t.loss.groupby("density").loss.last()                   # columns: step, instance, loss, grid values
    t.config["lr"]

The columns are plain numpy arrays first (`run_columns`), so CSV and JSON need neither pandas nor
pyarrow; parquet needs pyarrow (`pip install 'supertui[parquet]'`), DataFrames pandas
(`pip install 'supertui[tables]'`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.store.arrays import plain_float
from engine.store.runs import RunRecord

TABLE_FORMATS = ("csv", "parquet", "json")
TABLES = ("loss", "dstar", "points")
Columns = dict[str, np.ndarray]


def _plain(values: np.ndarray) -> np.ndarray:
    """float32 arrays as their shortest decimals in float64; anything else unchanged."""
    values = np.asarray(values)
    if values.dtype == np.float32:
        return np.array([plain_float(v) for v in values.ravel()], dtype=np.float64).reshape(values.shape)
    return values


def instance_columns(record: RunRecord) -> Columns:
    """Each instance's grid values: [K] columns `instance`, `point`, `seed`, `density`, and the
    experiment's own axis (`relative_importance` for phase, `pairs` for correlated)."""
    from engine.science.metrics import layout_name

    t = record.arrays.instances
    out: Columns = {"instance": np.arange(len(t)), "point": t.point.astype(np.int64), "seed": t.seed.astype(np.int64),
                    "density": _plain(t.density)}
    if t.relative_importance is not None:
        out["relative_importance"] = _plain(t.relative_importance)
    if t.pair_kind is not None:
        out["pairs"] = np.array([layout_name(row) for row in t.pair_kind], dtype=object)
    return out


def loss_columns(record: RunRecord) -> Columns:
    """The loss history in long form, one row per recorded step and instance (step-major)."""
    a = record.arrays
    steps, instances = a.loss_history.shape  # [T, K]
    grid = instance_columns(record)
    out: Columns = {"step": np.repeat(a.loss_steps.astype(np.int64), instances)}
    out["instance"] = np.tile(grid.pop("instance"), steps)
    out["loss"] = _plain(a.loss_history).ravel()  # [T*K]: each float32 value's shortest decimal
    out.update({name: np.tile(values, steps) for name, values in grid.items()})
    return out


def dstar_columns(record: RunRecord) -> Columns:
    """D* (dimensions per feature, of each point's lowest-loss seed) at each saved snapshot, long form."""
    from engine.science.convergence import run_dstar_history

    h = run_dstar_history(record)
    snaps, points = h.dstar.shape  # [S, P]
    return {"step": np.repeat(h.steps.astype(np.int64), points), "point": np.tile(np.arange(points), snaps),
            "density": np.tile(_plain(np.asarray(h.density, dtype=np.float32)), snaps),
            "dstar": h.dstar.astype(np.float64).ravel()}


def point_columns(record: RunRecord) -> Columns:
    """One row per grid point: its coordinates, lowest-loss seed (`winner`) and the experiment's metrics."""
    from engine.experiments import experiment_for
    from engine.science.metrics import point_rows

    a = record.arrays
    rows = point_rows(a.instances, a.W, a.final_loss, experiment_for(record.config).point_metrics)
    for row in rows:  # grid coordinates are float32 values widened: their shortest decimals
        for key in ("density", "relative_importance"):
            if isinstance(row.get(key), float):
                row[key] = plain_float(row[key])
    names = list(dict.fromkeys(k for row in rows for k in row))
    return {name: np.array([row.get(name) for row in rows],
                           dtype=object if any(isinstance(row.get(name), str) for row in rows) else np.float64
                           if any(isinstance(row.get(name), float) for row in rows) else np.int64)
            for name in names}


def run_columns(record: RunRecord) -> dict[str, Columns]:
    """Every table of a run: {"loss", "dstar", "points"} -> {column: [rows] array}."""
    return {"loss": loss_columns(record), "dstar": dstar_columns(record), "points": point_columns(record)}


def _cell(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None  # JSON has no NaN
    return value


def write_run_tables(record: RunRecord, out_dir: Path, fmt: str, force: bool = False) -> list[Path]:
    """Write a run's tables into out_dir as `<id>_<table>.csv|parquet` and `<id>_config.json`
    (or one `<id>.json` holding the config and every table, column-wise); returns the paths."""
    from engine.export import inside, refuse_existing
    from engine.system.files import atomic_write_bytes

    from engine.errors import StoreError

    if fmt not in TABLE_FORMATS:
        raise ConfigError("format", f"unknown table format {fmt!r} (accepted: {', '.join(TABLE_FORMATS)})")
    if not record.has_arrays:
        raise StoreError(f"run {record.id}: nothing to export (status {record.status}, no saved history yet)")
    tables = run_columns(record)
    config = record.config.to_dict()
    if fmt == "json":
        paths = {"all": inside(out_dir, f"{record.id}.json")}
    else:
        paths = {name: inside(out_dir, f"{record.id}_{name}.{fmt}") for name in TABLES}
        paths["config"] = inside(out_dir, f"{record.id}_config.json")
    refuse_existing(list(paths.values()), force)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_json = json.dumps({"run": record.id, "config": config}, indent=2).encode()
    if fmt == "json":
        body = {"run": record.id, "config": config,
                "tables": {name: {c: [_cell(v) for v in values] for c, values in cols.items()} for name, cols in tables.items()}}
        atomic_write_bytes(paths["all"], json.dumps(body).encode())
        return [paths["all"]]
    for name, cols in tables.items():
        atomic_write_bytes(paths[name], _csv_bytes(cols) if fmt == "csv" else _parquet_bytes(cols, config_json))
    atomic_write_bytes(paths["config"], config_json)
    return [paths[name] for name in (*TABLES, "config")]


def _csv_bytes(cols: Columns) -> bytes:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    for row in zip(*cols.values()):
        writer.writerow(["" if c is None else repr(float(c)) if isinstance(c, (float, np.floating)) else c
                         for c in (_cell(v) for v in row)])
    return buffer.getvalue().encode()


def _parquet_bytes(cols: Columns, config_json: bytes) -> bytes:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError("format", "parquet needs pyarrow: pip install 'supertui[parquet]' (csv and json need nothing)") from exc
    import io

    table = pa.table({name: (values.tolist() if values.dtype == object else values) for name, values in cols.items()})
    table = table.replace_schema_metadata({b"supertui.config": config_json})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@dataclass
class RunTables:
    """A run as pandas DataFrames (see the module docstring)."""

    run_id: str
    config: dict[str, Any]
    loss: Any  # pandas.DataFrame: step, instance, loss, point, seed, density[, relative_importance | pairs]
    dstar: Any  # pandas.DataFrame: step, point, density, dstar
    points: Any  # pandas.DataFrame: point, winner, seeds, density, ..., the experiment's metrics


def load_run_tables(run: str | Path | RunRecord, data_dir: str | Path | None = None) -> RunTables:
    """A saved run's tables as DataFrames. `run`: a RunRecord, a run folder, or an id (or unique
    prefix) in `data_dir` (default: SUPERTUI_DATA_DIR, else the user data directory)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("load_run_tables needs pandas: pip install 'supertui[tables]'") from exc
    record = _record(run, data_dir)
    tables = {name: pd.DataFrame(cols) for name, cols in run_columns(record).items()}
    return RunTables(record.id, record.config.to_dict(), **tables)


def _record(run: str | Path | RunRecord, data_dir: str | Path | None) -> RunRecord:
    from engine.store.runs import RunStore, default_data_dir

    if isinstance(run, RunRecord):
        return run
    folder = Path(run)
    if folder.is_dir() and (folder / "manifest.json").is_file():
        return RunStore(folder.parent.parent).load(folder.name)
    store = RunStore(Path(data_dir) if data_dir is not None else default_data_dir())
    return store.load(store.resolve(str(run)))
