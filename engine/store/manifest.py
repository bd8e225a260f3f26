"""A run's manifest.json read as untrusted input: its size, nesting and the type of every field
the code reads are checked once, here, so nothing later meets a number where it expects text.

    manifest, config = read_manifest(run_folder)     # StoreError with a one-line reason

A manifest that fails is reported (by folder name, with the field and what is accepted) and the
folder is skipped; no other run is affected. Values the code cannot use but that do no harm are
normalised instead of refused: a non-finite loss in the summary reads as unknown (None).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Callable

from engine.bounds import LIST_MAX_ITEMS, MANIFEST_MAX_BYTES, MANIFEST_MAX_DEPTH, RUN_ID_MAX_CHARS, TEXT_MAX_CHARS
from engine.config import RunConfig
from engine.errors import ConfigError, StoreError
from engine.system.input_files import InputFileError, read_bounded_bytes

FORMAT = "supertui-run"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATUSES = ("queued", "claimed", "running", "completed", "cancelled", "interrupted", "failed")
LIVE_STATUSES = ("queued", "claimed", "running")  # the statuses of a run that is not over
# A run in one of these is held by a live worker's lock; with its lock free, its worker is gone.
HELD_STATUSES = ("claimed", "running")
# The bounds (engine.bounds) under the names this module has always used.
MAX_MANIFEST_BYTES = MANIFEST_MAX_BYTES
MAX_DEPTH = MANIFEST_MAX_DEPTH
MAX_TEXT = TEXT_MAX_CHARS
MAX_ITEMS = LIST_MAX_ITEMS
# Names that become parts of file names (export) and of terminal lines: a plain word.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
# The headline number's words in a summary (see headline_of): a column's few words, a title's phrase.
HEADLINE_NAME_MAX = 16
HEADLINE_LABEL_MAX = 120


def is_safe_name(text: object) -> bool:
    return isinstance(text, str) and bool(SAFE_NAME.match(text)) and ".." not in text


# --------------------------------------------------------------------------- field checks
# Each check returns the value to keep, or raises ValueError saying what is accepted.

Check = Callable[[Any], Any]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"is {len(value):,} characters long, at most {MAX_TEXT:,}")
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {_shown(value)}")
    return value


def _number(value: Any) -> float | None:
    """A number; a non-finite one (NaN, inf: never written by supertui) reads as unknown."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"must be a number, got {_shown(value)}")
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer of hundreds of digits: not finite as a float either
        return None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_shown(value)}")
    return value


def _status(value: Any) -> str:
    if value not in STATUSES:
        raise ValueError(f"must be one of {', '.join(STATUSES)}, got {_shown(value)}")
    return value


def _list_of(check: Check) -> Check:
    def checked(value: Any) -> list:
        if not isinstance(value, list):
            raise ValueError(f"must be a list, got {type(value).__name__}")
        if len(value) > MAX_ITEMS:
            raise ValueError(f"has {len(value):,} entries, at most {MAX_ITEMS:,}")
        return [check(item) for item in value]

    return checked


def _table(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"must be a table, got {type(value).__name__}")
    return value


def _nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _finite_numbers(value: Any) -> list[float]:
    """Numbers to draw: anything else (text, NaN, inf) is left out."""
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise ValueError("must be a list of numbers")
    return [float(v) for v in value if type(v) is float and math.isfinite(v) or type(v) is int and abs(v) < 2 ** 1000]


def _summary(value: Any) -> dict:
    summary = dict(_table(value))
    for key, check in (("final_loss", _nullable(_number)), ("best_loss", _nullable(_number)),
                       ("diverged", _integer), ("loss_sparkline", _finite_numbers)):
        if key in summary:
            try:
                summary[key] = check(summary[key])
            except ValueError as exc:
                raise ValueError(f"{key} {exc}") from None
    if "headline" in summary:
        summary["headline"] = headline_of(summary["headline"])
    return summary


def _plain_text(value: Any, most: int) -> str:
    """Text fit for one cell: anything but printable characters (escapes, bidi overrides,
    zero widths) becomes U+FFFD, and it is cut to `most` characters, ending in …."""
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in value[: most + 1])
    return text if len(text) <= most else text[: most - 1] + "…"


