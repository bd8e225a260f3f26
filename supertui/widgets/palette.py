"""Colours of every pane, built on the one palette of `engine.palette` (the exported figures use
the same values), so relu is the same vermillion in the runs table, the D* plot, a comparison and
a PNG, and feature 3 has one colour everywhere.

Signed values use ColorBrewer's RdBu (blue negative, near-white 0, red positive), colour-blind
safe. Colours are given as 24-bit RGB; Textual downgrades them on 256-colour terminals.
"""

from __future__ import annotations

from functools import lru_cache

from rich.color import Color

from engine.palette import (  # noqa: F401  (re-exported: the widgets import colours from here)
    ACTIVATION_COLORS,
    CATEGORICAL,
    PAIR_COLORS,
    PHASE_COLORS,
    activation_color,
    feature_color,
    hex_to_rgb,
    label_color,
    label_colors,
    sequential_color,
)

PHASE_LABELS: dict[str, str] = {
    "feature1": "feature 1 only",
    "feature2": "feature 2 only",
    "superposition": "superposition",
    "neither": "neither",
}
# One character per phase for NO_COLOR terminals and for tests.
PHASE_GLYPHS: dict[str, str] = {"feature1": "1", "feature2": "2", "superposition": "S", "neither": "-"}

# ColorBrewer RdBu (9 classes), ordered from most negative to most positive.
_DIVERGING_STOPS: tuple[tuple[int, int, int], ...] = (
    (0x21, 0x66, 0xAC),
    (0x43, 0x93, 0xC3),
    (0x92, 0xC5, 0xDE),
    (0xD1, 0xE5, 0xF0),
    (0xF7, 0xF7, 0xF7),
    (0xFD, 0xDB, 0xC7),
    (0xF4, 0xA5, 0x82),
    (0xD6, 0x60, 0x4D),
    (0xB2, 0x18, 0x2B),
)
DIVERGING_LEVELS = 64  # per sign: fine enough to read, coarse enough to cache every Style






def phase_color(phase: str) -> str:
    return PHASE_COLORS[phase]


def blend(color: str, toward: str, amount: float) -> str:
    """Mix `amount` (0..1) of `toward` into `color`; used to lighten uncertain cells."""
    a, b = hex_to_rgb(color), hex_to_rgb(toward)
    mixed = (round(x + (y - x) * amount) for x, y in zip(a, b))
    return "#{:02X}{:02X}{:02X}".format(*mixed)


def diverging_level(value: float, vmax: float) -> int:
    """Quantised position of value on the ±vmax scale: -DIVERGING_LEVELS..DIVERGING_LEVELS."""
    if not vmax > 0 or value != value:  # no scale, or NaN: centre
        return 0
    t = max(-1.0, min(1.0, value / vmax))
    return round(t * DIVERGING_LEVELS)


@lru_cache(maxsize=2 * DIVERGING_LEVELS + 1)
def _diverging_color_at(level: int) -> Color:
    t = (level / DIVERGING_LEVELS + 1) / 2 * (len(_DIVERGING_STOPS) - 1)  # 0..8
    i = min(int(t), len(_DIVERGING_STOPS) - 2)
    f = t - i
    lo, hi = _DIVERGING_STOPS[i], _DIVERGING_STOPS[i + 1]
    r, g, b = (round(x + (y - x) * f) for x, y in zip(lo, hi))
    return Color.from_rgb(r, g, b)


def diverging(value: float, vmax: float) -> Color:
    """Colour of a signed value on a map centred on 0: blue (-vmax), near-white (0), red (+vmax).
    Values beyond ±vmax saturate; NaN and a zero scale give the centre colour."""
    return _diverging_color_at(diverging_level(value, vmax))
