"""Published curves held over the D* panes: the file a user named this session, and the words the
panes show about it (engine.science.reference_curves reads and checks the file and computes the MAE).

The app keeps one overlay per session (per app process): chosen with `o` in a view with a D*
pane, it stays for every D* pane opened afterwards until another file (or none) is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.science.reference_curves import ReferenceCurve, curve_error, matching

_ATTRIBUTE = "supertui_reference_overlay"


@dataclass(frozen=True)
class Overlay:
    path: str
    curves: tuple[ReferenceCurve, ...]


def current(app) -> Overlay | None:
    """The overlay chosen this session, if any."""
    return getattr(app, _ATTRIBUTE, None)


def remember(app, overlay: Overlay | None) -> None:
    setattr(app, _ATTRIBUTE, overlay)


def overlay_curves(overlay: Overlay | None, run_curves: dict[str, tuple]) -> tuple[dict, str]:
    """The reference curves to draw beside these run curves ({label: (x, y)}, labels naming
    activations) and a one-line summary: ({"ref <label>": (x, y, the run label it is held
    against)}, "ref: sigmoid MAE 0.012 · …").
    Only curves whose label names a drawn run are drawn and scored."""
    if overlay is None:
        return {}, ""
    drawn, parts = {}, []
    for label, (x, y) in run_curves.items():
        for curve in matching(list(overlay.curves), label):
            drawn[f"ref {curve.label}"] = (curve.x, curve.y, label)
            parts.append(f"{curve.label} MAE {curve_error(curve, np.asarray(x), np.asarray(y)).mae:.3g}")
    if not parts:
        return {}, f"ref: no curve for {', '.join(run_curves) or 'these runs'}"
    return drawn, "ref: " + " · ".join(parts) + " (mean |Δy| at the nearest x)"
