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
import stat
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
from engine.system.locks import HeldLock, is_folder_held, is_held, try_lock, try_lock_folder
from engine.store.index import RunIndex, RunListing
from engine.store.names import (LISTED_CONFIG_FIELDS, default_run_name, listed_config,  # noqa: F401 (re-exported)
                                validate_run_name, valid_name_or_default)
from engine.store.manifest import (  # noqa: F401 (re-exported)
    FORMAT, FORMAT_VERSION, HELD_STATUSES, LIVE_STATUSES, MANIFEST, MAX_ITEMS, MAX_TEXT, STATUSES, check_meta,
    clip_text_fields, load_text, manifest_bytes,
    read_ended_manifest, read_manifest,
)

if TYPE_CHECKING:  # numpy, for the commands that load or save arrays only
    from engine.instances import InstanceTable
    from engine.store.arrays import RunArrays

DATA_DIR_ENV = "SUPERTUI_DATA_DIR"
ARRAYS = "arrays.npz"  # engine.store.arrays reads and writes it
CANCEL_REQUEST = "cancel"
DOORBELL = ".doorbell"  # queue/.doorbell: a FIFO the idle scheduler reads
_RUN_ID = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{RUN_ID_MAX_CHARS - 1}}}$")
QUEUE_ENTRY = re.compile(r"^[0-9]{20}-")  # queue/<20-digit ns>-<run id>
MAX_TAGS = MAX_ITEMS
CLAIM_ATTEMPTS = 50  # readers probe run locks for a moment; a claim retries past them
DELETE_WAIT_SECONDS = 5.0  # `rm` waits this long for another client's hold on a run that is not training


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return absolute_data_dir(env)
    import platformdirs

    return absolute_data_dir(platformdirs.user_data_dir("supertui", appauthor=False))


def absolute_data_dir(path: Path | str) -> Path:
    """The data directory as every process must name it: `runs` typed in one folder is the same
    folder for a scheduler started with another working directory."""
    return Path(os.path.abspath(Path(path).expanduser()))


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        shown = repr(run_id) if len(repr(run_id)) <= 80 else f"{repr(run_id)[:60]}… ({len(str(run_id)):,} characters)"
        raise ConfigError("run", f"invalid run id {shown} (at most {RUN_ID_MAX_CHARS} letters, digits, '.', '_' "
                                 f"and '-', no '..')")
    return run_id


def ring_doorbell(queue_dir: Path) -> None:
    """Wake an idle scheduler now: it sleeps reading the FIFO queue/.doorbell (engine.jobs.queue).
    Nobody listening, or something else at that name, is fine: the scheduler also looks itself."""
    try:
        fd = os.open(Path(queue_dir) / DOORBELL, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b"!")
    except OSError:
        pass  # its buffer is full: it is being woken already
    finally:
        os.close(fd)


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
        if status in HELD_STATUSES and not self.worker_alive:
            ended = read_ended_manifest(self.path)  # it may have ended since we read it
            if ended is None:
                return "interrupted"
            self.manifest = ended[0]
            status = self.saved_status
        return status

    @property
    def worker_alive(self) -> bool:
        """A process holds this run's lock: it is training (or about to)."""
        return self.lock_path is not None and (is_held(self.lock_path) or is_folder_held(self.path))

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
    def headline(self) -> dict[str, Any] | None:
        """The experiment's headline number saved when the run finished (manifest.headline_of)."""
        return self.summary.get("headline")

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


