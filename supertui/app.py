"""The supertui app: the run store, the training queue and the screens, wired together."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding

from engine.store import RunStore
from supertui.commands import SupertuiCommands
from supertui.jobs import JobQueue
from supertui.messages import ExportFinished, JobFailed, JobFinished, JobProgress, JobStarted, JobUpdated, JobWarning, RunsChanged


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
    ]

    def __init__(self, data_dir: str | Path | None = None):
        super().__init__()
        self.store = RunStore(data_dir)
        self.queue = JobQueue(self, self.store)

    def get_default_screen(self):
        from supertui.screens.runs import RunsScreen

        return RunsScreen()

    # Screens ------------------------------------------------------------------------------
    def action_help(self) -> None:
        from supertui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_new_run(self) -> None:
        from supertui.screens.launch import LaunchScreen

        self.push_screen(LaunchScreen())

    def open_run(self, run_id: str) -> None:
        from supertui.screens.run_view import RunViewScreen

        job = self.queue.job_for_run(run_id)
        if job is not None and job.active:
            self.push_screen(RunViewScreen.for_job(job))
        else:
            self.push_screen(RunViewScreen.for_record(self.store.load(run_id)))

    def open_job(self, job) -> None:
        from supertui.screens.run_view import RunViewScreen

        self.push_screen(RunViewScreen.for_job(job))

    def open_compare(self, run_ids: list[str]) -> None:
        if len(run_ids) < 2:
            self.notify("Mark two or more runs with space first, then press c.", severity="warning")
            return
        from supertui.screens.compare import CompareScreen

        self.push_screen(CompareScreen([self.store.load(run_id) for run_id in run_ids]))

    def action_compare_marked(self) -> None:
        from supertui.screens.runs import RunsScreen

        runs = next((s for s in self.screen_stack if isinstance(s, RunsScreen)), None)
        self.open_compare(runs.marked_ids() if runs else [])

    def action_show_data_dir(self) -> None:
        path = str(self.store.data_dir)
        self.copy_to_clipboard(path)
        self.notify(f"{path}\n(copied to the clipboard)", title="Data directory")

    # Quitting -----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        if self.queue.running is None:
            self.exit(0)
            return
        from supertui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._cancel_and_exit(), name="quit", exclusive=True)

        self.push_screen(
            ConfirmScreen("A run is still training. Stop it, save it as cancelled, and quit?", yes="Stop and quit"),
            answered,
        )

    async def _cancel_and_exit(self) -> None:
        self.notify("Stopping the run and saving it…")
        self.queue.cancel_all()
        await self.queue.wait_idle()
        self.exit(0)

    def on_unmount(self) -> None:
        # However the app ends (even by a crash), no training thread outlives it: each stops
        # within a step and saves its run as cancelled.
        self.queue.cancel_all()

    # Worker messages (posted from the training thread) -------------------------------------
    def on_job_started(self, message: JobStarted) -> None:
        self._broadcast(self.queue.on_started(message))
        self.post_message(RunsChanged())

    def on_job_progress(self, message: JobProgress) -> None:
        self._broadcast(self.queue.on_progress(message))

    def on_job_warning(self, message: JobWarning) -> None:
        self._broadcast(self.queue.on_warning(message))
        self.notify(message.text, title="Training", severity="warning")

    def on_job_finished(self, message: JobFinished) -> None:
        job = self.queue.on_finished(message)
        self._broadcast(job)
        self.post_message(RunsChanged())
        if job is not None:
            self.notify(f"{message.run_id} {message.status}", title=job.label)

    def on_job_failed(self, message: JobFailed) -> None:
        job = self.queue.on_failed(message)
        self._broadcast(job)
        self.post_message(RunsChanged())
        self.notify(message.error, title="Training failed", severity="error", timeout=10)

    def on_export_finished(self, message: ExportFinished) -> None:
        if message.error:
            self.notify(message.error, title="Export failed", severity="error", timeout=10)
        else:
            self.notify(f"{len(message.paths)} file(s) in {message.out_dir}", title="Exported")

    def on_runs_changed(self, message: RunsChanged) -> None:
        for screen in self.screen_stack:
            screen.post_message(RunsChanged())

    def job_queue_changed(self) -> None:
        """Screens call this after submitting or cancelling, so every queue view redraws."""
        for job in self.queue.jobs:
            self._broadcast(job)

    def _broadcast(self, job) -> None:
        if job is None:
            return
        for screen in self.screen_stack:
            screen.post_message(JobUpdated(job))


def run_app(data_dir: str | None = None) -> int:
    app = SupertuiApp(data_dir)
    app.run()
    return app.return_code or 0
