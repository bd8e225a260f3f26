"""How numbers read for people, the same in the app and on the command line (no textual import)."""

from __future__ import annotations


def format_seconds(seconds: float | None) -> str:
    """3600 -> "1h00m", 75 -> "1m15s", 8 -> "8s"; unknown -> "–"."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
