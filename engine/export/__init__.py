"""Publication-quality figures of saved runs (matplotlib, headless Agg backend).

    export_runs(records, out_dir, fmt="png", force=False) -> [paths written]

One run gives the figures its experiment names (WᵀW rows, a phase diagram, a D* curve, partner
pairs...) and its loss curves; several runs sharing an experiment's compare figure also give that
combined figure. Every figure is rendered to bytes
first and then written under a temporary name and renamed, and existing files are refused
unless force. matplotlib is imported on first use only, so `import engine` stays light.

Runs are untrusted input: a file name is built only from parts that match a plain-name pattern
(run ids, activation names; anything else becomes a hash) and every path is checked to stay
inside the destination, which is checked (a folder, writable) before anything is drawn. A
diverged instance draws blank, and the figure says how many diverged.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import ConfigError, StoreError, SupertuiError
from engine.experiments import experiment_for
from engine.store.manifest import is_safe_name
from engine.system.files import check_writable_folder
from engine.store.runs import RunRecord, atomic_write_bytes

FORMATS = ("png", "svg")
SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,250}$")  # no separator, no hidden file
# What each single-run figure holds, as the file-name suffix: <run-id>_<suffix>.<fmt>
SINGLE_FIGURES = {
    "wtw": "WᵀW per density with neuron-feature weight bars and feature norms by superposition",
    "phase": "phase diagram with the exact ReLU boundary",
    "seeds": "every seed of a phase grid: shares per phase, loss gap, each seed's own diagram",
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


def drawable(record: RunRecord) -> RunRecord:
    """The run as figures draw it: a diverged instance's weights are NaN, so it draws blank and
    never sets a scale (its frozen weights are often huge). The saved run is not touched."""
    a = record.arrays
    diverged = np.asarray(a.diverged, dtype=bool)
    if not diverged.any():
        return record
    blank = np.float32(np.nan)
    masked = dataclasses.replace(
        a,
        W=np.where(diverged[:, None, None], blank, a.W),  # [K, m, n]
        b=np.where(diverged[:, None], blank, a.b),  # [K, n]
        snapshots=np.where(diverged[None, :, None, None], blank, a.snapshots),  # [S, K, m, n]
    )
    view = copy.copy(record)
    view.__dict__["arrays"] = masked  # RunRecord.arrays is a cached property
    return view


def note_diverged(fig, records: list[RunRecord]) -> None:
    """Say on the figure how many instances diverged (they are drawn blank)."""
    diverged = sum(int(np.asarray(r.arrays.diverged, dtype=bool).sum()) for r in records)
    if diverged:
        total = sum(len(r.arrays.diverged) for r in records)
        # supxlabel: the constrained layout keeps room for it under everything else
        fig.supxlabel(f"{diverged} of {total} instances diverged (loss NaN or inf): drawn blank, never a point's best",
                      fontsize=7, color="#b2182b")


def figure_builder(kind: str, records: list[RunRecord], reference=None) -> Callable[[], object]:
    """A function drawing figure `kind` (a FIGURES name) of one run, or the combined figure of
    several; `reference` (engine.science.reference_curves curves) is drawn over the D* figures."""
    from engine.export import compare, figures, seeds

    single = {"wtw": figures.figure_gram_row, "phase": figures.figure_phase, "seeds": seeds.figure_seeds,
              "dims": figures.figure_dims,
              "pairs": figures.figure_pairs, "cosine": figures.figure_partner_cosine, "loss": figures.figure_loss}
    many = {"wtw": compare.figure_compare_gram, "phase": compare.figure_compare_phase,
            "dims": compare.figure_compare_dims, "cosine": compare.figure_compare_cosine}
    extra = {"reference": reference} if kind == "dims" and reference else {}

    def build():
        views = [drawable(r) for r in records]
        fig = single[kind](views[0], **extra) if len(views) == 1 else many[kind](views, **extra)
        note_diverged(fig, records)
        return fig

    return build


def draws_dstar(record: RunRecord) -> bool:
    """Whether a run's figures include a D* curve (where a reference can be overlaid)."""
    return "dims" in figure_kinds(record) or compare_kind(record) == "dims"


def reference_errors(records: list[RunRecord], curves) -> list[tuple[str, RunRecord | None, object]]:
    """Each reference curve against the run of its label's activation (the first such run that
    draws D*): [(label, record or None, engine.science.reference_curves.CurveError or None)]."""
    from engine.export.figures import dims_curve
    from engine.science.reference_curves import curve_error

    out = []
    for curve in curves:
        record = next((r for r in records if draws_dstar(r) and r.activation.lower() == curve.label.lower()), None)
        if record is None:
            out.append((curve.label, None, None))
            continue
        run = dims_curve(record)
        out.append((curve.label, record, curve_error(curve, 1.0 / run.density, run.dstar)))
    return out


