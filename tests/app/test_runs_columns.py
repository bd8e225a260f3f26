"""The runs table's columns (issue 24.1, 25.2): numbers are never cut, tags stay on screen at 120
columns, any column sorts from the keyboard, the chooser's columns are kept for the next session,
and each run has a short name that is shown first and accepted wherever an id is."""

from __future__ import annotations

import json

import pytest

from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.screens.columns import ColumnsScreen, ColumnList
from supertui.screens.edit_meta import EditMetaScreen
from supertui.settings import load_settings, settings_path
from supertui.widgets.run_columns import COLUMNS, DEFAULT_COLUMNS, ELLIPSIS
from supertui.widgets.runs_table import RunsTable
from tests.app.fixtures import make_fake_runs


def cell_texts(table: RunsTable, key: str) -> list[str]:
    return [str(table.get_cell(row_key, key)) for row_key in table.rows]


def assert_numbers_whole(table: RunsTable) -> None:
    width = table.size.width
    assert 3 + sum(table.widths[k] + 2 for k in table.shown) <= width  # no column runs off screen
    for key in table.shown:
        if COLUMNS[key].number:
            for text in cell_texts(table, key):
                assert len(text) <= table.widths[key] and ELLIPSIS not in text, (key, text)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_no_number_is_cut_and_tags_show_at_120_columns(saved_runs, size):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one(RunsTable)
        # a run training now: its status is the longest text the status column takes
        table.set_live_status("run-phase-relu", "running 42%")
        await pilot.pause()
        assert "loss" in table.shown and "name" in table.shown and table.shown[0] == "name"
        assert_numbers_whole(table)
        assert "running 42%" in cell_texts(table, "status")
        if size[0] >= 120:
            assert "tags" in table.shown
        await pilot.press("w")  # one row per sweep: "best …" in the loss column, still whole
        await pilot.pause()
        assert "loss" in table.shown and (size[0] < 120 or "tags" in table.shown)
        assert_numbers_whole(table)


async def test_s_cycles_the_sort_column_and_S_reverses_it(tmp_path):
    make_fake_runs(tmp_path, 20)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        seen = []
        for _ in table.shown:
            await pilot.press("s")
            seen.append(table.sort_column)
        assert sorted(seen) == sorted(table.shown)  # every shown column, once
        while table.sort_column != "name":
            await pilot.press("s")
        names = [r.name for r in table.visible_records()]
        assert names == sorted(names)
        await pilot.press("S")
        assert [r.name for r in table.visible_records()] == sorted(names, reverse=True)
        assert str(table.columns["name"].label).endswith("▼")


async def test_j_and_k_move_the_cursor(tmp_path):
    make_fake_runs(tmp_path, 5)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1


async def test_chosen_columns_are_kept_for_the_next_session(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        assert isinstance(app.screen, ColumnsScreen)
        keys = list(COLUMNS)
        for key in ("spark", "created", "host", "config.lr"):  # hide two, show two
            app.screen.query_one(ColumnList).highlighted = keys.index(key)
            await pilot.press("space")
        await pilot.press("enter")
        await pilot.pause(0.3)
        table = app.screen.query_one(RunsTable)
        assert "spark" not in table.shown and "created" not in table.shown
        assert {"host", "config.lr"} <= set(table.shown)
        assert "fixture" in cell_texts(table, "host") and "0.003" in cell_texts(table, "config.lr")
    await app.workers.wait_for_complete() if app.workers else None
    saved = load_settings()["runs_columns"]
    assert "host" in saved and "spark" not in saved and settings_path().is_file()

    again = SupertuiApp(saved_runs)
    async with again.run_test(size=(120, 40)) as pilot:
        assert again.screen.query_one(RunsTable).chosen == saved


async def test_a_run_has_a_short_name_shown_first_editable_and_accepted_as_an_id(saved_runs):
    store = RunStore(saved_runs)
    assert store.resolve("phase-relu-5x5") == "run-phase-relu"  # fixture runs got their default names
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        assert table.columns[table.ordered_columns[1].key].label.plain.startswith("name")
        while table.current_run_id != "run-phase-relu":
            await pilot.press("j")
        await pilot.press("t")
        assert isinstance(app.screen, EditMetaScreen)
        app.screen.query_one("#name").value = "my-phase"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "my-phase" in cell_texts(table, "name")
    assert RunStore(saved_runs).resolve("my-phase") == "run-phase-relu"
    assert json.loads((saved_runs / "runs" / "run-phase-relu" / "manifest.json").read_text())["name"] == "my-phase"


async def test_the_experiments_headline_number_is_a_column_to_choose_and_sort(saved_runs):
    """Issue 25: `v` shows the headline number each run saved when it finished, in its
    experiment's words; `s` sorts by it; a run saved before runs kept it shows a blank, and an
    odd name from a run folder shows as the text it is, never as markup."""
    from handmade import edit_manifest

    runs = saved_runs / "runs"
    saved = {p.name: json.loads((p / "manifest.json").read_text())["summary"]["headline"] for p in runs.iterdir()}
    assert saved["run-phase-relu"]["name"] == "superposed" and saved["run-dims-relu"]["name"] == "D*"
    edit_manifest(runs / "run-dims-gelu", lambda m: m["summary"].pop("headline"))  # an older run
    edit_manifest(runs / "run-sparsity-gelu", lambda m: m["summary"]["headline"].update(name="[bold red]x"))
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        assert "headline" not in table.shown  # not a default column
        await pilot.press("v")
        app.screen.query_one(ColumnList).highlighted = list(COLUMNS).index("headline")
        await pilot.press("space", "enter")
        await pilot.pause(0.3)
        assert "headline" in table.shown
        cells = {str(row.value): str(table.get_cell(row, "headline")) for row in table.rows}
        value = saved["run-phase-relu"]["value"]
        assert cells["run-phase-relu"] == f"superposed {value:#.3g}"
        assert cells["run-dims-relu"].startswith("D* ") and cells["run-dims-gelu"] == ""
        assert cells["run-sparsity-gelu"].startswith("[bold red]x ")
        assert_numbers_whole(table)
        while table.sort_column != "headline":
            await pilot.press("s")
        order = [r.id for r in table.visible_records()]
        values = [saved[i]["value"] for i in order[:-1]]
        assert values == sorted(values) and order[-1] == "run-dims-gelu"  # the blank one last
