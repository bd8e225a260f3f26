"""Files that are never seen half-written: write under a temporary name in the same folder, then
rename into place. The temporary file gets the permissions `open()` would have given (0666 minus
the umask), so a colleague on a shared server can read runs and figures like any other file."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.bounds import NPY_HEADER_BYTES, NPZ_OVERHEAD_BYTES

if TYPE_CHECKING:
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
    # numpy is looked up, not imported: a value can only be a numpy one if numpy is loaded, and
    # the commands that write JSON without it (cancel, rm) should not pay for importing it.
    np = sys.modules.get("numpy")
    if np is None:
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path: Path, obj: Any, make_parents: bool = True) -> None:
    text = json.dumps(obj, indent=2, allow_nan=False, default=json_default) + "\n"
    atomic_write_bytes(path, text.encode(), make_parents)


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray], make_parents: bool = True) -> None:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue(), make_parents)


def npz_max_bytes(limits: dict[str, int]) -> int:
    """The most bytes an .npz holding the entries of `limits` can take on disk (np.savez stores
    them uncompressed, each with its header, plus the zip's own records)."""
    return sum(limits.values()) + NPY_HEADER_BYTES * len(limits) + NPZ_OVERHEAD_BYTES


def load_npz(path: Path, limits: dict[str, int]) -> dict[str, np.ndarray]:
    """The entries of an .npz named in `limits` (name -> most bytes its array may hold), and no
    other. The file must be a regular file no larger than those entries can be (a FIFO or
    /dev/zero is InputFileError, never a hang); sizes are read from the zip directory before
    anything is decompressed, so a small file that would inflate to gigabytes is refused
    (ValueError naming the entry). Never unpickles."""
    import zipfile

    from engine.system.input_files import open_regular

    with open_regular(path, npz_max_bytes(limits)) as fh:
        with zipfile.ZipFile(fh) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
        for name, limit in limits.items():
            size = sizes.get(f"{name}.npy")
            if size is not None and size > limit + NPY_HEADER_BYTES:
                raise ValueError(f"entry {name!r} would take {size:,} bytes, more than its run can hold ({limit:,})")
        import numpy as np

        fh.seek(0)
        with np.load(fh, allow_pickle=False) as data:
            return {name: data[name] for name in limits if name in data.files}


def describe_os_error(exc: OSError) -> str:
    """`[Errno 28] No space left on device: 'x'` as `x: no space left on device` (one line)."""
    reason = (exc.strerror or str(exc)).rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    return f"{exc.filename}: {reason}" if exc.filename else reason


def check_writable_folder(folder: Path, field: str) -> Path:
    """Make sure files can be written into `folder` before any work starts: it is a folder
    (created if needed) where this process can create a file. Otherwise ConfigError naming
    `field` and what is wrong: empty, a file, a path through a file (/dev/null/x), read-only,
    no permission. A full disk still fails later, at the write itself."""
    import errno

    from engine.errors import ConfigError

    if not str(folder).strip():
        raise ConfigError(field, "is empty (give a folder)")
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(field, f"{folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".supertui-probe-")
        os.close(fd)
        os.unlink(probe)
    except (NotADirectoryError, FileExistsError):
        raise ConfigError(field, f"cannot create {folder}: a part of its path is not a folder") from None
    except PermissionError:
        raise ConfigError(field, f"cannot write into {folder} (permission denied)") from None
    except OSError as exc:
        reason = "read-only file system" if exc.errno == errno.EROFS else describe_os_error(exc)
        raise ConfigError(field, f"cannot write into {folder} ({reason})") from None
    return folder
