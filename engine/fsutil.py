"""Files that are never seen half-written: write under a temporary name in the same folder, then
rename into place. The temporary file gets the permissions `open()` would have given (0666 minus
the umask), so a colleague on a shared server can read runs and figures like any other file."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, make_parents: bool = True) -> None:
    """Write `data` to `path` whole or not at all. With make_parents=False a missing folder is an
    error rather than recreated (a run deleted while it trains stays deleted)."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path: Path, obj: Any, make_parents: bool = True) -> None:
    text = json.dumps(obj, indent=2, allow_nan=False, default=json_default) + "\n"
    atomic_write_bytes(path, text.encode(), make_parents)


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray], make_parents: bool = True) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue(), make_parents)
