"""Waiting in tests that start real processes: poll a condition, with a hang guard (never a
timing assertion: the guard only turns a hang into a failure that says what it waited for)."""

from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 90.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {predicate.__doc__ or predicate}")
