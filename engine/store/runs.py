"""The run store: one self-contained folder per run under the data directory, and the queue.

    <data dir>/runs/<id>/manifest.json   config, seeds, status, times, device, versions, summary
    <data dir>/runs/<id>/arrays.npz      W, b, losses, snapshots, the instance table
    <data dir>/runs/<id>/live.npz        while training: the latest step, losses and W (engine.store.live)
    <data dir>/runs/<id>/history.bin     while training: the loss history, appended row by row
    <data dir>/runs/<id>/cancel          a request to stop, left by `cancel` for the worker
    <data dir>/locks/<id>                held (flock) by the one process that trains the run
    <data dir>/queue/<ns>-<id>           submitted runs waiting for a device, oldest first

A run is born `queued` (submit), becomes `running` when a worker claims it under its lock, and
ends `completed`, `cancelled` or `failed`. A `running` run whose lock nobody holds lost its
worker (SIGKILL, power cut) and reads as `interrupted`. Folders can be copied between machines.
Every file is written under a temporary name and renamed into place, so a reader never sees half
a file; arrays load with allow_pickle=False.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from engine.bounds import RUN_ID_MAX_CHARS, SWEEP_INDEX_MAX_BYTES
from engine.config import RunConfig
from engine.errors import ConfigError, StoreError
from engine.system.files import (  # noqa: F401 (atomic writes are re-exported)
    atomic_write_bytes, atomic_write_json, atomic_write_npz, check_writable_folder, describe_os_error, load_npz,
)
from engine.system.input_files import InputFileError, read_bounded_json
from engine.system.interrupts import sigint_deferred
from engine.system.locks import HeldLock, is_held, try_lock
from engine.store.index import RunIndex, RunListing
from engine.store.names import (LISTED_CONFIG_FIELDS, default_run_name, listed_config,  # noqa: F401 (re-exported)
                                validate_run_name, valid_name_or_default)
from engine.store.manifest import (  # noqa: F401 (re-exported)
    FORMAT, FORMAT_VERSION, LIVE_STATUSES, MANIFEST, STATUSES, check_meta, clip_text_fields, manifest_bytes,
    read_ended_manifest, read_manifest,
)

if TYPE_CHECKING:  # numpy, for the commands that load or save arrays only
    from engine.store.arrays import RunArrays

DATA_DIR_ENV = "SUPERTUI_DATA_DIR"
ARRAYS = "arrays.npz"  # engine.store.arrays reads and writes it
CANCEL_REQUEST = "cancel"
_RUN_ID = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{RUN_ID_MAX_CHARS - 1}}}$")
CLAIM_ATTEMPTS = 50  # readers probe run locks for a moment; a claim retries past them


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("supertui", appauthor=False))


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        shown = repr(run_id) if len(repr(run_id)) <= 80 else f"{repr(run_id)[:60]}… ({len(str(run_id)):,} characters)"
        raise ConfigError("run", f"invalid run id {shown} (at most {RUN_ID_MAX_CHARS} letters, digits, '.', '_' "
                                 f"and '-', no '..')")
    return run_id


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")



@dataclass
class RunRecord:
    """A saved run: its manifest is read eagerly (cheap), its arrays on first use."""

    id: str
    path: Path
    manifest: dict[str, Any]
    config: RunConfig
    lock_path: Path | None = None

    @property
    def preset(self) -> str:
        return self.config.preset

    @property
    def activation(self) -> str:
        return self.config.activation

    @property
    def created(self) -> str:
        return self.manifest.get("created") or ""

    @property
    def tags(self) -> list[str]:
        return list(self.manifest.get("tags", []))

    @property
    def note(self) -> str:
        return self.manifest.get("note", "")

    @property
    def name(self) -> str:
        """The run's short name (`phase-relu-40x40`; editable); older runs get their default."""
        return valid_name_or_default(self.manifest.get("name"), self.config)

    @property
    def device(self) -> str | None:
        return self.manifest.get("device")

    @property
    def config_fields(self) -> dict[str, Any]:
        return listed_config(self.config)

    @property
    def host(self) -> str | None:
        """The machine that trains or trained the run (None while it waits in the queue)."""
        return self.manifest.get("host")

    @property
    def executor(self) -> str:
        """What ran it: "local" (a worker of this data directory's scheduler) or "ray"."""
        executor = self.manifest.get("executor")
        kind = executor.get("kind") if isinstance(executor, dict) else None
        return kind if isinstance(kind, str) and kind else "local"

    @property
    def saved_status(self) -> str:
        return self.manifest.get("status", "interrupted")

    @property
    def status(self) -> str:
        status = self.saved_status
        if status == "running" and not self.worker_alive:
            ended = read_ended_manifest(self.path)  # it may have ended since we read it
            if ended is None:
                return "interrupted"
            self.manifest = ended[0]
            status = self.saved_status
        return status

    @property
    def worker_alive(self) -> bool:
        """A process holds this run's lock: it is training (or about to)."""
        return self.lock_path is not None and is_held(self.lock_path)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def summary(self) -> dict[str, Any]:
        return self.manifest.get("summary") or {}

    @property
    def final_loss(self) -> float | None:
        return self.summary.get("final_loss")

    @property
    def error(self) -> str | None:
        return self.manifest.get("error")

    @property
    def has_arrays(self) -> bool:
        return (self.path / ARRAYS).exists()

    @cached_property
    def arrays(self) -> "RunArrays":
        from engine.store.arrays import RunArrays, array_limits, check_matches_manifest

        path = self.path / ARRAYS
        if not path.exists():
            raise StoreError(f"run {self.id}: no {ARRAYS} yet (the run saved nothing before it stopped)")
        try:
            from engine.experiments import instance_table  # the registry loads numpy: only where a run is read
            table = instance_table(self.config)
            arrays = RunArrays.from_npz(load_npz(path, array_limits(self.config, len(table))))
            check_matches_manifest(arrays, self.config, table)
            return arrays
        except InputFileError as exc:
            raise StoreError(f"run {self.id}: {ARRAYS} {exc.reason}") from None
        except StoreError as exc:
            raise StoreError(f"run {self.id}: {ARRAYS}: {exc}") from None
        except Exception as exc:
            raise StoreError(f"run {self.id}: {ARRAYS} is unreadable ({type(exc).__name__}: {exc})") from None


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def base_versions() -> dict[str, str]:
    """Versions known without importing torch; the worker that trains adds torch's."""
    from engine import __version__

    import numpy

    return {"supertui": __version__, "numpy": numpy.__version__, "python": sys.version.split()[0]}