def headline_of(value: Any) -> dict[str, Any] | None:
    """The summary's `headline` ({"label", "name", "value"}: the experiment's headline number,
    written when the run finished) as it can be shown, or None. Never refused, since a run
    reads well without it: text that is not text reads as empty, long text is cut, a number
    that is not finite reads as unknown (None), and a value that is not a number drops it."""
    if not isinstance(value, dict):
        return None
    try:
        number = None if value.get("value") is None else _number(value.get("value"))
    except ValueError:
        return None
    label, name = value.get("label"), value.get("name")
    return {"label": _plain_text(label, HEADLINE_LABEL_MAX) if isinstance(label, str) else "",
            "name": _plain_text(name, HEADLINE_NAME_MAX) if isinstance(name, str) else "",
            "value": number}


def _passed_on(value: Any) -> dict:
    """A table printed as it is (`runs --json`) or read by its owner: bounded in depth."""
    table = _table(value)
    if _depth(table) > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    return table


def _sweep(value: Any) -> dict:
    sweep = _passed_on(value)
    if not isinstance(sweep.get("id"), str) or not isinstance(sweep.get("axes", {}), dict):
        raise ValueError("must be a table with an id (text) and axes (a table)")
    return sweep


def _versions(value: Any) -> dict:
    versions = _table(value)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in versions.items()):
        raise ValueError("must be a table of NAME = VERSION (text)")
    return versions


