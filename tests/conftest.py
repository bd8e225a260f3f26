"""Every test runs against its own data directory: the real user data directory is never touched.

Runs train in worker processes that a scheduler starts (engine.jobs.scheduler); both are real
processes. Here the scheduler retires two seconds after its queue empties, and whatever a test
left running on its data directory is killed when the test ends, so tests never leak processes.
Every app sees a truecolor terminal unless a test says otherwise, so pictures do not depend on
the TERM of whoever runs the tests (widgets quantise their colours to the terminal's system).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest


def processes_using(data_dir: Path) -> list[int]:
    """Pids of processes whose command line names `data_dir` (schedulers and workers)."""
    needle = str(data_dir).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_processes_using(data_dir: Path) -> None:
    for pid in processes_using(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch, request):
    data_dir = tmp_path_factory.mktemp("supertui-data")
    monkeypatch.setenv("SUPERTUI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPERTUI_SCHEDULER_IDLE", "2")
    # The app's settings (theme, columns, last launch form) go to a folder of the test's own.
    monkeypatch.setenv("SUPERTUI_CONFIG_DIR", str(tmp_path_factory.mktemp("supertui-config")))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLORTERM", "truecolor")
    # A test that keeps its runs in tmp_path instead: its processes go too.
    other = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield data_dir
    kill_processes_using(data_dir)
    if other is not None:
        kill_processes_using(other)


@pytest.fixture
def unprivileged():
    """A context manager that drops to an unprivileged user where the tests run as root (file
    permissions do not stop root), so a permission test meets a real permission error. Use it
    with `public_data_dir`, which that user can reach. Modules are imported before dropping."""
    import contextlib

    @contextlib.contextmanager
    def drop():
        if os.geteuid() != 0:
            yield
            return
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)

    return drop


@pytest.fixture
def public_data_dir(monkeypatch):
    """A data directory any user can reach (tmp_path is private to the user running pytest)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="supertui-public-"))
    path.chmod(0o755)
    monkeypatch.setenv("SUPERTUI_DATA_DIR", str(path))
    yield path
    for folder, dirs, _ in os.walk(path):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str):
    """A small tmpfs at `path` (root only); skips the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited filesystem needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the filesystem of `folder` until about `leave` bytes are free."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler", "wb") as fh:
        try:
            fh.write(bytes(max(0, free - leave)))
        except OSError:
            pass
