"""Publication-quality figures of saved runs (matplotlib, headless Agg backend).

    export_runs(records, out_dir, fmt="png", force=False) -> [paths written]

One run gives the figures its experiment names (WᵀW rows, a phase diagram, a D* curve, partner
pairs...) and its loss curves; several runs sharing an experiment's compare figure also give that
combined figure. Every figure is rendered to bytes
first and then written under a temporary name and renamed, and existing files are refused
unless force. matplotlib is imported on first use only, so `import engine` stays light.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.errors import ConfigError, StoreError, SupertuiError
from engine.experiments import experiment_for
from engine.store import RunRecord, atomic_write_bytes

FORMATS = ("png", "svg")
# What each single-run figure holds, as the file-name suffix: <run-id>_<suffix>.<fmt>
SINGLE_FIGURES = {
    "wtw": "WᵀW per density with neuron-feature weight bars and feature norms by superposition",
    "phase": "phase diagram with the exact ReLU boundary",
    "dims": "D* and each feature's D_i against 1/(1-S)",
    "pairs": "WᵀW per grid point with partner pairs outlined",
    "cosine": "cosine between partner features against density",
    "loss": "training loss of every instance",
}
# The combined figure of several runs, as the file-name part: compare_<part>_<n>runs_...
COMPARE_FIGURES = {
    "wtw": "wtw_rows",
    "phase": "phase",
    "dims": "dims_dstar",
    "cosine": "partner_cosine",
}


class FigureExistsError(SupertuiError):
    """An export would overwrite a file; the message names it."""

    def __init__(self, path: Path):
        super().__init__(f"{path}: already exists (pass --force to overwrite, or choose another --out)")
        self.path = path


@dataclass(frozen=True)
class PlannedFigure:
    path: Path
    kind: str  # a SINGLE_FIGURES key, "compare_<kind>" or "input_batches"
    build: Callable[[], object]  # -> matplotlib Figure


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError("format", f"unknown figure format {fmt!r} (accepted: {', '.join(FORMATS)})")
    return fmt


def figure_kinds(record: RunRecord) -> list[str]:
    """The figures one run gets: the ones its experiment names, then the loss curves."""
    return [*experiment_for(record.config).figures, "loss"]


def compare_kind(record: RunRecord) -> str | None:
    """The combined figure a run joins when several are exported together (its experiment's)."""
    return experiment_for(record.config).compare_figure


def figure_builder(kind: str, records: list[RunRecord]) -> Callable[[], object]:
    """A function drawing figure `kind` (a FIGURES name) of one run, or the combined figure of several."""
    from engine.export import compare, figures

    single = {"wtw": figures.figure_gram_row, "phase": figures.figure_phase, "dims": figures.figure_dims,
              "pairs": figures.figure_pairs, "cosine": figures.figure_partner_cosine, "loss": figures.figure_loss}
    many = {"wtw": compare.figure_compare_gram, "phase": compare.figure_compare_phase,
            "dims": compare.figure_compare_dims, "cosine": compare.figure_compare_cosine}
    if len(records) == 1:
        return lambda: single[kind](records[0])
    return lambda: many[kind](records)


def compare_name(kind: str, records: list[RunRecord]) -> str:
    """compare_<what>_<n>runs_<activations>, or a short hash of the run ids where the
    activations repeat (two relu runs) or would make the name too long."""
    activations = [r.activation for r in records]
    tail = "-".join(activations)
    if len(set(activations)) != len(activations) or len(tail) > 80:
        tail = hashlib.sha1(",".join(sorted(r.id for r in records)).encode()).hexdigest()[:8]
    return f"compare_{COMPARE_FIGURES[kind]}_{len(records)}runs_{tail}"


def plan_exports(records: list[RunRecord], out_dir: Path, fmt: str = "png") -> list[PlannedFigure]:
    """Every figure export_runs would write, in order, without rendering anything."""
    check_format(fmt)
    out_dir = Path(out_dir)
    planned: list[PlannedFigure] = []
    groups: dict[str, list[RunRecord]] = {}
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            continue
        seen.add(record.id)
        if not record.has_arrays:
            raise StoreError(f"run {record.id}: nothing to export (status {record.status}, no saved weights yet)")
        for kind in figure_kinds(record):
            planned.append(PlannedFigure(out_dir / f"{record.id}_{kind}.{fmt}", kind, figure_builder(kind, [record])))
        if compare_kind(record) is not None:
            groups.setdefault(compare_kind(record), []).append(record)
    for kind, group in groups.items():
        if len(group) >= 2:
            name = compare_name(kind, group)
            planned.append(PlannedFigure(out_dir / f"{name}.{fmt}", f"compare_{kind}", figure_builder(kind, group)))
    return planned


def refuse_existing(paths: list[Path], force: bool) -> None:
    if force:
        return
    for path in paths:
        if path.exists():
            raise FigureExistsError(path)


def write_figure(fig, path: Path, fmt: str | None = None) -> Path:
    """Render to bytes, then write atomically (a reader never sees half a PNG)."""
    from engine.export.style import render

    data = render(fig, fmt or path.suffix.lstrip("."))
    atomic_write_bytes(Path(path), data)
    return Path(path)


def export_runs(records: list[RunRecord], out_dir: Path, fmt: str = "png", force: bool = False) -> list[Path]:
    """Write every figure of these runs into out_dir; returns the paths written.

    All names are checked before anything is drawn, so a refusal writes nothing."""
    if not records:
        raise ConfigError("runs", "name at least one run to export")
    planned = plan_exports(records, Path(out_dir), fmt)
    refuse_existing([p.path for p in planned], force)
    return [write_figure(p.build(), p.path, fmt) for p in planned]


def export_sweep(sweep_id: str, records: list[RunRecord], out_dir: Path, fmt: str = "png", force: bool = False) -> Path:
    """The summary figure of a sweep: final loss and headline metric against its swept fields."""
    from engine.export.sweep import figure_sweep_summary
    from engine.store import validate_run_id
    from engine.sweep_summary import summarize

    path = Path(out_dir) / f"{validate_run_id(sweep_id)}.{check_format(fmt)}"
    refuse_existing([path], force)
    return write_figure(figure_sweep_summary(summarize(sweep_id, records)), path, fmt)


def export_input_batches(out_dir: Path, fmt: str = "png", force: bool = False, **kwargs) -> Path:
    """The blog's "input batches" figure (n=20, 100 samples, S=0.5 and S=0.99)."""
    from engine.export.figures import figure_input_batches

    path = Path(out_dir) / f"input_batches.{check_format(fmt)}"
    refuse_existing([path], force)
    return write_figure(figure_input_batches(**kwargs), path, fmt)


__all__ = [
    "export_sweep",
    "FORMATS", "FigureExistsError", "PlannedFigure", "check_format", "compare_kind", "compare_name", "export_input_batches",
    "figure_builder",
    "export_runs", "figure_kinds", "plan_exports", "refuse_existing", "write_figure",
]
