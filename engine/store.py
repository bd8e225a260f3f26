"""The run store: one self-contained folder per run under the user data directory.

    <data dir>/runs/<id>/manifest.json   config, seeds, status, times, device, versions, summary
    <data dir>/runs/<id>/arrays.npz      W, b, losses, snapshots, the instance table

Folders can be copied between machines. Every file is written under a temporary name and
renamed into place, so a reader never sees half a file; arrays load with allow_pickle=False.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from engine.config import RunConfig
from engine.errors import ConfigError, StoreError
from engine.sweep import InstanceTable

DATA_DIR_ENV = "SUPERTUI_DATA_DIR"
FORMAT = "supertui-run"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ARRAYS = "arrays.npz"
STATUSES = ("running", "completed", "cancelled", "interrupted", "failed")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_STALE_SECONDS = 600  # a "running" run from another host with no heartbeat for this long is interrupted
SPARKLINE_POINTS = 32


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("supertui", appauthor=False))


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise ConfigError("run", f"invalid run id {run_id!r} (letters, digits, '.', '_' and '-', no '..')")
    return run_id


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


@dataclass
class RunArrays:
    W: np.ndarray  # [K, m, n]
    b: np.ndarray  # [K, n]
    final_loss: np.ndarray  # [K]
    loss_steps: np.ndarray  # [T]
    loss_history: np.ndarray  # [T, K]
    snapshot_steps: np.ndarray  # [S]
    snapshots: np.ndarray  # [S, K, m, n]
    diverged: np.ndarray  # [K] bool
    instances: InstanceTable
    # Saved since the shared evaluation stream; absent (None) in older runs.
    final_loss_se: np.ndarray | None = None  # [K] standard error of final_loss
    final_loss_gap_se: np.ndarray | None = None  # [K] paired standard error of (loss_k - its point's winner)

    _INSTANCE_KEYS = ("density", "importance", "seed", "point", "relative_importance", "partner", "pair_kind")
    _OPTIONAL_KEYS = ("final_loss_se", "final_loss_gap_se")

    def to_npz(self) -> dict[str, np.ndarray]:
        out = {
            k: getattr(self, k)
            for k in ("W", "b", "final_loss", "loss_steps", "loss_history", "snapshot_steps", "snapshots", "diverged")
        }
        for key in self._OPTIONAL_KEYS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in self._INSTANCE_KEYS:
            value = getattr(self.instances, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> "RunArrays":
        instances = InstanceTable(
            density=data["density"],
            importance=data["importance"],
            seed=data["seed"],
            point=data["point"],
            relative_importance=data.get("relative_importance"),
            partner=data.get("partner"),
            pair_kind=data.get("pair_kind"),
        )
        fields = {k: data[k] for k in ("W", "b", "final_loss", "loss_steps", "loss_history", "snapshot_steps", "snapshots", "diverged")}
        optional = {k: data.get(k) for k in cls._OPTIONAL_KEYS}
        arrays = cls(**fields, instances=instances, **optional)
        arrays._check()
        return arrays

    def _check(self) -> None:
        K, m, n = self.W.shape
        expected = {
            "b": (K, n),
            "final_loss": (K,),
            "diverged": (K,),
            "density": (K,),
            "importance": (K, n),
            "seed": (K,),
            "point": (K,),
        }
        optional = {"final_loss_se": (K,), "final_loss_gap_se": (K,), "relative_importance": (K,), "partner": (K, n),
                    "pair_kind": (K, n)}
        for name, shape in optional.items():
            value = getattr(self, name) if hasattr(self, name) else getattr(self.instances, name)
            if value is not None:
                expected[name] = shape
        for name, shape in expected.items():
            value = getattr(self, name) if hasattr(self, name) else getattr(self.instances, name)
            if value.shape != shape:
                raise StoreError(f"{ARRAYS}: {name} has shape {value.shape}, expected {shape}")
        for name, high in (("partner", n), ("pair_kind", 3)):  # indices: read from disk, so checked
            value = getattr(self.instances, name)
            if value is not None and (value.dtype.kind not in "iu" or value.min(initial=0) < 0 or value.max(initial=0) >= high):
                raise StoreError(f"{ARRAYS}: {name} holds values outside [0, {high})")
        if self.loss_history.shape != (len(self.loss_steps), K):
            raise StoreError(f"{ARRAYS}: loss_history has shape {self.loss_history.shape}, expected ({len(self.loss_steps)}, {K})")
        if self.snapshots.shape != (len(self.snapshot_steps), K, m, n):
            raise StoreError(f"{ARRAYS}: snapshots has shape {self.snapshots.shape}")


@dataclass
class RunRecord:
    """A saved run: its manifest is read eagerly (cheap), its arrays on first use."""

    id: str
    path: Path
    manifest: dict[str, Any]
    config: RunConfig

    @property
    def preset(self) -> str:
        return self.config.preset

    @property
    def activation(self) -> str:
        return self.config.activation

    @property
    def created(self) -> str:
        return self.manifest.get("created", "")

    @property
    def tags(self) -> list[str]:
        return list(self.manifest.get("tags", []))

    @property
    def note(self) -> str:
        return self.manifest.get("note", "")

    @property
    def status(self) -> str:
        status = self.manifest.get("status", "interrupted")
        if status == "running" and not _writer_alive(self.manifest):
            return "interrupted"
        return status

    @property
    def summary(self) -> dict[str, Any]:
        return self.manifest.get("summary", {})

    @property
    def final_loss(self) -> float | None:
        return self.summary.get("final_loss")

    @property
    def has_arrays(self) -> bool:
        return (self.path / ARRAYS).exists()

    @cached_property
    def arrays(self) -> RunArrays:
        path = self.path / ARRAYS
        if not path.exists():
            raise StoreError(f"run {self.id}: no {ARRAYS} yet (the run saved nothing before it stopped)")
        try:
            with np.load(path, allow_pickle=False) as data:
                return RunArrays.from_npz({k: data[k] for k in data.files})
        except StoreError as exc:
            raise StoreError(f"run {self.id}: {exc}") from None
        except Exception as exc:
            raise StoreError(f"run {self.id}: {ARRAYS} is unreadable ({type(exc).__name__}: {exc})") from None


def _writer_alive(manifest: dict[str, Any]) -> bool:
    if manifest.get("host") != socket.gethostname():
        updated = manifest.get("updated") or manifest.get("created")
        try:
            age = (_dt.datetime.now(_dt.timezone.utc) - _dt.datetime.fromisoformat(updated)).total_seconds()
        except (TypeError, ValueError):
            return False
        return age < _STALE_SECONDS
    pid = manifest.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _versions() -> dict[str, str]:
    import torch

    from engine import __version__

    return {"supertui": __version__, "torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0]}


def make_run_id(config: RunConfig) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config.preset}-{config.activation}-{secrets.token_hex(2)}"


class RunStore:
    def __init__(self, data_dir: Path | str | None = None):
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.runs_dir = self.data_dir / "runs"

    def __repr__(self) -> str:
        return f"RunStore({str(self.data_dir)!r})"

    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / validate_run_id(run_id)

    def load(self, run_id: str) -> RunRecord:
        path = self.run_path(run_id)
        if not path.is_dir():
            raise StoreError(f"run: no run {run_id!r} in {self.runs_dir}")
        return self._read(path)

    def _read(self, path: Path) -> RunRecord:
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except FileNotFoundError:
            raise StoreError(f"{path.name}: not a supertui run (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path.name}: {MANIFEST} is corrupt ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StoreError(f"{path.name}: {MANIFEST} is not a supertui run manifest")
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise StoreError(f"{path.name}: saved by a newer supertui (format {manifest.get('format_version')})")
        try:
            config = RunConfig.from_dict(manifest["config"])
        except (KeyError, TypeError, ConfigError) as exc:
            raise StoreError(f"{path.name}: {MANIFEST} has an invalid config ({exc})") from None
        return RunRecord(id=path.name, path=path, manifest=manifest, config=config)

    def iter_runs(self, on_error: Callable[[Path, str], None] | None = None) -> Iterator[RunRecord]:
        """Every readable run, newest first; unreadable folders go to on_error and are skipped."""
        if not self.runs_dir.is_dir():
            return
        for path in sorted(self.runs_dir.iterdir(), key=lambda p: p.name, reverse=True):
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                yield self._read(path)
            except StoreError as exc:
                if on_error:
                    on_error(path, str(exc))

    def list_runs(self, on_error: Callable[[Path, str], None] | None = None) -> list[RunRecord]:
        return list(self.iter_runs(on_error))

    def delete(self, run_id: str) -> None:
        path = self.run_path(run_id)
        if not path.is_dir():
            raise StoreError(f"run: no run {run_id!r} in {self.runs_dir}")
        # Rename first, so a half-deleted folder never looks like a run.
        trash = path.with_name(f".deleting-{run_id}-{secrets.token_hex(2)}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def update_meta(self, run_id: str, *, tags: list[str] | None = None, note: str | None = None) -> RunRecord:
        record = self.load(run_id)
        manifest = dict(record.manifest)
        if tags is not None:
            manifest["tags"] = sorted({t.strip() for t in tags if t.strip()})
        if note is not None:
            manifest["note"] = note
        atomic_write_json(record.path / MANIFEST, manifest)
        return self._read(record.path)

    def create(self, config: RunConfig) -> "RunWriter":
        return RunWriter(self, config)


class RunWriter:
    """Writes one run as it trains: manifest first (status running), then checkpoints, then the end."""

    def __init__(self, store: RunStore, config: RunConfig):
        from engine.sweep import instance_table

        self.store = store
        self.config = config
        self.id = make_run_id(config)
        self.path = store.runs_dir / self.id
        self.instances = instance_table(config)
        now = _now()
        self.manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "id": self.id,
            "config": config.to_dict(),
            "seeds": sorted(set(int(s) for s in self.instances.seed)),
            "instances": len(self.instances),
            "status": "running",
            "created": now,
            "updated": now,
            "finished": None,
            "device": None,
            "compiled": None,
            "steps_done": 0,
            "elapsed_seconds": 0.0,
            "versions": _versions(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "tags": [],
            "note": "",
            "warnings": [],
            "error": None,
            "summary": {},
        }
        store.runs_dir.mkdir(parents=True, exist_ok=True)
        staging = store.runs_dir / f".creating-{self.id}"
        staging.mkdir()
        atomic_write_json(staging / MANIFEST, self.manifest)
        os.replace(staging, self.path)  # the run appears whole, with its manifest

    def _write(self, result, status: str) -> None:
        arrays = RunArrays(
            W=result.W,
            b=result.b,
            final_loss=result.final_loss,
            loss_steps=result.loss_steps,
            loss_history=result.loss_history,
            snapshot_steps=result.snapshot_steps,
            snapshots=result.snapshots,
            diverged=result.diverged,
            instances=self.instances,
            final_loss_se=getattr(result, "final_loss_se", None),
            final_loss_gap_se=getattr(result, "final_loss_gap_se", None),
        )
        atomic_write_npz(self.path / ARRAYS, arrays.to_npz())
        finite = result.final_loss[np.isfinite(result.final_loss)]
        mean_curve = _mean_finite(result.loss_history)
        summary = {
            "final_loss": float(finite.mean()) if finite.size else None,
            "best_loss": float(finite.min()) if finite.size else None,
            "diverged": int(result.diverged.sum()),
            "loss_sparkline": _downsample(mean_curve, SPARKLINE_POINTS),
        }
        if not finite.size and len(mean_curve):
            summary["final_loss"] = mean_curve[-1]
        self.manifest.update(
            status=status,
            updated=_now(),
            device=result.device,
            compiled=result.compiled,
            steps_done=int(result.steps_done),
            elapsed_seconds=round(float(result.elapsed), 3),
            warnings=list(result.warnings),
            summary=summary,
        )
        if status != "running":
            self.manifest["finished"] = _now()
        atomic_write_json(self.path / MANIFEST, self.manifest)

    def checkpoint(self, result) -> None:
        self._write(result, "running")

    def finish(self, result) -> None:
        self._write(result, result.status)

    def fail(self, message: str) -> None:
        self.manifest.update(status="failed", error=message, updated=_now(), finished=_now())
        atomic_write_json(self.path / MANIFEST, self.manifest)


def _mean_finite(history: np.ndarray) -> list[float]:
    rows = []
    for row in np.asarray(history, dtype=np.float64):
        finite = row[np.isfinite(row)]
        if finite.size:
            rows.append(float(finite.mean()))
    return rows


def _downsample(values: list[float], points: int) -> list[float]:
    if len(values) <= points:
        return [float(v) for v in values]
    idx = np.linspace(0, len(values) - 1, points).round().astype(int)
    return [float(values[i]) for i in idx]
