"""`supertui export RUN [RUN ...]`: publication-quality figures of saved runs (PNG or SVG)."""

from __future__ import annotations

import sys
from pathlib import Path

from supertui.cli.common import graceful_sigint, open_store, report_skipped, resolve_run_ids, safe_text

DEFAULT_OUT = "supertui-figures"


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser(
        "export",
        help="export saved runs as figures (PNG/SVG)",
        description=(
            "Write each run's figures (its preset's figure and its loss curves) and, for several runs of one "
            "preset, the combined figure (D* of all activations on one axis, phase diagrams or WᵀW rows as "
            "small multiples). Prints each path written. Existing files are refused unless --force."
        ),
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run id(s) or unique prefixes (see `supertui runs`)")
    p.add_argument("--sweep", metavar="ID", help="the sweep's summary figure (final loss and its experiment's headline "
                                                 "metric against the swept fields; see `supertui sweeps`)")
    p.add_argument("--out", "-o", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the figures, created if needed (default: ./{DEFAULT_OUT})")
    p.add_argument("--format", "-f", choices=("png", "svg"), default="png", dest="fmt",
                   help="png (200 dpi) or svg (default: png)")
    p.add_argument("--force", action="store_true", help="overwrite figures that already exist")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.errors import ConfigError, StoreError
    from engine.export import export_runs, export_sweep

    if not args.out.strip():
        raise ConfigError("out", "is empty (give a folder for the figures)")
    store = open_store(args)
    if not args.runs and not args.sweep:
        raise ConfigError("runs", "name at least one run to export, or --sweep ID")
    records = [store.load(run_id) for run_id in resolve_run_ids(store, args.runs)]
    if args.sweep:
        sweep = store.load_sweep(args.sweep)
        members = []
        for run_id in sweep["runs"]:
            try:
                members.append(store.load(run_id))
            except (StoreError, ConfigError) as exc:  # deleted or unreadable: the figure shows the rest
                if (store.runs_dir / str(run_id)).is_dir():
                    report_skipped(store.runs_dir / str(run_id), str(exc))
        print(safe_text(export_sweep(sweep["id"], members, Path(args.out), fmt=args.fmt, force=args.force)))
    if not records:
        return 0
    # Each path is printed as it lands: if the disk fills up half way, what was written is known.
    with graceful_sigint("supertui: stopping after this figure (Ctrl+C again to abort)") as stop:
        def written(path: Path) -> None:
            print(safe_text(path), flush=True)
            if stop.is_set():
                raise ExportStopped

        try:
            export_runs(records, Path(args.out), fmt=args.fmt, force=args.force, on_written=written)
        except ExportStopped:
            print("supertui: export stopped; the figures above are complete", file=sys.stderr)
            return 130
    return 0


class ExportStopped(Exception):
    """Ctrl+C between two figures."""
