"""Children that must not outlive their parent (compile helpers, the served app's tab apps).

On Linux the kernel delivers a signal to a child when the thread that made it dies
(PR_SET_PDEATHSIG), even when the parent is killed with SIGKILL and runs no clean-up. Elsewhere
the child is left as before: `die_with_parent` is a no-op there."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies. Meant as a Popen
    `preexec_fn` (it runs in the child between fork and exec, and the setting survives the exec).
    If the parent is already gone by then, exit at once rather than live on as an orphan."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
