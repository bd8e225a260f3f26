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


def format_headline(headline: dict | None, unknown: str = "–") -> str:
    """A run's headline number (its summary's, engine.store.manifest.headline_of) in the
    experiment's word or two: `D* 0.148`, `superposed 0.750`, `represented 10`; empty when the
    run has none (saved before runs kept it, or not finished), `unknown` for a number it lost."""
    if not headline:
        return ""
    value = headline["value"]
    if value is None:
        number = unknown
    elif value == int(value) and abs(value) < 1e6:
        number = str(int(value))  # a count: features represented
    else:
        number = f"{value:#.3g}"  # three significant digits kept: 1.00, 0.150
    return " ".join(filter(None, [headline["name"], number]))


def format_uses(sample, short: bool = False) -> str:
    """What a worker uses (engine.system.resources.ResourceSample): `cpu 98% · 312 MiB · gpu 87%
    1.2 GiB`; short: `cpu 98% 312M gpu 87% 1.2G`; '' when nothing is known."""
    if sample is None:
        return ""
    if not short:
        return sample.describe()
    from engine.system.resources import format_bytes

    def compact(count: int) -> str:
        number, unit = format_bytes(count).split()
        return number + unit[0]  # 312 MiB -> 312M

    parts = [] if sample.cpu_percent is None else [f"cpu {sample.cpu_percent:.0f}%"]
    if sample.rss_bytes is not None:
        parts.append(compact(sample.rss_bytes))
    if sample.gpu_util_percent is not None:
        parts.append(f"gpu {sample.gpu_util_percent:.0f}%")
    if sample.gpu_memory_bytes is not None:
        parts.append(("" if sample.gpu_util_percent is not None else "gpu ") + compact(sample.gpu_memory_bytes))
    return " ".join(parts)
