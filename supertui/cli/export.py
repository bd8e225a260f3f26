"""`supertui export RUN [RUN ...]`: publication-quality figures of saved runs (PNG or SVG), or
their history as tables (CSV, parquet, JSON: engine.export.tables)."""

from __future__ import annotations

import sys
from pathlib import Path

from supertui.cli.common import check_out_folder, graceful_sigint, open_store, report_skipped, resolve_run_ids, safe_text

DEFAULT_OUT = "supertui-figures"


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser(
        "export",
        description=(
            "Write each run's figures (its preset's figure and its loss curves) and, for several runs of one "
            "preset, the combined figure (D* of all activations on one axis, phase diagrams or WᵀW rows as "
            "small multiples). Prints each path written. Existing files are refused unless --force. "
            "With --format csv, parquet or json, writes instead each run's history as tables: the loss history "
            "in long form (step, instance, loss and the instance's grid values), the D* history and the "
            "per-point metrics, with the config (in Python: engine.export.tables.load_run_tables)."
        ),
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run id(s) or unique prefixes (see `supertui runs`)")
    p.add_argument("--sweep", metavar="ID", help="the sweep's summary figure (final loss and its experiment's headline "
                                                 "metric against the swept fields; see `supertui sweeps`)")
    p.add_argument("--out", "-o", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the figures, created if needed (default: ./{DEFAULT_OUT})")
    p.add_argument("--format", "-f", choices=("png", "svg", "csv", "parquet", "json"), default="png", dest="fmt",
                   help="figures: png (200 dpi) or svg; tables: csv, parquet (needs pyarrow) or json (default: png)")
    p.add_argument("--force", action="store_true", help="overwrite figures that already exist")
    p.add_argument("--reference", metavar="FILE",
                   help="published curves to overlay on the D* figures: CSV (header x,y,label) or JSON "
                        "({\"curves\": [{\"label\", \"x\", \"y\"}]}); a label names the activation it is held "
                        "against, and the mean absolute error per label is printed")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.errors import ConfigError, StoreError
    from engine.export import export_runs, export_sweep

    check_out_folder(args.out)
    reference = None
    if args.reference:
        from engine.science.reference_curves import load_reference

        reference = load_reference(args.reference)  # a bad file stops here: one line, exit 2
    store = open_store(args)
    if not args.runs and not args.sweep:
        raise ConfigError("runs", "name at least one run to export, or --sweep ID")
    if args.fmt in ("csv", "parquet", "json"):
        return export_tables(store, args)
    records = [store.load(run_id) for run_id in resolve_run_ids(store, args.runs)]
    if reference and not records:
        raise ConfigError("reference", "overlays the D* figures of runs: name the runs to hold it against")
    sweep = store.load_sweep(args.sweep) if args.sweep else None
    from engine.sweeps.refine import is_refinement
    if records:  # first: export_runs refuses a reference without a D* figure before writing anything
        # Each path is printed as it lands: if the disk fills up half way, what was written is known.
        with graceful_sigint("supertui: stopping after this figure (Ctrl+C again to abort)") as stop:
            def written(path: Path) -> None:
                print(safe_text(path), flush=True)
                if stop.is_set():
                    raise ExportStopped

            try:
                export_runs(records, Path(args.out), fmt=args.fmt, force=args.force, on_written=written,
                            reference=reference)
            except ExportStopped:
                print("supertui: export stopped; the figures above are complete", file=sys.stderr)
                return 130
        if reference:
            print_reference_errors(records, reference)
    if sweep is not None and is_refinement(sweep):  # a refinement's one figure: its points and boundary
        from engine.export.refine_figure import export_refinement

        print(safe_text(export_refinement(store, sweep, Path(args.out), fmt=args.fmt, force=args.force)))
    elif sweep is not None:
        members = []
        for run_id in sweep["runs"]:
            try:
                members.append(store.load(run_id))
            except (StoreError, ConfigError) as exc:  # deleted or unreadable: the figure shows the rest
                if (store.runs_dir / str(run_id)).is_dir():
                    report_skipped(store.runs_dir / str(run_id), str(exc))
        print(safe_text(export_sweep(sweep["id"], members, Path(args.out), fmt=args.fmt, force=args.force)))
    return 0


def export_tables(store, args) -> int:
    """Each run's history as tables; printed path by path, as figures are."""
    from engine.errors import ConfigError
    from engine.export.tables import write_run_tables

    if args.sweep or args.reference:
        field = "sweep" if args.sweep else "reference"
        raise ConfigError(field, f"applies to figures (png, svg), not to --format {args.fmt}: name the sweep's runs instead")
    records = [store.load(run_id) for run_id in resolve_run_ids(store, args.runs)]
    for record in records:
        for path in write_run_tables(record, Path(args.out), args.fmt, force=args.force):
            print(safe_text(path), flush=True)
    return 0


class ExportStopped(Exception):
    """Ctrl+C between two figures."""


def print_reference_errors(records, reference) -> None:
    """One line per reference label: its MAE against the run of that activation, or why none."""
    from engine.export import reference_errors
    from engine.science.reference_curves import MAE_DEFINITION

    print(f"reference ({MAE_DEFINITION}):")
    for label, record, error in reference_errors(records, reference):
        if record is None:
            print(f"  {safe_text(label)}: no run of that activation draws D* here")
            continue
        far = f", matched x up to ×{error.worst_x_factor:.2f} apart" if error.worst_x_factor > 1.01 else ""
        print(f"  {safe_text(label)}: MAE {error.mae:.4f} over {error.points} point(s) against run {record.id}{far}")