def make_run_id(config: RunConfig) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config.preset}-{config.activation}-{secrets.token_hex(4)}"


class RunStore:
    def __init__(self, data_dir: Path | str | None = None):
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        self.runs_dir = self.data_dir / "runs"
        self.locks_dir = self.data_dir / "locks"
        self.queue_dir = self.data_dir / "queue"

    def __repr__(self) -> str:
        return f"RunStore({str(self.data_dir)!r})"

    def check_writable(self) -> None:
        """Before queueing or training: runs, their locks and the queue can be written here
        (ConfigError naming data-dir otherwise: a file, /dev/null, read-only, no permission)."""
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ConfigError("data-dir", f"{self.data_dir} is not a folder")
        for folder in (self.runs_dir, self.locks_dir, self.queue_dir):
            check_writable_folder(folder, "data-dir")

    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / validate_run_id(run_id)

    def lock_path(self, run_id: str) -> Path:
        return self.locks_dir / validate_run_id(run_id)

    # Reading --------------------------------------------------------------------------------
    def load(self, run_id: str) -> RunRecord:
        path = self.run_path(run_id)
        if not path.is_dir():
            raise StoreError(f"run: no run {run_id!r} in {self.runs_dir}")
        return self._read(path)

    def resolve(self, token: str) -> str:
        """The run id that `token` names: the id itself, or a prefix only one run starts with."""
        token = str(token).strip()
        if token and _RUN_ID.match(token) and ".." not in token and (self.runs_dir / token).is_dir():
            return token
        validate_run_id(token)
        named = self.ids_named(token)
        if len(named) == 1:
            return named[0]
        if named:
            raise StoreError(f"run: {len(named)} runs are named {token!r} ({', '.join(named[:5])}); give the id")
        names = [p.name for p in self.runs_dir.iterdir() if not p.name.startswith(".")] if self.runs_dir.is_dir() else []
        matches = sorted(name for name in names if name.startswith(token))
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(matches[:5]) + (f", … ({len(matches)} in all)" if len(matches) > 5 else "")
            raise StoreError(f"run: {token!r} is the start of {len(matches)} runs: {shown}; type more of the id")
        import difflib

        close = difflib.get_close_matches(token, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see `supertui runs`)"
        raise StoreError(f"run: no run {token!r} in {self.runs_dir}{hint}")

    def ids_named(self, name: str) -> list[str]:
        """Ids of the runs with this short name (usually one: new runs get a free name)."""
        return [row.id for row in self.listing() if row.name == name]

    def free_name(self, name: str) -> str:
        """`name`, or `name-2`, `name-3`, … : the first that no run has yet."""
        taken = {row.name for row in self.listing()}
        if name not in taken:
            return name
        return next(f"{name}-{i}" for i in range(2, len(taken) + 3) if f"{name}-{i}" not in taken)

    def _read(self, path: Path) -> RunRecord:
        manifest, config = read_manifest(path)  # every field the code reads is checked (engine.store.manifest)
        return RunRecord(id=path.name, path=path, manifest=manifest, config=config, lock_path=self.locks_dir / path.name)

    def run_folder_names(self) -> list[str]:
        """Every entry of runs/ but hidden ones (staging, deleting, the index), newest id first.
        An unreadable runs folder is a StoreError (one line), never a traceback."""
        if not self.runs_dir.is_dir():
            if self.runs_dir.exists():
                raise StoreError(f"runs: {self.runs_dir} is not a folder")
            return []
        try:
            with os.scandir(self.runs_dir) as entries:
                names = [e.name for e in entries if not e.name.startswith(".") and _is_dir(e)]
        except PermissionError:
            raise StoreError(f"runs: {self.runs_dir} is unreadable (permission denied)") from None
        except OSError as exc:
            raise StoreError(f"runs: {self.runs_dir} is unreadable ({exc.strerror or exc})") from None
        return sorted(names, reverse=True)

    @staticmethod
    def folder_name_problem(name: str) -> str | None:
        """Why a folder under runs/ cannot be a run id (a copy renamed `zz run (copy)`), or None."""
        if _RUN_ID.match(name) and ".." not in name:
            return None
        return (f"{name}: the folder name is not a run id (letters, digits, '.', '_' and '-', no '..'); "
                f"rename it to use it")

    def iter_runs(self, on_error: Callable[[Path, str], None] | None = None) -> Iterator[RunRecord]:
        """Every readable run, newest first; other folders go to on_error (with a one-line
        reason) and are skipped, so one bad folder never hides the rest."""
        for name in self.run_folder_names():
            path = self.runs_dir / name
            problem = self.folder_name_problem(name)
            if problem:
                if on_error:
                    on_error(path, problem)
                continue
            try:
                yield self._read(path)
            except StoreError as exc:
                if on_error:
                    on_error(path, str(exc))

    def list_runs(self, on_error: Callable[[Path, str], None] | None = None) -> list[RunRecord]:
        return list(self.iter_runs(on_error))

    def listing(self, on_error: Callable[[Path, str], None] | None = None) -> list[RunListing]:
        """Every readable run's listing fields (engine.store.index), newest first: a stat per run
        once the data directory's index is warm. `load(listing.id)` gives the whole run."""
        return RunIndex(self).listing(on_error)

    def live_runs(self, on_error: Callable[[Path, str], None] | None = None) -> list[RunRecord]:
        """Training runs, then queued runs in queue order: found through the lock and queue
        folders, so this stays cheap however many runs the store keeps. A run folder that cannot
        be read goes to on_error and is skipped."""
        seen: set[str] = set()
        out: list[RunRecord] = []
        candidates = []
        if self.locks_dir.is_dir():
            candidates += sorted(p.name for p in self.locks_dir.iterdir() if not p.name.startswith("."))
        candidates += [entry.split("-", 1)[1] for entry in self.queue_entries()]
        for run_id in candidates:
            if run_id in seen:
                continue
            seen.add(run_id)
            try:
                record = self.load(run_id)
            except ConfigError:
                continue  # a stray file in locks/ or queue/ that names no run
            except StoreError as exc:
                if on_error and (self.runs_dir / run_id).is_dir():
                    on_error(self.runs_dir / run_id, str(exc))
                continue
            if record.is_live:
                out.append(record)
        return out

    # Editing --------------------------------------------------------------------------------
    def delete(self, run_id: str) -> None:
        path = self.run_path(run_id)
        if not path.is_dir():
            raise StoreError(f"run: no run {run_id!r} in {self.runs_dir}")
        # Holding the run's lock keeps any worker from claiming it while it goes.
        lock = try_lock(self.lock_path(run_id))
        if lock is None:
            raise StoreError(f"run: {run_id} is training; cancel it first (supertui cancel {run_id})")
        try:
            # Rename first, so a half-deleted folder never looks like a run.
            trash = path.with_name(f".deleting-{run_id}-{secrets.token_hex(4)}")
            os.replace(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            self._remove_queue_entries(run_id)
        finally:
            lock.release(unlink=True)

    def update_meta(self, run_id: str, *, tags: list[str] | None = None, note: str | None = None,
                    name: str | None = None) -> RunRecord:
        if tags is not None:
            tags = sorted({t.strip() for t in tags if t.strip()})
        check_meta(tags, note)  # the bounds it is read with: a note too long to read back is never saved
        record = self.load(run_id)
        manifest = dict(record.manifest)
        if name is not None and name != record.name:
            validate_run_name(name)
            if any(other != run_id for other in self.ids_named(name)):
                raise ConfigError("name", f"another run is already named {name!r}")
            manifest["name"] = name
        if tags is not None:
            manifest["tags"] = tags
        if note is not None:
            manifest["note"] = note
        atomic_write_bytes(record.path / MANIFEST, manifest_bytes(manifest, run_id), make_parents=False)
        return self._read(record.path)

    # Sweeps ---------------------------------------------------------------------------------
    @property
    def sweeps_dir(self) -> Path:
        return self.data_dir / "sweeps"

    def record_sweep(self, sweep_id: str, plan: dict[str, Any], run_ids: list[str]) -> None:
        """The sweep's index: its plan and its runs, so `sweeps` lists it without reading every run."""
        validate_run_id(sweep_id)
        atomic_write_json(self.sweeps_dir / f"{sweep_id}.json",
                          {"id": sweep_id, "created": now_iso(), "plan": plan, "runs": list(run_ids)})

    def list_sweeps(self) -> list[dict[str, Any]]:
        """Every readable sweep index, newest first (a corrupt one is skipped)."""
        out = []
        if not self.sweeps_dir.is_dir():
            return out
        for path in sorted(self.sweeps_dir.glob("*.json"), reverse=True):
            try:
                data = read_bounded_json(path, SWEEP_INDEX_MAX_BYTES)  # a FIFO or /dev/zero: skipped, never a hang
            except (OSError, ValueError):  # InputFileError is a ValueError
                continue
            runs = data.get("runs") if isinstance(data, dict) else None
            if isinstance(runs, list) and all(isinstance(r, str) for r in runs) and isinstance(data.get("id"), str):
                out.append(data)
        return out

    def load_sweep(self, token: str) -> dict[str, Any]:
        """A sweep by id or unique prefix."""
        sweeps = self.list_sweeps()
        exact = [s for s in sweeps if s["id"] == token]
        matches = exact or [s for s in sweeps if s["id"].startswith(str(token))]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise StoreError(f"sweep: {token!r} is the start of {len(matches)} sweeps; type more of the id")
        shown = repr(token) if len(repr(token)) <= 80 else f"{repr(token)[:60]}… ({len(str(token)):,} characters)"
        raise StoreError(f"sweep: no sweep {shown} in {self.sweeps_dir} (see `supertui sweeps`)")

    # The queue ------------------------------------------------------------------------------
    def submit(self, config: RunConfig, extra: dict[str, Any] | None = None) -> RunRecord:
        """Write a run as `queued` and add it to the queue; a scheduler starts it when a device is
        free (engine.jobs.scheduler). The run id exists from this moment."""
        from engine.experiments import validate_config  # the registry loads numpy: only where a run is read
        validate_config(config)
        run_id, path = self._new_folder(config, "queued", extra)
        atomic_write_bytes(self.queue_dir / f"{time.time_ns():020d}-{run_id}", b"")
        return self._read(path)

    def queue_entries(self) -> list[str]:
        """Queue entry names (`<ns>-<run id>`), oldest first."""
        if not self.queue_dir.is_dir():
            return []
        return sorted(p.name for p in self.queue_dir.iterdir() if not p.name.startswith(".") and "-" in p.name)

    def _remove_queue_entries(self, run_id: str) -> None:
        for entry in self.queue_entries():
            if entry.split("-", 1)[1] == run_id:
                (self.queue_dir / entry).unlink(missing_ok=True)

    def recover_queue(self) -> int:
        """Queue every `queued` run that has no queue entry (a submitter killed between the two
        writes). Reads every manifest: the scheduler does it once when it starts."""
        queued = {entry.split("-", 1)[1] for entry in self.queue_entries()}
        added = 0
        for record in self.iter_runs():
            if record.saved_status == "queued" and record.id not in queued:
                atomic_write_bytes(self.queue_dir / f"{time.time_ns():020d}-{record.id}", b"")
                added += 1
        return added

    def clean_stale(self, older_than: float) -> None:
        """Remove what crashed processes left: staging and half-deleted folders, and the lock
        files of runs that are over (never a queued run's: a worker may be claiming it)."""
        cutoff = time.time() - older_than
        if self.runs_dir.is_dir():
            for path in self.runs_dir.iterdir():
                if path.name.startswith((".creating-", ".deleting-")) and path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)
        if self.locks_dir.is_dir():
            for path in self.locks_dir.iterdir():
                try:
                    status = self.load(path.name).saved_status
                except (StoreError, ConfigError):
                    status = None
                if status == "queued":
                    continue
                lock = try_lock(path)
                if lock is not None:
                    lock.release(unlink=True)

    def fail_queued(self, run_id: str, message: str) -> bool:
        """Mark a queued run failed (it could not be started); False if it was not queued."""
        lock = try_lock(self.lock_path(run_id))
        if lock is None:
            return False
        try:
            record = self.load(run_id)
            if record.saved_status != "queued":
                return False
            manifest = dict(record.manifest, status="failed", error=message, finished=now_iso(), updated=now_iso())
            atomic_write_json(record.path / MANIFEST, manifest, make_parents=False)
            self._remove_queue_entries(run_id)
            return True
        finally:
            lock.release(unlink=True)

    def claim(self, run_id: str) -> "RunWriter | None":
        """Take a queued run for training: its lock, then status `running`. None when another
        process holds it or it is no longer queued (cancelled, deleted, already trained)."""
        lock = None
        for _ in range(CLAIM_ATTEMPTS):
            lock = try_lock(self.lock_path(run_id))
            if lock is not None:
                break
            time.sleep(0.01)
        if lock is None:
            return None
        try:
            record = self.load(run_id)
        except (StoreError, ConfigError):
            lock.release(unlink=True)
            self._remove_queue_entries(run_id)
            return None
        if record.saved_status != "queued":
            lock.release(unlink=True)
            self._remove_queue_entries(run_id)
            return None
        self._remove_queue_entries(run_id)
        return RunWriter(self, record, lock)

    def create(self, config: RunConfig, extra: dict[str, Any] | None = None) -> "RunWriter":
        """A run that trains in this very process (tests, benchmarks, `run_experiment`): it is
        born `running` with its lock already held, so it is never seen as interrupted."""
        from engine.experiments import validate_config  # the registry loads numpy: only where a run is read
        validate_config(config)
        run_id = make_run_id(config)
        lock = try_lock(self.lock_path(run_id))
        if lock is None:  # pragma: no cover - 32 random bits collided with a live run
            return self.create(config, extra)
        _, path = self._new_folder(config, "running", extra, run_id=run_id)
        return RunWriter(self, self._read(path), lock)

    def request_cancel(self, run_id: str) -> str:
        """Stop a run: a queued one is cancelled at once ("cancelled"); a training one is asked to
        stop through a file its worker polls ("requested"); a finished one is left ("finished")."""
        record = self.load(run_id)
        lock = try_lock(self.lock_path(run_id))
        if lock is None:
            atomic_write_bytes(record.path / CANCEL_REQUEST, b"", make_parents=False)
            return "requested"
        try:
            record = self.load(run_id)
            if record.saved_status != "queued":
                return "finished"
            manifest = dict(record.manifest, status="cancelled", finished=now_iso(), updated=now_iso())
            atomic_write_json(record.path / MANIFEST, manifest)
            self._remove_queue_entries(run_id)
            return "cancelled"
        finally:
            lock.release(unlink=True)

    def _new_folder(self, config: RunConfig, status: str, extra: dict[str, Any] | None,
                    run_id: str | None = None) -> tuple[str, Path]:
        """Create the run's folder whole: manifest written in a hidden staging folder, then one
        rename. A clash of ids (or a stale staging folder) never overwrites anything."""
        from engine.experiments import instance_table

        self.runs_dir.mkdir(parents=True, exist_ok=True)
        name = (extra or {}).get("name") or self.free_name(default_run_name(config, (extra or {}).get("sweep")))
        for _ in range(20):
            run_id = run_id or make_run_id(config)
            instances = instance_table(config)
            now = now_iso()
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "id": run_id,
                "name": name,
                "config": config.to_dict(),
                "seeds": sorted(set(int(s) for s in instances.seed)),
                "instances": len(instances),
                "status": status,
                "created": now,
                "updated": now,
                "started": now if status == "running" else None,
                "finished": None,
                "device": None,
                "compiled": None,
                "steps_done": 0,
                "elapsed_seconds": 0.0,
                "versions": base_versions(),
                "host": socket.gethostname() if status == "running" else None,
                "pid": os.getpid() if status == "running" else None,
                "tags": [],
                "note": "",
                "warnings": [],
                "error": None,
                "summary": {},
                **(extra or {}),
            }
            staging = self.runs_dir / f".creating-{run_id}"
            final = self.runs_dir / run_id
            try:
                staging.mkdir()
            except FileExistsError:
                run_id = None
                continue
            try:
                atomic_write_json(staging / MANIFEST, manifest)
                if final.exists():
                    raise FileExistsError(final)
                os.rename(staging, final)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if final.exists():
                    run_id = None
                    continue
                raise
            return run_id, final
        raise StoreError(f"runs: could not create a new run folder in {self.runs_dir}")