def _is_plain_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


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
        self.data_dir = absolute_data_dir(data_dir) if data_dir else default_data_dir()
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

    def lock_run(self, run_id: str, attempts: int = 1) -> HeldLock | None:
        """Hold a run: its lock file (found by listings) and its folder's own lock (which a
        deleted lock file cannot take away); None if another process holds either. Readers
        probe locks for an instant, so a writer tries `attempts` times, 10 ms apart."""
        for attempt in range(attempts):
            lock = try_lock(self.lock_path(run_id))
            if lock is not None:
                try:
                    folder = try_lock_folder(self.run_path(run_id))
                except FileNotFoundError:
                    return lock  # no folder (yet, or any more): the file lock alone
                except OSError:
                    lock.release()
                    raise
                if folder is not None:
                    lock.partner = folder
                    return lock
                lock.release()  # the lock file was deleted under a live holder: it still holds the folder
            if attempt + 1 < attempts:
                time.sleep(0.01)
        return None

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
        lock = self._lock_to_delete(run_id, path)
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

    def _lock_to_delete(self, run_id: str, path: Path) -> HeldLock | None:
        """The run's lock for `rm`; None only when a worker holds it (claimed or running). A lock
        held by another client (a second `rm`, a cancel) is waited for a few seconds; a run that
        went meanwhile is "no run", never "is training"."""
        deadline = time.monotonic() + DELETE_WAIT_SECONDS
        while True:
            lock = self.lock_run(run_id, attempts=CLAIM_ATTEMPTS)
            if lock is not None:
                if path.is_dir():
                    return lock
                lock.release()
            if not path.is_dir():
                raise StoreError(f"run: no run {run_id!r} in {self.runs_dir} (deleted meanwhile)")
            try:
                training = self._read(path).saved_status in HELD_STATUSES
            except StoreError:
                training = False
            if training or time.monotonic() > deadline:
                return None

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
        run_id = make_run_id(config)
        lock = try_lock(self.lock_path(run_id))  # held until the entry exists: no reconciler sees it half-made
        if lock is None:  # pragma: no cover - 32 random bits collided with a live run
            return self.submit(config, extra)
        try:
            run_id, path = self._new_folder(config, "queued", extra, run_id=run_id)
            try:
                self.add_queue_entry(run_id)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)  # a run that cannot be queued is not left behind
                raise
            return self._read(path)
        finally:
            lock.release(unlink=True)

    def add_queue_entry(self, run_id: str) -> None:
        atomic_write_bytes(self.queue_dir / f"{time.time_ns():020d}-{validate_run_id(run_id)}", b"")
        ring_doorbell(self.queue_dir)

    def queue_entries(self, on_odd: Callable[[str], None] | None = None) -> list[str]:
        """Queue entry names (`<ns>-<run id>`), oldest first. Anything else in queue/ (a folder,
        a FIFO, a name that is no entry) is passed to on_odd and skipped; hidden names are ours."""
        try:
            with os.scandir(self.queue_dir) as found:
                names = [(e.name, _is_plain_file(e)) for e in found if not e.name.startswith(".")]
        except OSError:
            return []
        entries = []
        for name, plain in names:
            if plain and QUEUE_ENTRY.match(name) and _RUN_ID.match(name[21:]) and ".." not in name:
                entries.append(name)
            elif on_odd is not None:
                on_odd(name)
        return sorted(entries)

    def has_queue_entries(self) -> bool:
        """Whether anything is queued, without listing a long queue."""
        try:
            with os.scandir(self.queue_dir) as found:
                return any(QUEUE_ENTRY.match(e.name) and _is_plain_file(e) for e in found)
        except OSError:
            return False

    @staticmethod
    def entry_run_id(entry: str) -> str:
        return entry.split("-", 1)[1]

    def _remove_queue_entries(self, run_id: str, entries: list[str] | None = None) -> None:
        for entry in self.queue_entries() if entries is None else entries:
            if entry.split("-", 1)[1] == run_id:
                (self.queue_dir / entry).unlink(missing_ok=True)

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
        lock = self.lock_run(run_id, attempts=CLAIM_ATTEMPTS)
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
        """Take a queued run for training: its lock, then status `claimed`, then its queue entry
        goes. None when another process holds it or it is no longer queued (cancelled, deleted,
        already trained). An OSError (a full disk) leaves it queued with its entry."""
        lock = self.lock_run(run_id, attempts=CLAIM_ATTEMPTS)
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
        writer = RunWriter(self, record, lock)
        try:
            writer.mark_claimed()  # claimed on disk before the entry goes: never queued without one
        except BaseException:
            lock.release()  # still queued, with its entry: a later worker takes it
            raise
        self._remove_queue_entries(run_id)
        return writer

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

    def request_cancel(self, run_id: str, entries: list[str] | None = None, durable: bool = True) -> str:
        """Stop a run: a queued one is cancelled at once ("cancelled"); a training one is asked to
        stop through a file its worker polls ("requested"); a finished one is left ("finished").
        durable=False leaves the fsync to the caller (one os.sync() after a batch)."""
        path = self.run_path(run_id)
        if not path.is_dir():
            raise StoreError(f"run: no run {run_id!r} in {self.runs_dir}")
        lock = self.lock_run(run_id)
        if lock is None:
            atomic_write_bytes(path / CANCEL_REQUEST, b"", make_parents=False)
            return "requested"
        try:
            manifest = self._manifest_to_update(path)
            if manifest.get("status") != "queued":
                return "finished"
            manifest.update(status="cancelled", finished=now_iso(), updated=now_iso())
            atomic_write_json(path / MANIFEST, manifest, durable=durable)
            self._remove_queue_entries(run_id, entries)
            return "cancelled"
        finally:
            lock.release(unlink=True)

    @staticmethod
    def _manifest_to_update(path: Path) -> dict[str, Any]:
        """A manifest read only to change its status (cancel): bounded, a JSON object, its
        fields not otherwise checked (they are written back as they were)."""
        text = load_text(path / MANIFEST, path.name)
        try:
            manifest = json.loads(text)
        except (ValueError, RecursionError):
            raise StoreError(f"{path.name}: {MANIFEST} is not valid JSON") from None
        if not isinstance(manifest, dict):
            raise StoreError(f"{path.name}: {MANIFEST} is not a JSON object")
        return manifest

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