# Every field the code reads, with its check. Fields not listed are kept as they are (a newer
# supertui may add some) and never read; tables passed on as they are have a bounded depth.
FIELDS: dict[str, Check] = {
    "id": _text,
    "name": _nullable(_text),  # the short name a person gives or reads (engine.store.runs.default_run_name)
    "seeds": _list_of(_integer),
    "instances": _nullable(_integer),
    "status": _status,
    "created": _nullable(_text),
    "updated": _nullable(_text),
    "started": _nullable(_text),
    "finished": _nullable(_text),
    "device": _nullable(_text),
    "compiled": _nullable(_flag),
    "compiled_from_step": _nullable(_integer),
    "steps_done": _nullable(_integer),
    "elapsed_seconds": _nullable(_number),
    "versions": _nullable(_versions),
    "host": _nullable(_text),
    "pid": _nullable(_integer),
    "tags": _list_of(_text),
    "note": _text,
    "warnings": _list_of(_text),
    "error": _nullable(_text),
    "summary": _summary,
    "sweep": _nullable(_sweep),
    "executor": _nullable(_passed_on),
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _depth(value: Any) -> int:
    """How deep containers nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


# --------------------------------------------------------------------------- reading


def load_text(path: Path, name: str) -> str:
    """The manifest's text, or StoreError: missing, unreadable (with the reason), too large."""
    try:
        data = read_bounded_bytes(path, MAX_MANIFEST_BYTES)  # a FIFO, a folder or /dev/zero: never a hang
    except FileNotFoundError:
        raise StoreError(f"{name}: not a supertui run (no {MANIFEST})") from None
    except PermissionError:
        raise StoreError(f"{name}: {MANIFEST} is unreadable (permission denied)") from None
    except InputFileError as exc:
        if exc.reason.startswith("holds"):
            raise StoreError(f"{name}: {MANIFEST} is larger than {MAX_MANIFEST_BYTES >> 20} MiB "
                             f"(a run's is a few KiB)") from None
        reason = exc.reason.replace("cannot be opened (Permission denied)", "is unreadable (permission denied)")
        raise StoreError(f"{name}: {MANIFEST} {reason}") from None
    except OSError as exc:
        raise StoreError(f"{name}: {MANIFEST} is unreadable ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(f"{name}: {MANIFEST} is corrupt (not UTF-8 text)") from None


def parse_manifest(text: str, name: str) -> tuple[dict[str, Any], RunConfig]:
    """Check a manifest's text: its JSON, format, every field the code reads and its config."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise StoreError(f"{name}: {MANIFEST} is corrupt (nested too deep)") from None
    except ValueError as exc:
        raise StoreError(f"{name}: {MANIFEST} is corrupt ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StoreError(f"{name}: {MANIFEST} is not a supertui run manifest")
    version = data.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoreError(f"{name}: {MANIFEST} field 'format_version' must be an integer, got {_shown(version)}")
    if version > FORMAT_VERSION:
        raise StoreError(f"{name}: saved by a newer supertui (format {version})")
    manifest = dict(data)
    for key, check in FIELDS.items():
        if key in manifest:
            try:
                manifest[key] = check(manifest[key])
            except ValueError as exc:
                raise StoreError(f"{name}: {MANIFEST} field {key!r} {exc}") from None
    if "config" not in manifest:
        raise StoreError(f"{name}: {MANIFEST} has no config")
    try:
        config = RunConfig.from_dict(manifest["config"])
        check_saved_config(config)
    except ConfigError as exc:
        raise StoreError(f"{name}: {MANIFEST} has an invalid config ({exc})") from None
    return manifest, config


def check_meta(tags: list[str] | None, note: str | None) -> None:
    """Tags and a note as a user typed them, held to the bounds a manifest is read with, so an
    edit is never saved that would make the run unreadable. ConfigError naming the field."""
    for key, value in (("tags", tags), ("note", note)):
        if value is None:
            continue
        try:
            FIELDS[key](value)
        except ValueError as exc:
            raise ConfigError(key, str(exc)) from None


def clip_text_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest a worker writes, with its error and warnings cut to MAX_TEXT characters (a long
    traceback must not make the run it describes unreadable)."""
    clipped = dict(manifest)
    if isinstance(clipped.get("error"), str) and len(clipped["error"]) > MAX_TEXT:
        clipped["error"] = clipped["error"][:MAX_TEXT - 1] + "…"
    if isinstance(clipped.get("warnings"), list):
        clipped["warnings"] = [w[:MAX_TEXT - 1] + "…" if isinstance(w, str) and len(w) > MAX_TEXT else w
                               for w in clipped["warnings"][:MAX_ITEMS]]
    return clipped


def manifest_bytes(manifest: dict[str, Any], name: str) -> bytes:
    """The text to save for `manifest`, once it has passed the very checks it will be read with
    (parse_manifest, the size bound): what is written can always be read back. StoreError if not."""
    text = json.dumps(manifest, indent=2, allow_nan=False, default=_json_default) + "\n"
    data = text.encode()
    if len(data) > MAX_MANIFEST_BYTES:
        raise StoreError(f"{name}: the manifest would be {len(data):,} bytes, more than the "
                         f"{MAX_MANIFEST_BYTES:,} a run may hold")
    parse_manifest(text, name)
    return data


def _json_default(value: Any) -> Any:
    from engine.system.files import json_default

    return json_default(value)


def read_manifest(folder: Path) -> tuple[dict[str, Any], RunConfig]:
    folder = Path(folder)
    return parse_manifest(load_text(folder / MANIFEST, folder.name), folder.name)


def read_ended_manifest(folder: Path) -> tuple[dict[str, Any], RunConfig] | None:
    """For a run saved as running whose lock was found free: its manifest read again, if the
    worker has since saved a final status (it saves, then lets go of the lock, so a reader may
    see the old status and the free lock); None when it still says running: the run was lost."""
    try:
        manifest, config = read_manifest(folder)
    except StoreError:
        return None
    return None if manifest.get("status") in (None, *HELD_STATUSES) else (manifest, config)


# Fields that only shaped how a run trained: a saved run outside today's bounds for these (an
# lr of 1e30, accepted by older versions) still opens, as it was saved.
TRAINING_ONLY = ("lr", "weight_decay", "optimizer", "schedule", "init", "activation_params")


def check_saved_config(config: RunConfig) -> RunConfig:
    """Every bound validate() holds a new run to, but TRAINING_ONLY's. An experiment or
    activation this version does not know (a newer supertui saved it) is allowed when its name
    is a plain word: the run then opens as `custom` (engine.experiments.experiment_for) and its
    other fields are still checked."""
    from engine.training.activations import activation_names
    from engine.experiments import experiment_names

    for field_name, value in (("preset", config.preset), ("activation", config.activation)):
        if not is_safe_name(value):
            raise ConfigError(field_name, f"{_shown(value)} is not a name (letters, digits, '_', '.', '+', '-')")
    probe = config
    if config.preset not in experiment_names():
        probe = probe.replace(preset="custom")
    if config.activation not in activation_names():
        probe = probe.replace(activation="relu", activation_params={})
    from engine.experiments import validate_config  # the registry loads numpy: only where a run is read

    defaults = RunConfig()
    for _ in range(len(TRAINING_ONLY) + 1):
        try:
            validate_config(probe)
            return config
        except ConfigError as exc:
            if exc.field not in TRAINING_ONLY:
                raise
            probe = probe.replace(**{exc.field: getattr(defaults, exc.field)})
    return config