class RunWriter:
    """Writes one run as it trains, holding its lock: status running, checkpoints, then the end.

    Never recreates the folder: if the run was deleted under it, writing fails instead."""

    def __init__(self, store: RunStore, record: RunRecord, lock: HeldLock):
        from engine.experiments import instance_table

        self.store = store
        self.config = record.config
        self.id = record.id
        self.path = record.path
        self.lock = lock
        self.instances = instance_table(self.config)
        self.manifest: dict[str, Any] = dict(record.manifest)
        self.ended = False  # a final status was written (or tried): later saves are ignored
        self.checkpoint_error: str | None = None  # the last checkpoint the disk refused

    def start(self, **fields: Any) -> None:
        """Mark the run running in this process (device, versions, ...)."""
        versions = dict(self.manifest.get("versions") or {})
        versions.update(fields.pop("versions", {}))
        self.manifest.update({"status": "running", "started": now_iso(), "host": socket.gethostname(),
                              "pid": os.getpid(), **fields, "versions": versions})
        self._save_manifest()

    def cancel_requested(self) -> bool:
        return (self.path / CANCEL_REQUEST).exists()

    def _save_manifest(self) -> None:
        # Tags and notes may have been edited while the run trained: keep the user's.
        try:
            on_disk, _ = read_manifest(self.path)
            self.manifest["tags"], self.manifest["note"] = on_disk.get("tags", []), on_disk.get("note", "")
        except StoreError:
            pass  # unreadable now: this writer's copy is the truth
        self.manifest["updated"] = now_iso()
        if not self.path.is_dir():
            raise StoreError(f"run {self.id}: its folder was removed while it trained")
        self.manifest = clip_text_fields(self.manifest)  # within the bounds it is read with
        atomic_write_json(self.path / MANIFEST, self.manifest, make_parents=False)

    def _arrays(self, result) -> "RunArrays":
        import numpy as np

        from engine.store.arrays import RunArrays

        optimizer = getattr(result, "optimizer", None)  # saved so that `train --resume` continues exactly
        saved_state = {} if optimizer is None else dict(
            adam_mW=optimizer.mW, adam_vW=optimizer.vW, adam_mb=optimizer.mb, adam_vb=optimizer.vb,
            optimizer_step=np.asarray(optimizer.step, dtype=np.int64),
        )
        return RunArrays(
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
            **saved_state,
        )

    def _record_result(self, result) -> None:
        """The manifest fields that describe the arrays just saved."""
        from engine.store.arrays import run_summary

        self.manifest.update(
            device=result.device,
            compiled=result.compiled,
            compiled_from_step=getattr(result, "compiled_from_step", None),
            steps_done=int(result.steps_done),
            elapsed_seconds=round(float(result.elapsed), 3),
            warnings=list(result.warnings),
            summary=run_summary(result),
        )

    def _write(self, result, status: str) -> None:
        if not self.path.is_dir():
            raise StoreError(f"run {self.id}: its folder was removed while it trained")
        atomic_write_npz(self.path / ARRAYS, self._arrays(result).to_npz(), make_parents=False)
        self._record_result(result)
        self.manifest["status"] = status
        if status != "running":
            self.manifest["finished"] = now_iso()
        self._save_manifest()

    def checkpoint(self, result) -> bool:
        """Save the run so far; False when the disk refused (training goes on: the final save
        tries again, and the run keeps its previous checkpoint meanwhile)."""
        if self.ended:
            return False
        try:
            self._write(result, "running")
        except OSError as exc:
            self.checkpoint_error = describe_os_error(exc)
            return False
        return True

    def finish(self, result) -> None:
        """The final save, arrays then manifest, never cut in half by Ctrl+C. If a write fails
        (a full disk) it keeps what it can and marks the run failed with the reason, then
        re-raises the OSError."""
        if self.ended:
            return
        if self.checkpoint_error:
            result.warnings = [*result.warnings, f"a checkpoint could not be saved ({self.checkpoint_error})"]
        try:
            with sigint_deferred():
                try:
                    self._write(result, result.status)
                except OSError as exc:
                    self._keep_what_fits(result, exc)
                    raise
        finally:
            self.release()

    def _keep_what_fits(self, result, exc: OSError) -> None:
        """After a failed final save: free the run's temporary files, then save the arrays
        without their snapshots (usually most of the bytes), else leave the last checkpoint's;
        the manifest says failed and what was kept. Its summary matches the arrays on disk."""
        self._remove_temporary_files()
        reason = f"could not save the finished run: {describe_os_error(exc)}"
        slim = copy.copy(result)
        slim.snapshots, slim.snapshot_steps = result.snapshots[:0], result.snapshot_steps[:0]
        try:
            atomic_write_npz(self.path / ARRAYS, self._arrays(slim).to_npz(), make_parents=False)
        except OSError:
            kept = "kept the last checkpoint" if (self.path / ARRAYS).exists() else "nothing was saved"
        else:
            kept = "kept its weights and losses, not its snapshots"
            self._record_result(result)
        self._final_manifest(status="failed", error=f"{reason} ({kept})")

    def fail(self, message: str) -> None:
        try:
            self._final_manifest(status="failed", error=message)
        finally:
            self.release()

    def interrupt(self, message: str) -> None:
        """The training process was lost (a dead Ray worker or node), or stopped with Ctrl+C:
        say so, keep what was saved."""
        try:
            self._final_manifest(status="interrupted", error=message)
        finally:
            self.release()

    def cancel_before_start(self) -> None:
        """Cancelled while it waited for a device: nothing trained, nothing to keep but the record."""
        try:
            self._final_manifest(status="cancelled")
        finally:
            self.release()

    def _final_manifest(self, **fields: Any) -> None:
        """Write the run's last status, whole (Ctrl+C waits). The first final status sticks; a
        run deleted meanwhile stays deleted; on a full disk the run's temporary files are freed
        and the write tried again."""
        if self.ended:
            return
        self.manifest.update(fields, finished=now_iso())
        with sigint_deferred():
            try:
                self._save_manifest()
            except StoreError:
                return  # its folder was removed: nothing to mark
            except OSError:
                self._remove_temporary_files()
                self._save_manifest()

    def _remove_temporary_files(self) -> None:
        from engine.store.live import HISTORY, LIVE

        for name in (LIVE, HISTORY):
            try:
                (self.path / name).unlink(missing_ok=True)
            except OSError:
                pass

    def release(self) -> None:
        """Let go of the run: its final status is written (or could not be); nothing more is."""
        self.ended = True
        try:
            (self.path / CANCEL_REQUEST).unlink(missing_ok=True)
        except OSError:
            pass
        self.lock.release(unlink=True)
