"""A cheap listing of every run: the fields a list shows, cached per data directory.

    rows = RunIndex(store).listing(on_error)      # [RunListing], newest first

Listing 10,000 runs by reading and checking every manifest takes seconds; this reads each
manifest once and keeps its listing fields in `<data dir>/runs-index.json`, keyed by the
manifest's (mtime_ns, ctime_ns, size, inode). Every manifest write replaces the file (a new
inode), so any change is seen, and a later listing costs one stat per run. The cache is never
trusted blindly: a file that does not parse is ignored and rebuilt, and each entry's fields are
type-checked as they are read (a bad entry is read again from its manifest). Folders that are
not readable runs are cached with their reason, and named again on every listing. Writing the
cache is best effort: a read-only data directory lists at the uncached speed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from engine.bounds import INDEX_MAX_BYTES
from engine.errors import StoreError
from engine.system.files import atomic_write_bytes
from engine.system.input_files import read_bounded_bytes
from engine.system.locks import is_folder_held, is_held
from engine.store.names import listed_config, valid_name_or_default
from engine.store.manifest import (
    HELD_STATUSES, LIVE_STATUSES, MANIFEST, STATUSES, headline_of, is_safe_name, load_text, parse_manifest,
    read_ended_manifest,
)


class RunFolders(Protocol):
    """What the index reads of a store (engine.store.runs.RunStore is one)."""

    data_dir: Path
    runs_dir: Path
    locks_dir: Path

    def run_folder_names(self) -> list[str]: ...

    def folder_name_problem(self, name: str) -> str | None: ...

INDEX = "runs-index.json"
INDEX_FORMAT = "supertui-run-index"
INDEX_VERSION = 3  # 2: name, device, host and the listed config fields; 3: the headline number


# A cached row, as a list (smaller and quicker to parse than a table): the fields in this order.
ROW_FIELDS = ("preset", "activation", "status", "created", "final_loss", "instances", "tags", "note", "error",
              "sweep", "loss_sparkline", "name", "device", "host", "config", "headline")


@dataclass
class RunListing:
    """What a list of runs shows about one run; `load()` gives the whole RunRecord. Its
    properties read like RunRecord's, so a table can show either."""

    id: str
    runs_dir: str
    preset: str
    activation: str
    saved_status: str
    created: str = ""
    final_loss: float | None = None
    instances: int | None = None
    tags: list[str] = field(default_factory=list)
    note: str = ""
    error: str | None = None
    sweep: dict | None = None
    _sparkline: Any = None  # checked when first read: most listings never show it
    name: str = ""
    device: str | None = None
    host: str | None = None
    config_fields: dict = field(default_factory=dict)
    headline: dict | None = None  # {"label", "name", "value"} (manifest.headline_of), None before it finished

    @property
    def path(self) -> Path:
        return Path(self.runs_dir) / self.id

    @property
    def lock_path(self) -> Path:
        return Path(self.runs_dir).parent / "locks" / self.id

    @property
    def status(self) -> str:
        if self.saved_status in HELD_STATUSES and not self.worker_alive:
            return self._ended_since_listed()
        return self.saved_status

    def _ended_since_listed(self) -> str:
        """One that finished after this row was read takes its manifest's fields (see
        read_ended_manifest) rather than being reported lost."""
        ended = read_ended_manifest(self.path)
        if ended is None:
            return "interrupted"
        vars(self).update(vars(listing_from_manifest(self.id, self.runs_dir, *ended)))
        return self.saved_status

    @property
    def worker_alive(self) -> bool:
        return is_held(self.lock_path) or is_folder_held(self.path)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def loss_sparkline(self) -> list[float]:
        spark = self._sparkline
        if not (isinstance(spark, list) and all(type(v) is float and math.isfinite(v) for v in spark)):
            spark = []
        return spark

    @property
    def summary(self) -> dict[str, Any]:
        return {"final_loss": self.final_loss, "loss_sparkline": self.loss_sparkline}

    @property
    def experiment_title(self) -> str:
        from engine.experiments import experiment_names, get_experiment

        return get_experiment(self.preset if self.preset in experiment_names() else "custom").title

    def to_row(self) -> list:
        return [self.preset, self.activation, self.saved_status, self.created, self.final_loss, self.instances,
                self.tags, self.note, self.error, self.sweep, self._sparkline, self.name, self.device, self.host,
                self.config_fields, self.headline]

    @classmethod
    def from_row(cls, run_id: str, runs_dir: str, row: list) -> "RunListing":
        (preset, activation, status, created, loss, instances, tags, note, error, sweep, spark, name, device, host,
         config, headline) = row
        return cls(run_id, runs_dir, preset, activation, status, created, loss, instances, tags, note, error, sweep,
                   spark, name, device, host, config, headline)


