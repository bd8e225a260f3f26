"""The queue table keeps every column on screen at 80 columns (`uses` was off-screen): where the
full forms would crowd the names, progress and uses take their short forms, and a name still
too long ends in …."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from textual.app import App, ComposeResult

from engine.system.resources import ResourceSample
from supertui.widgets.job_queue import MIN_NAME, NAME_WANTED, JobQueueTable


def fake_run(run_id: str, name: str, status: str = "running", gpu: bool = False):
    state = SimpleNamespace(step=1200, fraction_done=0.42, steps_per_second=1234.0, seconds_left=4321.0, stage="compiling")
    resources = ResourceSample(398.0, 3 << 30, 87.0 if gpu else None, (5 << 30) // 4 if gpu else None)
    return SimpleNamespace(id=run_id, active=True, status=status, record=SimpleNamespace(name=name),
                           where="cuda:0" if gpu else "cpu", state=state, resources=resources)


LONG = "dims-relu-n400m30-lr0.001-initxavier_batched-wd0.01"
SHORT = [fake_run("b", "phase-relu-40x40"), fake_run("c", "sparsity-gelu-n10m5", status="queued")]


class QueueApp(App):
    def compose(self) -> ComposeResult:
        yield JobQueueTable(id="queue")


@pytest.mark.parametrize("width, long_name", [(80, True), (120, True), (80, False), (120, False)])
async def test_every_queue_column_fits_the_screen(width, long_name):
    runs = [fake_run("a", LONG if long_name else "dims-relu-n40m4", gpu=True), *SHORT]
    app = QueueApp()
    async with app.run_test(size=(width, 24)) as pilot:
        table = app.query_one(JobQueueTable)
        table.show_runs(runs)
        await pilot.pause()
        assert sum(column.get_render_width(table) for column in table.ordered_columns) <= width - 2
        uses, progress = str(table.get_cell("a", "uses")), str(table.get_cell("b", "progress"))
        assert "gpu 87%" in uses and "cpu 398%" in uses and "…" not in uses  # never cut
        assert progress.startswith(" 42%") and "1h12m left" in progress
        names = [str(table.get_cell(key, "run")) for key in "abc"]
        if width == 80:  # the shortest forms, and a name cut where it must be
            assert "it/s" not in progress and uses == "cpu 398% 3.0G gpu 87% 1.2G"
            assert all(n == r.record.name or (n.endswith("…") and len(n) >= MIN_NAME) for n, r in zip(names, runs))
        else:  # the speed without the stage; a name cut only past NAME_WANTED
            assert names[1:] == [r.record.name for r in runs[1:]]
            assert names[0] == runs[0].record.name or (long_name and len(names[0]) > NAME_WANTED)
            assert "1,234 it/s" in progress and "(eager" not in progress
