"""PNG export of saved runs, off the event loop (matplotlib takes seconds for a big run)."""

from __future__ import annotations

from supertui.messages import ExportFinished

EXPORT_DIR = "exports"


def export_in_background(app, records: list) -> None:
    """Write PNGs of `records` under <data dir>/exports; the app is told by ExportFinished.

    Never overwrites: when these figures exist there already (an earlier export), they go to
    the first free numbered folder beside it (exports-2, exports-3, ...), which the notice names."""
    records = [r for r in records if r.has_arrays]
    if not records:
        app.notify("Nothing to export: the run has no saved arrays yet.", severity="warning")
        return
    base = app.store.data_dir / EXPORT_DIR

    def export() -> None:
        from engine.export import export_runs, free_destination, plan_exports

        out_dir = base
        try:
            out_dir = free_destination(base, [p.path.name for p in plan_exports(records, base, "png")])
            paths = export_runs(records, out_dir, fmt="png", force=False)
        except Exception as exc:
            app.post_message(ExportFinished([], str(out_dir), f"{type(exc).__name__}: {exc}"))
        else:
            app.post_message(ExportFinished([str(p) for p in paths], str(out_dir)))

    app.notify(f"exporting {len(records)} run(s) to {base}…", timeout=3, markup=False)
    app.run_worker(export, name="export", group="export", thread=True, exit_on_error=False)


def export_sweep_in_background(app, sweep_id: str, records: list) -> None:
    """The sweep's summary figure under <data dir>/exports (or the first free numbered folder
    beside it, never over an earlier export); the app is told by ExportFinished."""
    base = app.store.data_dir / EXPORT_DIR

    def export() -> None:
        from engine.export import export_sweep, free_destination
        from engine.store.runs import validate_run_id

        out_dir = base
        try:
            out_dir = free_destination(base, [f"{validate_run_id(sweep_id)}.png"])
            path = export_sweep(sweep_id, records, out_dir, fmt="png", force=False)
        except Exception as exc:
            app.post_message(ExportFinished([], str(out_dir), f"{type(exc).__name__}: {exc}"))
        else:
            app.post_message(ExportFinished([str(path)], str(out_dir)))

    app.notify(f"exporting the summary of {sweep_id} to {base}…", timeout=3, markup=False)
    app.run_worker(export, name="export", group="export", thread=True, exit_on_error=False)
