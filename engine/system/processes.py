"""Child processes of the engine (schedulers, workers, compile helpers): they import the very engine
this process runs, and the detached ones outlive the terminal that started them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def child_env() -> dict[str, str]:
    """The environment for a child: this process's, with the engine's own folder first on the
    path (wherever it was imported from) and OpenMP's idle threads sleeping, not spinning."""
    import engine

    root = str(Path(engine.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def spawn_detached(argv: list[str], log: Path, stdin=subprocess.DEVNULL, stdout=None) -> subprocess.Popen:
    """A process in its own session: no terminal, no SIGHUP when the SSH connection drops."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as log_file:
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout if stdout is not None else log_file,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
            cwd=str(log.parent),
            env=child_env(),
        )