def listing_from_manifest(run_id: str, runs_dir: str, manifest: dict[str, Any], config) -> RunListing:
    summary = manifest.get("summary") or {}
    return RunListing(
        id=run_id, runs_dir=runs_dir, preset=config.preset, activation=config.activation,
        saved_status=manifest.get("status", "interrupted"), created=manifest.get("created") or "",
        final_loss=summary.get("final_loss"), instances=manifest.get("instances"),
        tags=list(manifest.get("tags", [])), note=manifest.get("note", ""), error=manifest.get("error"),
        sweep=manifest.get("sweep"), _sparkline=[round(v, 6) for v in summary.get("loss_sparkline") or []],
        name=valid_name_or_default(manifest.get("name"), config), device=manifest.get("device"),
        host=manifest.get("host"), config_fields=listed_config(config), headline=summary.get("headline"),  # parsed: headline_of
    )


def _row_is_sound(row: Any) -> bool:
    """Cheap type checks of a cached row (the sparkline is checked when read): anything odd is
    read again from its manifest."""
    if type(row) is not list or len(row) != len(ROW_FIELDS):
        return False
    preset, activation, status, created, loss, instances, tags, note, error, sweep, _, name, device, host, config, headline = row
    return (
        type(name) is str and is_safe_name(name) and (device is None or type(device) is str)
        and (host is None or type(host) is str) and type(config) is dict
        and all(type(v) in (str, int, float, bool) or v is None for v in config.values()) and
        is_safe_name(preset) and is_safe_name(activation) and status in STATUSES
        and type(created) is str and type(note) is str and (error is None or type(error) is str)
        and (loss is None or type(loss) is float) and (instances is None or type(instances) is int)
        and type(tags) is list and all(type(t) is str for t in tags)
        and (sweep is None or type(sweep) is dict)
        and (headline is None or headline_of(headline) == headline)
    )


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number the index holds")


def _stamp(info: os.stat_result) -> list[int]:
    return [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino]


class RunIndex:
    def __init__(self, store: RunFolders):
        self.store = store
        self.path = store.data_dir / INDEX

    def _load(self) -> dict[str, Any]:
        try:
            # No NaN or Infinity: every number read back is finite (as a manifest's are kept).
            data = json.loads(read_bounded_bytes(self.path, INDEX_MAX_BYTES), parse_constant=_no_constants)
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or data.get("version") != INDEX_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _save(self, entries: dict[str, Any]) -> None:
        document = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "entries": entries}
        try:
            atomic_write_bytes(self.path, json.dumps(document, separators=(",", ":"), allow_nan=False).encode(),
                               make_parents=False)
        except (OSError, ValueError):
            pass  # a read-only data directory: the next listing reads the manifests again

    def listing(self, on_error: Callable[[Path, str], None] | None = None) -> list[RunListing]:
        """Every readable run, newest first (by id); other folders go to on_error, once each."""
        runs_dir = str(self.store.runs_dir)
        names = self.store.run_folder_names()
        cached = self._load()
        entries: dict[str, Any] = {}
        rows: list[RunListing] = []
        problem_of = self.store.folder_name_problem

        def skip(name: str, reason: str) -> None:
            if on_error:
                on_error(Path(runs_dir) / name, reason)

        for name in names:
            reason = problem_of(name)
            if reason:
                skip(name, reason)
                continue
            try:
                info = os.stat(f"{runs_dir}/{name}/{MANIFEST}")
            except FileNotFoundError:
                skip(name, f"{name}: not a supertui run (no {MANIFEST})")
                continue
            except OSError as exc:
                why = "permission denied" if isinstance(exc, PermissionError) else exc.strerror
                skip(name, f"{name}: {MANIFEST} is unreadable ({why})")
                continue
            stamp = _stamp(info)
            entry = cached.get(name)
            if not (type(entry) is dict and entry.get("stamp") == stamp
                    and (type(entry.get("error")) is str or _row_is_sound(entry.get("row")))):
                entry = self._read_entry(runs_dir, name, stamp)
            entries[name] = entry
            if "error" in entry:
                skip(name, entry["error"])
            else:
                rows.append(RunListing.from_row(name, runs_dir, entry["row"]))
        if entries != cached:
            self._save(entries)
        return rows

    def _read_entry(self, runs_dir: str, name: str, stamp: list[int]) -> dict[str, Any]:
        path = Path(runs_dir) / name
        try:
            manifest, config = parse_manifest(load_text(path / MANIFEST, name), name)
        except StoreError as exc:
            return {"stamp": stamp, "error": str(exc)}
        return {"stamp": stamp, "row": listing_from_manifest(name, runs_dir, manifest, config).to_row()}
