"""What the app remembers between sessions: the theme, the runs table's columns and the last launch
form. One small JSON file in the user's config directory (platformdirs; `SUPERTUI_CONFIG_DIR`
moves it, which the tests do), never in the data directory: settings belong to a person, runs to
a project. `supertui settings --reset` (or deleting the file) starts afresh.

The file is the user's own but still read as untrusted: bounded, checked field by field, and
a bad field falls back to its default rather than stopping the app."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from engine.system.files import atomic_write_json
from engine.system.input_files import KIB, InputFileError, read_bounded_json

CONFIG_DIR_ENV = "SUPERTUI_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
MAX_SETTINGS_BYTES = 64 * KIB
MAX_LIST = 64  # columns or launch fields: a few dozen at most
_SAVING = threading.Lock()  # settings are saved from worker threads: one read-modify-write at a time


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("supertui"))


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str)) and (not isinstance(value, str) or len(value) <= 4000)


def _small_value(value: Any, depth: int = 0) -> bool:
    """A scalar, or a short list or table of them (a table may hold one more level)."""
    if _scalar(value):
        return True
    if isinstance(value, list):
        return len(value) <= MAX_LIST and all(_scalar(item) for item in value)
    if isinstance(value, dict) and depth == 0:
        return len(value) <= MAX_LIST and all(isinstance(k, str) and len(k) <= 64 and _small_value(v, 1)
                                               for k, v in value.items())
    return False


# Each kept setting and what it must look like; anything else in the file is dropped.
CHECKS = {
    "theme": lambda v: isinstance(v, str) and 0 < len(v) <= 64,
    "runs_columns": lambda v: isinstance(v, list) and len(v) <= MAX_LIST and all(isinstance(c, str) and len(c) <= 64 for c in v),
    "launch": lambda v: isinstance(v, dict) and len(v) <= MAX_LIST and all(
        isinstance(k, str) and len(k) <= 64 and _small_value(x) for k, x in v.items()),
}


def load_settings() -> dict[str, Any]:
    """The saved settings that pass their checks; {} when there is no file or it is unreadable."""
    try:
        data = read_bounded_json(settings_path(), MAX_SETTINGS_BYTES, max_depth=4)
    except (InputFileError, OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if key in CHECKS and CHECKS[key](value)}


def save_setting(key: str, value: Any) -> str | None:
    """Keep one setting (the others as they are); returns why it could not be saved, else None."""
    if key not in CHECKS or not CHECKS[key](value):
        raise ValueError(f"{key}: not a setting supertui keeps in this form")
    with _SAVING:
        settings = load_settings()
        settings[key] = value
        try:
            atomic_write_json(settings_path(), settings)
        except (OSError, TypeError, ValueError) as exc:
            return f"cannot save settings to {settings_path()}: {exc}"
    return None


def reset_settings() -> bool:
    """Forget every setting; True when there was a file to remove."""
    try:
        settings_path().unlink()
    except FileNotFoundError:
        return False
    return True


def describe() -> str:
    settings = load_settings()
    return json.dumps(settings, indent=1) if settings else "{}"
