"""`supertui export RUN [RUN ...]`: publication-quality figures of saved runs (PNG or SVG)."""

from __future__ import annotations

from pathlib import Path

from supertui.cli.common import open_store, resolve_run_ids

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
    from engine.errors import ConfigError
    from engine.export import export_runs, export_sweep

    store = open_store(args)
    if not args.runs and not args.sweep:
        raise ConfigError("runs", "name at least one run to export, or --sweep ID")
    records = [store.load(run_id) for run_id in resolve_run_ids(store, args.runs)]
    if args.sweep:
        sweep = store.load_sweep(args.sweep)
        members = [store.load(run_id) for run_id in sweep["runs"] if (store.runs_dir / run_id).is_dir()]
        print(export_sweep(sweep["id"], members, Path(args.out), fmt=args.fmt, force=args.force))
    if records:
        for path in export_runs(records, Path(args.out), fmt=args.fmt, force=args.force):
            print(path)
    return 0
