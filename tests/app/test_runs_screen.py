"""The runs table: hundreds of runs, filter, sort, marks, tags and notes, delete with a question."""

from __future__ import annotations

import json

from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.screens.confirm import ConfirmScreen
from supertui.screens.edit_meta import EditMetaScreen
from supertui.screens.runs import RunsScreen
from supertui.widgets.runs_table import PAGE, RunsTable
from tests.app.fixtures import make_fake_runs


async def test_three_hundred_runs_list_filter_and_sort(tmp_path):
    make_fake_runs(tmp_path, 300)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        assert table.total_rows == 300 and table.row_count == PAGE  # the rest is added as the cursor nears it
        assert table.current_run_id == "fake-0299"  # newest first
        await pilot.press("slash", *"gelu odd")
        assert table.row_count == len([i for i in range(300) if i % 7 == 2 and i % 2])
        assert all(r.activation == "gelu" and "odd" in r.tags for r in table.visible_records())
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.focused is table
        await pilot.press("escape")
        assert table.total_rows == 300
        while table.sort_column != "loss":  # s: the sort moves one column to the right
            await pilot.press("s")
        losses = [r.final_loss for r in table.visible_records()]
        assert losses == sorted(losses)
        await pilot.press("S")  # S: reversed
        losses = [r.final_loss for r in table.visible_records()]
        assert losses == sorted(losses, reverse=True)


async def test_marks_pick_the_runs_to_compare(tmp_path):
    make_fake_runs(tmp_path, 5)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await pilot.press("space", "down", "space")
        assert screen.marked_ids() == ["fake-0004", "fake-0002"]
        await pilot.press("escape")
        assert screen.marked_ids() == []
        await pilot.press("c")  # fewer than two: a warning, no screen change
        assert isinstance(app.screen, RunsScreen)


async def test_delete_asks_first(tmp_path):
    make_fake_runs(tmp_path, 3)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert table.row_count == 3 and (tmp_path / "runs" / "fake-0002").is_dir()
        await pilot.press("d")
        await pilot.press("y")
        await pilot.pause()
        assert table.row_count == 2
        assert not (tmp_path / "runs" / "fake-0002").exists()


async def test_tags_and_note_are_saved_in_the_manifest(tmp_path):
    make_fake_runs(tmp_path, 2)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, EditMetaScreen)
        app.screen.query_one("#tags").value = "baseline, relu-vs-gelu"
        app.screen.query_one("#note").value = "the first sweep"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
    manifest = json.loads((tmp_path / "runs" / "fake-0001" / "manifest.json").read_text())
    assert manifest["tags"] == ["baseline", "relu-vs-gelu"]
    assert manifest["note"] == "the first sweep"
    assert RunStore(tmp_path).load("fake-0001").note == "the first sweep"


async def test_enter_opens_a_saved_run(saved_runs):
    from supertui.screens.run_view import RunViewScreen

    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunViewScreen)
        assert app.screen.record.id == "run-dims-gelu"  # the newest fixture
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_empty_data_dir_says_how_to_start(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        empty = app.screen.query_one("#runs-empty")
        assert empty.display and "Press n" in str(empty.render())
