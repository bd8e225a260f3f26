"""Colours that exist in the terminal's colour system, for colours that carry meaning.

Left to itself, Rich downgrades a 24-bit colour to the nearest entry a 256- or 16-colour terminal
has, by a distance that ignores hue: RdBu's strong red becomes magenta (#AF005F) in 256 colours,
and in 16 colours blue turns cyan and red turns yellow. So the widgets whose colours are data
(the WᵀW scale, the phase grid) quantise themselves onto entries chosen here, by the colour system
the app's console detected (`app.console.color_system`: COLORTERM=truecolor or 24bit gives
"truecolor", TERM=*-256color gives "256", any other TERM "standard", the 16 colours).

Each palette entry is handed over as the exact RGB that Rich maps back to that same entry.
Textual passes RGB colours through as they are (it rewrites only palette colours, into its own
theme's RGB, which for red is #F4005F), so the terminal receives the entry chosen here.
"""

from __future__ import annotations

from functools import lru_cache

from rich._palettes import EIGHT_BIT_PALETTE, STANDARD_PALETTE, WINDOWS_PALETTE
from rich.color import Color

from supertui.widgets.palette import DIVERGING_LEVELS, _diverging_color_at

TRUECOLOR, EIGHT_BIT, STANDARD, WINDOWS = "truecolor", "256", "standard", "windows"

# RdBu's nine classes on the 256-colour cube, most negative first: the nearest entry in CIELAB
# that keeps the hue (blue stays blue, red stays red), lightness falling away from white on both
# sides (L* 40 57 70 84 | 100 | 89 78 56 36).
DIVERGING_256: tuple[int, ...] = (25, 68, 110, 153, 231, 224, 216, 167, 124)
# The 16-colour scale: blue, bright blue, bright white, bright red, red. The terminal's theme
# decides the exact shades; these are the only entries that read blue-white-red in most themes.
DIVERGING_16: tuple[int, ...] = (4, 12, 15, 9, 1)
NAN_COLOR = "#6E6E6E"  # a NaN entry (a diverged model): grey, off the scale
NAN_256, NAN_16 = 242, 8
# palette.PHASE_COLORS in 16 colours, where Rich would turn both blue and green into cyan.
PHASE_COLORS_16: dict[str, int] = {"feature1": 4, "feature2": 3, "superposition": 2, "neither": 8}
BRIGHT_WHITE = 15
# Partial opacity in 16 colours, where no paler shade exists: a shade glyph in the colour over
# bright white covers about this fraction of the cell.
SHADE_GLYPHS: tuple[tuple[float, str], ...] = ((0.25, "░"), (0.5, "▒"), (0.75, "▓"))


def color_system(widget) -> str | None:
    """The colour system of the app `widget` is mounted in: 'truecolor', '256', 'standard',
    'windows', or None for a terminal without colour. Truecolor when not mounted."""
    try:
        return widget.app.console.color_system
    except Exception:  # noqa: BLE001 - not mounted in an app (yet)
        return TRUECOLOR


def is_sixteen(system: str | None) -> bool:
    return system in (STANDARD, WINDOWS)


@lru_cache(maxsize=64)
def palette_color(number: int, system: str | None) -> Color:
    """Palette entry `number` (0-255) as the RGB that `system` shows as that entry: for the first
    16, the RGB of the 16-colour palette `system` matches against (Windows has its own)."""
    if number < 16:
        table = WINDOWS_PALETTE if system == WINDOWS else STANDARD_PALETTE
        return Color.from_triplet(table[number])
    return Color.from_triplet(EIGHT_BIT_PALETTE[number])


@lru_cache(maxsize=4 * (2 * DIVERGING_LEVELS + 1))
def diverging_color(level: int, system: str | None) -> Color:
    """Colour of a quantised diverging level (-DIVERGING_LEVELS..DIVERGING_LEVELS, 0 is zero) in
    `system`: the interpolated RdBu map in truecolor, else the nearest class of that system's scale."""
    if is_sixteen(system):
        return palette_color(_scale_entry(DIVERGING_16, level), system)
    if system == EIGHT_BIT:
        return palette_color(_scale_entry(DIVERGING_256, level), system)
    return _diverging_color_at(level)


def nan_color(system: str | None) -> Color:
    if is_sixteen(system):
        return palette_color(NAN_16, system)
    if system == EIGHT_BIT:
        return palette_color(NAN_256, system)
    return Color.parse(NAN_COLOR)


def shade_glyph(opacity: float) -> str | None:
    """The shade glyph nearest `opacity`, or None for a solid cell."""
    if opacity >= 0.875:
        return None
    return min(SHADE_GLYPHS, key=lambda entry: abs(entry[0] - opacity))[1]


def _scale_entry(scale: tuple[int, ...], level: int) -> int:
    half = len(scale) // 2
    return scale[half + round(level / DIVERGING_LEVELS * half)]
