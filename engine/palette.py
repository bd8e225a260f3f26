"""The one palette of supertui: the app's panes and the exported figures read their colours here.

Plain hex strings (no torch, no matplotlib, no Rich), so `supertui/widgets/palette.py` and
`engine/export/style.py` both build on the same values and an activation, a phase or a feature has
one colour on a dark terminal and on white paper alike. Categories use Okabe & Ito's palette
(distinguishable under the common colour-vision deficiencies) extended with Paul Tol's muted set;
black is left out because it vanishes on a dark terminal.
"""

from __future__ import annotations

import zlib

# Okabe-Ito without black, then Tol's muted colours: features, and anything else categorical.
CATEGORICAL: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#88CCEE",  # Tol cyan
    "#44AA99",  # Tol teal
    "#999933",  # Tol olive
    "#CC6677",  # Tol rose
    "#AA4499",  # Tol purple
    "#DDCC77",  # Tol sand
    "#BBBBBB",  # grey
)

# The blog's seven activations. Each colour reads on a black terminal and on white paper (no
# yellow, no black); GeLU and SiLU, whose curves nearly coincide, get clearly different hues.
ACTIVATION_COLORS: dict[str, str] = {
    "linear": "#999999",  # the baseline: neutral grey
    "relu": "#D55E00",  # vermillion
    "gelu": "#56B4E9",  # sky blue
    "silu": "#009E73",  # bluish green
    "sigmoid": "#E69F00",  # orange
    "tanh": "#0072B2",  # blue
    "solu": "#CC79A7",  # reddish purple
}
# Activations users add by name get one of these, by a stable hash of the name.
FALLBACK_COLORS: tuple[str, ...] = ("#88CCEE", "#44AA99", "#999933", "#CC6677", "#AA4499", "#DDCC77")

PHASE_COLORS: dict[str, str] = {
    "feature1": "#0072B2",  # blue
    "feature2": "#E69F00",  # orange
    "superposition": "#009E73",  # bluish green
    "neither": "#6E6E6E",  # grey: readable as a cell on black and on white
}

# Partner kinds of the correlated-features experiment.
PAIR_COLORS: dict[str, str] = {
    "correlated": "#CC79A7",  # reddish purple
    "anticorrelated": "#009E73",  # bluish green
}

# Sequential scale for a value in [0, 1] (superposition of a feature): viridis's stops, dark for
# none, bright yellow for a feature sharing its whole direction.
SEQUENTIAL_STOPS: tuple[str, ...] = ("#440154", "#3B528B", "#21918C", "#5EC962", "#FDE725")


def activation_color(name: str) -> str:
    """Hex colour of an activation; unknown names hash to a stable fallback colour."""
    key = name.lower()
    if key in ACTIVATION_COLORS:
        return ACTIVATION_COLORS[key]
    return FALLBACK_COLORS[zlib.crc32(key.encode()) % len(FALLBACK_COLORS)]


def feature_color(index: int) -> str:
    """Colour of feature i (cycles after len(CATEGORICAL) features)."""
    return CATEGORICAL[index % len(CATEGORICAL)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def sequential_color(value: float) -> str:
    """Colour of a value in [0, 1] on SEQUENTIAL_STOPS (clipped; NaN gives the lowest stop)."""
    t = 0.0 if value != value else min(max(float(value), 0.0), 1.0)
    position = t * (len(SEQUENTIAL_STOPS) - 1)
    i = min(int(position), len(SEQUENTIAL_STOPS) - 2)
    f = position - i
    lo, hi = hex_to_rgb(SEQUENTIAL_STOPS[i]), hex_to_rgb(SEQUENTIAL_STOPS[i + 1])
    return "#{:02X}{:02X}{:02X}".format(*(round(a + (b - a) * f) for a, b in zip(lo, hi)))


def label_color(label: str, index: int | None = None) -> str:
    """Colour of a curve label: an activation's own colour, else a categorical one by position
    (or by a stable hash of the label when no position is given)."""
    if label.lower() in ACTIVATION_COLORS:
        return ACTIVATION_COLORS[label.lower()]
    if index is None:
        index = zlib.crc32(label.encode())
    return CATEGORICAL[index % len(CATEGORICAL)]


def _activation_of(label: str) -> str | None:
    """The activation a curve label names: the whole label or its first word ('relu · 9978')."""
    key = label.lower()
    if key in ACTIVATION_COLORS:
        return key
    first = key.replace("·", " ").replace("(", " ").replace(":", " ").split()
    return first[0] if first and first[0] in ACTIVATION_COLORS else None


def label_colors(labels: list[str]) -> dict[str, str]:
    """Distinct colours for the curves of one plot, stable across plots: a label naming an
    activation gets that activation's colour (the first such label, if several share one); any
    other label gets the colour its name hashes to, or, when an earlier label on the same plot
    took that one, the next free colour."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for label in labels:
        activation = _activation_of(label)
        if activation is not None and ACTIVATION_COLORS[activation] not in taken:
            out[label] = ACTIVATION_COLORS[activation]
        else:
            start = zlib.crc32(label.encode()) % len(CATEGORICAL)
            free = [CATEGORICAL[(start + i) % len(CATEGORICAL)] for i in range(len(CATEGORICAL))]
            out[label] = next((c for c in free if c not in taken), free[0])
        taken.add(out[label])
    return out
