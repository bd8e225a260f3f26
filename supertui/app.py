"""The supertui app: a client of the data directory. It lists and opens runs, submits new ones to
the queue and tails the live ones; it never trains. Runs go on when it quits."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from engine.errors import ConfigError, StoreError
from engine.store.runs import RunStore
from supertui.commands import SupertuiCommands
from supertui.live_runs import LIST_EVERY, PROGRESS_INTERVAL, LiveRuns
from supertui.messages import ExportFinished, LiveRunUpdated, RunsChanged

HEARTBEAT_SECONDS = 10.0  # the scheduler keeps a warm worker while an app says it is here


class SupertuiApp(App[int]):
    TITLE = "supertui"
    SUB_TITLE = "superposition in toy models"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {SupertuiCommands}
    # Narrow terminals stack the panes of a screen; short ones shrink them.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app.help", key_display="?"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, show=False),
        Binding("f2", "toggle_dark", "Dark/light theme (kept for next time)", id="app.theme", show=False),
    ]

    def __init__(self, data_dir: str | Path | None = None):
        super().__init__()
        self.store = RunStore(data_dir)
        self.live_runs = LiveRuns(self.store)
        self._ticks = 0
        self._heartbeat = None

    def get_default_screen(self):
        from supertui.screens.runs import RunsScreen

        return RunsScreen()

    def on_mount(self) -> None:
        self._restore_theme()
        self.set_interval(PROGRESS_INTERVAL, self._follow_live_runs)
        self.call_after_refresh(self._first_look)

    def _first_look(self) -> None:
        """After the first paint: find the live runs, and wake the scheduler for a queue that
        waits (a scheduler that died, a machine that rebooted)."""
        self._follow_live_runs(list_runs=True)
        if any(run.status == "queued" for run in self.live_runs.runs.values()):
            self.wake_scheduler()

    def _restore_theme(self) -> None:
        """The theme chosen last time (ctrl+t or the palette's theme picker), kept from now on."""
        from supertui.settings import load_settings

        theme = load_settings().get("theme")
        if theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, self._keep_theme)

    def _keep_theme(self, theme) -> None:
        self.keep_setting("theme", theme.name)

    def keep_setting(self, key: str, value) -> None:
        """Save one setting for the next session (supertui.settings), off the event loop."""
        from supertui.settings import save_setting

        def save() -> None:
            problem = save_setting(key, value)
            if problem:
                self.call_from_thread(self.notify, problem, severity="warning", markup=False)

        self.run_worker(save, thread=True, group="settings", exclusive=False)

    # The queue ------------------------------------------------------------------------------
    def wake_scheduler(self) -> None:
        """Make sure the data directory's scheduler runs (it then keeps a worker warm while this
        app is open, so a launch starts training at once)."""
        from engine.jobs.scheduler import ensure_scheduler, heartbeat

        try:
            self._heartbeat = heartbeat(self.store)
            ensure_scheduler(self.store)
        except OSError as exc:
            self.notify(f"cannot start the scheduler: {exc}", severity="error", markup=False)

    def _follow_live_runs(self, list_runs: bool = False) -> None:
        self._ticks += 1
        if list_runs or self._ticks % LIST_EVERY == 0:
            try:
                changed, ended = self.live_runs.refresh()
            except OSError as exc:
                self.log.error(f"listing live runs failed: {exc}")
                return
            for run in changed + ended:
                self._broadcast(run)  # screens update their rows: no full reload of the run list
            for run in ended:
                self._announce_end(run)
            if self._heartbeat is not None and self._ticks % int(HEARTBEAT_SECONDS / PROGRESS_INTERVAL) == 0:
                self._heartbeat.touch()
        for run in self.live_runs.poll():
            self._broadcast(run)

    def _announce_end(self, run) -> None:
        record = run.record
        if record.status == "failed":
            self.notify(record.error or "no reason recorded", title=f"{run.label} failed", severity="error", timeout=10, markup=False)
        else:
            self.notify(f"{record.id} {record.status}", title=run.label, markup=False)

    def _broadcast(self, run) -> None:
        for screen in self.screen_stack:
            screen.post_message(LiveRunUpdated(run))

    def submit(self, points: list, sweep=None, executor: dict | None = None) -> list:
        """Queue runs (sweep points from engine.sweeps.plan) and wake the scheduler; returns the
        queued records, already followed."""
        from engine.sweeps.plan import new_sweep_id

        sweep_id = new_sweep_id(points[0].config.preset) if sweep is not None else None
        records = []
        for point in points:
            extra = {"executor": executor} if executor else {}
            if sweep_id:
                extra["sweep"] = {"id": sweep_id, "axes": point.axes}
            records.append(self.store.submit(point.config, extra=extra))
        if sweep_id:
            self.store.record_sweep(sweep_id, sweep.describe(), [r.id for r in records])
        self.wake_scheduler()
        for record in records:
            self._broadcast(self.live_runs.follow(record))
        return records

    # Screens ------------------------------------------------------------------------------
    def action_help(self) -> None:
        from supertui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_new_run(self) -> None:
        from supertui.screens.launch import LaunchScreen

        self.wake_scheduler()  # a worker warms up while the form is filled in
        self.push_screen(LaunchScreen())

    def open_run(self, run_id: str, instead_of_this_screen: bool = False) -> None:
        """Show a run; with instead_of_this_screen, in place of the current screen (the launch
        form), so the screen beneath is not woken and redrawn on the way: the run view and its
        first loss point come a few tenths of a second sooner, and Back leads past the form."""
        from supertui.screens.run_view import RunViewScreen

        try:
            record = self.store.load(run_id)
        except (StoreError, ConfigError) as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        live = self.live_runs.get(run_id) or (self.live_runs.follow(record) if record.is_live else None)
        view = RunViewScreen(record, live)
        if instead_of_this_screen:
            self.switch_screen(view)
        else:
            self.push_screen(view)

    def open_compare(self, run_ids: list[str]) -> None:
        if len(run_ids) < 2:
            self.notify("Mark two or more runs with space first, then press c.", severity="warning")
            return
        from supertui.screens.compare import CompareScreen

        try:
            records = [self.store.load(run_id) for run_id in run_ids]
        except (StoreError, ConfigError) as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.push_screen(CompareScreen(records))

    def action_compare_marked(self) -> None:
        from supertui.screens.runs import RunsScreen

        runs = next((s for s in self.screen_stack if isinstance(s, RunsScreen)), None)
        self.open_compare(runs.marked_ids() if runs else [])

    def action_show_data_dir(self) -> None:
        path = str(self.store.data_dir)
        self.copy_to_clipboard(path)
        self.notify(f"{path}\n(copied to the clipboard)", title="Data directory", markup=False)

    # Quitting -----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        self.exit(0)

    def on_unmount(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.unlink(missing_ok=True)

    def farewell(self) -> str | None:
        """What to say on the terminal after quitting: runs go on without the app."""
        training = len(self.live_runs.training)
        queued = len(self.live_runs.runs) - training
        if not training and not queued:
            return None
        parts = [f"{training} training" if training else "", f"{queued} queued" if queued else ""]
        return (f"supertui: your runs go on without the app ({', '.join(p for p in parts if p)}); "
                f"`supertui jobs` lists them, `supertui` shows them live again.")

    # Background work ------------------------------------------------------------------------
    def on_export_finished(self, message: ExportFinished) -> None:
        if message.error:
            self.notify(message.error, title="Export failed", severity="error", timeout=10, markup=False)
        else:
            self.notify(f"{len(message.paths)} file(s) in {message.out_dir}", title="Exported", markup=False)

    def on_runs_changed(self, message: RunsChanged) -> None:
        for screen in self.screen_stack:
            screen.post_message(RunsChanged())


def run_app(data_dir: str | None = None) -> int:
    app = SupertuiApp(data_dir)
    app.run()
    message = app.farewell()
    if message:
        print(message, file=sys.stderr)
    return app.return_code or 0
