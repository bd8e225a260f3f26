"""The look shared by every exported figure.

matplotlib is heavy, so nothing imports it at module level: `import engine` stays light. Figures
are plain `matplotlib.figure.Figure` objects drawn on the Agg canvas (headless, no pyplot, no
global figure registry), so they can be made from a worker thread of the app. Our rc settings
apply only inside `styled` functions (a caller's own matplotlib defaults are left alone).
"""

from __future__ import annotations

import functools
import io
from typing import Any, Callable, TypeVar

from engine.palette import PHASE_COLORS as PHASE_COLOURS  # noqa: F401  (one palette for the app and the PNGs)
from engine.palette import SEQUENTIAL_STOPS, activation_color

DPI = 200  # raster figures; print wants >= 150

PHASE_LABELS = {
    "feature1": "feature 1 only",
    "feature2": "feature 2 only",
    "superposition": "superposition (both)",
    "neither": "neither",
}
# A marker and a dash per activation (its colour comes from engine.palette), so curves stay
# apart in greyscale print too.
_ACTIVATION_MARKS = {
    "linear": ("o", (0, ())),
    "relu": ("s", (0, ())),
    "gelu": ("^", (0, (5, 2))),
    "silu": ("v", (0, (1, 1.5))),
    "sigmoid": ("D", (0, (6, 2, 1, 2))),
    "tanh": ("P", (0, (3, 1, 1, 1, 1, 1))),
    "solu": ("X", (0, (8, 3))),
}
_SPARE_MARKS = [("h", (0, (2, 2))), ("*", (0, (4, 1, 1, 1)))]
DIVERGING_CMAP = "RdBu_r"  # ColorBrewer RdBu: colour-blind safe, red positive, blue negative
SEQUENTIAL_CMAP = "viridis"  # perceptually uniform, colour-blind safe, prints in greyscale

_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    "svg.fonttype": "none",  # text stays text in SVG
    "svg.hashsalt": "supertui",  # deterministic SVG ids
}


F = TypeVar("F", bound=Callable[..., Any])


def styled(fn: F) -> F:
    """Run fn under supertui's matplotlib rc settings."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_RC):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float, **kwargs: Any):
    """A figure of exactly width x height inches (constrained layout keeps the size fixed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained", **kwargs)


@styled
def render(fig, fmt: str = "png") -> bytes:
    """The figure as file bytes. The canvas is the figure's own size (no tight cropping), so a
    figure's pixel size is its inches times DPI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    metadata = {"Software": "supertui"} if fmt == "png" else {"Creator": "supertui", "Date": None}
    fig.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def activation_style(name: str, index: int = 0) -> dict[str, Any]:
    marker, dash = _ACTIVATION_MARKS.get(name.lower(), _SPARE_MARKS[index % len(_SPARE_MARKS)])
    return {"color": activation_color(name), "marker": marker, "linestyle": dash}


# The 2nd, 3rd... run of one activation in a figure: its colour stays, its line and marker change.
_REPEAT_MARKS = [("D", (0, (1, 1.5))), ("P", (0, (6, 2, 1, 2))), ("X", (0, (3, 3)))]


def repeat_style(style: dict[str, Any], repeat: int) -> dict[str, Any]:
    """`style` for the `repeat`-th further run of the same activation (0: unchanged)."""
    if repeat <= 0:
        return style
    marker, dash = _REPEAT_MARKS[(repeat - 1) % len(_REPEAT_MARKS)]
    return {**style, "marker": marker, "linestyle": dash}


def format_density(d: float) -> str:
    return f"{d:.3g}"


def sequential_cmap():
    """engine.palette's sequential stops as a colormap (superposition colouring of feature norms)."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("supertui_sequential", list(SEQUENTIAL_STOPS))


def clipped_artists(fig) -> list[str]:
    """What of a drawn figure lies outside its canvas, as `kind 'text'` lines (empty when nothing
    does). Figures have a fixed size and no tight cropping, so anything past the edge is cut off
    in the file: every axes (its title, axis labels and the tick labels it draws, its legend) and
    every figure-level text and legend is measured after a draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    width, height = fig.bbox.width, fig.bbox.height
    slack = 1.0  # pixels: anti-aliasing and rounding

    def outside(box) -> bool:
        return box.x0 < -slack or box.y0 < -slack or box.x1 > width + slack or box.y1 > height + slack

    found = []
    for ax in fig.axes:
        if ax.get_visible() and outside(ax.get_tightbbox(renderer)):
            found.append(f"axes {ax.get_title() or ax.get_ylabel() or ax.get_xlabel()!r}")
    for text in dict.fromkeys([*fig.texts, fig._suptitle, fig._supxlabel, fig._supylabel]):
        if text is not None and text.get_visible() and text.get_text() and outside(text.get_window_extent(renderer)):
            found.append(f"text {text.get_text()!r}")
    for legend in fig.legends:
        if legend.get_visible() and outside(legend.get_window_extent(renderer)):
            found.append(f"legend {[t.get_text() for t in legend.get_texts()]!r}")
    return found


def legend_columns(labels: list[str], width_inches: float, most: int = 7) -> int:
    """How many legend entries fit side by side across `width_inches` at the legend's 8 points
    (about 0.065 inch a character, plus the handle and the gap): long labels get fewer columns."""
    entry = 0.065 * max((len(label) for label in labels), default=1) + 0.55
    return max(1, min(len(labels), most, int(width_inches / entry)))