def compare_name(kind: str, records: list[RunRecord]) -> str:
    """compare_<what>_<n>runs_<activations>, or a short hash of the run ids where the
    activations repeat (two relu runs), would make the name too long, or are not plain names
    (a run folder is untrusted: its activation never becomes a path)."""
    activations = [r.activation for r in records]
    tail = "-".join(activations)
    if len(set(activations)) != len(activations) or len(tail) > 80 or not all(map(is_safe_name, activations)):
        tail = hashlib.sha1(",".join(sorted(r.id for r in records)).encode()).hexdigest()[:8]
    return f"compare_{COMPARE_FIGURES[kind]}_{len(records)}runs_{tail}"


def inside(out_dir: Path, name: str) -> Path:
    """out_dir / name, refused unless it is a plain file name that stays inside out_dir."""
    path = Path(out_dir) / name
    plain = bool(SAFE_FILE_NAME.match(name)) and ".." not in name
    if not plain or path.resolve().parent != Path(out_dir).resolve():
        raise StoreError(f"export: refusing to write {name!r}: it would not be a file inside {out_dir}")
    return path


def prepare_destination(out_dir: Path, field: str = "out") -> Path:
    """The destination, checked before anything is drawn or trained (engine.system.files)."""
    return check_writable_folder(out_dir, field)


def plan_exports(records: list[RunRecord], out_dir: Path, fmt: str = "png", reference=None) -> list[PlannedFigure]:
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
            planned.append(PlannedFigure(inside(out_dir, f"{record.id}_{kind}.{fmt}"), kind,
                                         figure_builder(kind, [record], reference)))
        if compare_kind(record) is not None:
            groups.setdefault(compare_kind(record), []).append(record)
    for kind, group in groups.items():
        if len(group) >= 2:
            name = compare_name(kind, group)
            planned.append(PlannedFigure(inside(out_dir, f"{name}.{fmt}"), f"compare_{kind}",
                                         figure_builder(kind, group, reference)))
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


def export_runs(records: list[RunRecord], out_dir: Path, fmt: str = "png", force: bool = False,
                on_written: Callable[[Path], None] | None = None, reference=None) -> list[Path]:
    """Write every figure of these runs into out_dir; returns the paths written (and tells
    on_written of each as it lands, so a disk that fills up half way still reports them).
    `reference`: published curves (engine.science.reference_curves) drawn over the D* figures; a
    reference for runs that draw no D* is refused.

    The destination and all names are checked before anything is drawn, so a refusal writes
    nothing; a write that fails later leaves the figures already written, never half a file."""
    if not records:
        raise ConfigError("runs", "name at least one run to export")
    check_format(fmt)
    out_dir = Path(out_dir)
    if not str(out_dir).strip():
        raise ConfigError("out", "is empty (give a folder for the figures)")
    if reference and not any(draws_dstar(r) for r in records):
        kinds = sorted({k for r in records for k in figure_kinds(r)})
        raise ConfigError("reference", f"overlays D* curves, and none of these runs draws one (their figures: "
                                       f"{', '.join(kinds)})")
    planned = plan_exports(records, out_dir, fmt, reference)
    refuse_existing([p.path for p in planned], force)
    prepare_destination(out_dir)
    written = []
    for p in planned:
        written.append(write_figure(p.build(), p.path, fmt))
        if on_written:
            on_written(written[-1])
    return written


def free_destination(base: Path, names: list[str], limit: int = 1000) -> Path:
    """`base`, or base-2, base-3 ...: the first folder where none of these file names exist yet,
    so an export never overwrites an earlier one (the app's rule; the CLI refuses instead)."""
    base = Path(base)
    for number in range(1, limit + 1):
        candidate = base if number == 1 else base.with_name(f"{base.name}-{number}")
        if not any((candidate / name).exists() for name in names):
            return candidate
    raise StoreError(f"export: {base} and {limit - 1} numbered folders beside it hold these figures already")


def export_sweep(sweep_id: str, records: list[RunRecord], out_dir: Path, fmt: str = "png", force: bool = False) -> Path:
    """The summary figure of a sweep: final loss and headline metric against its swept fields."""
    from engine.export.sweep import figure_sweep_summary
    from engine.store.runs import validate_run_id
    from engine.sweeps.summary import summarize

    path = inside(Path(out_dir), f"{validate_run_id(sweep_id)}.{check_format(fmt)}")
    refuse_existing([path], force)
    prepare_destination(out_dir)
    return write_figure(figure_sweep_summary(summarize(sweep_id, records)), path, fmt)


def export_input_batches(out_dir: Path, fmt: str = "png", force: bool = False, **kwargs) -> Path:
    """The blog's "input batches" figure (n=20, 100 samples, S=0.5 and S=0.99)."""
    from engine.export.figures import figure_input_batches

    path = Path(out_dir) / f"input_batches.{check_format(fmt)}"
    refuse_existing([path], force)
    prepare_destination(out_dir)
    return write_figure(figure_input_batches(**kwargs), path, fmt)


__all__ = [
    "export_sweep",
    "FORMATS", "FigureExistsError", "PlannedFigure", "check_format", "compare_kind", "compare_name", "export_input_batches",
    "drawable", "draws_dstar", "figure_builder", "free_destination", "inside", "prepare_destination", "reference_errors",
    "export_runs", "figure_kinds", "plan_exports", "refuse_existing", "write_figure",
]