@dataclass(frozen=True)
class _FinishedRun:
    """A run as its writer has it, read the way an experiment reads a saved run (SavedRun)."""

    id: str
    config: RunConfig
    manifest: dict[str, Any]
    arrays: "RunArrays"


class RunWriter:
    """Writes one run as it trains, holding its lock: status running, checkpoints, then the end.

    Never recreates the folder: if the run was deleted under it, writing fails instead."""

    def __init__(self, store: RunStore, record: RunRecord, lock: HeldLock):
        self.store = store
        self.config = record.config
        self.id = record.id
        self.path = record.path
        self.lock = lock
        self._instances: "InstanceTable | None" = None  # the resolved run's table, or looked up on first use
        self.manifest: dict[str, Any] = dict(record.manifest)
        self.ended = False  # a final status was written (or tried): later saves are ignored
        self.checkpoint_error: str | None = None  # the last checkpoint the disk refused

    @property
    def instances(self) -> "InstanceTable":
        if self._instances is None:
            from engine.experiments import instance_table

            self._instances = instance_table(self.config)
        return self._instances

    @instances.setter
    def instances(self, table: "InstanceTable") -> None:
        """The table of the run as resolved (engine.training.run): saved with its arrays, not looked up again."""
        self._instances = table

    def mark_claimed(self) -> None:
        """Say on disk that this process holds the run, before its queue entry goes: a worker
        that dies from here on leaves a run the reconciler ends `interrupted`, never one that
        reads queued with no entry (engine.jobs.queue)."""
        self.manifest.update({"status": "claimed", "host": socket.gethostname(), "pid": os.getpid()})
        self._save_manifest()

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
        # Tags and notes may have been edited while the run trained: keep the user's. Only those two
        # fields are read back (checked here), not the config again: it was validated when claimed.
        try:
            on_disk = RunStore._manifest_to_update(self.path)
        except StoreError:
            on_disk = {}  # unreadable now: this writer's copy is the truth
        tags, note = on_disk.get("tags"), on_disk.get("note")
        if isinstance(tags, list) and len(tags) <= MAX_TAGS and all(isinstance(t, str) and len(t) <= MAX_TEXT for t in tags):
            self.manifest["tags"] = tags
        if isinstance(note, str) and len(note) <= MAX_TEXT:
            self.manifest["note"] = note
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

    def _record_result(self, result, arrays: "RunArrays") -> None:
        """The manifest fields that describe the arrays just saved; at the end, the experiment's
        headline number too, so that lists of runs show it without opening their arrays."""
        from engine.store.arrays import run_summary

        summary = run_summary(result)
        if result.status != "checkpoint":
            headline = self._headline(arrays)
            if headline is not None:
                summary["headline"] = headline
        self.manifest.update(
            device=result.device,
            compiled=result.compiled,
            compiled_from_step=getattr(result, "compiled_from_step", None),
            steps_done=int(result.steps_done),
            elapsed_seconds=round(float(result.elapsed), 3),
            warnings=list(result.warnings),
            summary=summary,
        )

    def _headline(self, arrays: "RunArrays") -> dict[str, Any] | None:
        """{"label": its phrase, "name": a word or two, "value"}, None where the experiment has no
        number to give (every instance diverged): the run is saved all the same."""
        import math

        from engine.experiments import experiment_for

        experiment = experiment_for(self.config)
        try:
            label, value = experiment.headline(_FinishedRun(self.id, self.config, self.manifest, arrays))
            value = float(value)
        except (ValueError, ArithmeticError, IndexError, KeyError, TypeError):
            return None
        return {"label": str(label), "name": experiment.headline_name,
                "value": value if math.isfinite(value) else None}

    def _write(self, result, status: str) -> None:
        if not self.path.is_dir():
            raise StoreError(f"run {self.id}: its folder was removed while it trained")
        arrays = self._arrays(result)
        atomic_write_npz(self.path / ARRAYS, arrays.to_npz(), make_parents=False)
        self._record_result(result, arrays)
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
        arrays = self._arrays(slim)
        try:
            atomic_write_npz(self.path / ARRAYS, arrays.to_npz(), make_parents=False)
        except OSError:
            kept = "kept the last checkpoint" if (self.path / ARRAYS).exists() else "nothing was saved"
        else:
            kept = "kept its weights and losses, not its snapshots"
            self._record_result(result, arrays)
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
