"""The app under bad data (issue 15): every damaged manifest of tests/test_bad_data.py at once,
a renamed run folder and a config key that reads as markup. The app starts, names the skipped
folders in a notice as plain text, lists the rest, and its filter, sort and Enter never raise,
whatever is typed (`[/` included)."""

from __future__ import annotations

import shutil

from rich.text import Text

from supertui.app import SupertuiApp
from supertui.screens.run_view import RunViewScreen
from supertui.screens.runs import RunsScreen
from supertui.widgets.run_columns import COLUMNS
from supertui.widgets.runs_table import PAGE, RunsTable
from tests.app.fixtures import make_fake_runs
from handmade import edit_manifest, write_run
from test_bad_data import CASES, GOOD, config_field

MARKUP_KEY = ("config-key-markup", config_field("[/x]", 1), "skip:[/x]")


def victim_id(i: int) -> str:
    return f"20260101-11{i // 60:02d}{i % 60:02d}-custom-relu-{i:08x}"


def damaged_data_dir(data_dir):
    """A good run, one run per damaged-manifest case, and a copy of the good run under a name
    that is no run id; returns the ids that must be listed and those that must be skipped."""
    write_run(data_dir, GOOD)
    listed, skipped = {GOOD}, set()
    for i, (_, edit, expect) in enumerate(CASES + [MARKUP_KEY]):
        run_id = victim_id(i)
        victim = write_run(data_dir, run_id)
        if callable(edit):
            edit_manifest(victim, edit)
        else:
            (victim / "manifest.json").write_bytes(edit if isinstance(edit, bytes) else edit.encode())
        (listed if expect == "list" else skipped).add(run_id)
    shutil.copytree(data_dir / "runs" / GOOD, data_dir / "runs" / "zz run (copy)")
    skipped.add("zz run (copy)")
    return listed, skipped


async def test_damaged_runs_never_break_start_up_filter_sort_or_enter(tmp_path):
    listed, skipped = damaged_data_dir(tmp_path)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        assert {r.id for r in table.visible_records()} == listed
        notice = next(n for n in app._notifications if n.title.startswith("Skipped"))
        assert notice.title == f"Skipped {len(skipped)} unreadable run folder(s)" and not notice.markup
        for text in ("[/", "[/x]", "[bold red]x", "\x1b[31m", "relu [/", "zz", ""):
            table.focus()
            await pilot.press("slash")
            app.screen.query_one("#filter").value = text
            await pilot.pause()
            assert table.row_count <= len(listed)
            str(app.screen.query_one("#runs-empty").render())  # the "no match" line draws
        await pilot.press("slash", *"[/", "enter")  # typed key by key, as a person would
        await pilot.pause()
        assert table.row_count == 0 and isinstance(app.screen, RunsScreen)
        await pilot.press("escape")
        assert table.row_count == len(listed)
        for column in COLUMNS:  # every column a person can sort by
            table.sort_by(column)
            table.sort_by(column)
            await pilot.pause()
        app.save_screenshot(str(tmp_path / "shot.svg"))  # every listed run's cells render
        for row in range(table.row_count):
            table.move_cursor(row=row)
            await pilot.press("enter")
            await pilot.pause()
            if isinstance(app.screen, RunViewScreen):
                await pilot.press("escape")
                await pilot.pause()
            assert isinstance(app.screen, RunsScreen)


async def test_a_filter_that_reads_as_markup_matches_as_plain_text(tmp_path):
    write_run(tmp_path, GOOD, tags=["[/x]"], note="[bold]not bold[/bold]")
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(RunsTable)
        await pilot.press("slash", *"[/x]")
        await pilot.pause()
        assert table.current_run_id == GOOD
        tags = table.get_row(GOOD)[[key for _, key in table.shown_columns()].index("tags")]
        assert isinstance(tags, Text) and tags.plain.startswith("[/x]")
        await pilot.press("escape", "slash", *"[/nomatch")
        await pilot.pause()
        empty = app.screen.query_one("#runs-empty")
        assert table.row_count == 0 and empty.display and "[/nomatch" in str(empty.render())


async def test_many_runs_put_only_a_page_of_rows_in_the_table(tmp_path):
    make_fake_runs(tmp_path, 1_200)  # distinct times; enough to need paging; 10,000 is benchmarks/listing.py's and by hand
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        assert table.row_count == PAGE and table.total_rows == 1_200
        assert table.current_run_id == "fake-1199"
        for _ in range(PAGE // 10):
            await pilot.press("pagedown")
        await pilot.pause()
        assert table.row_count > PAGE and table.cursor_row > PAGE - PAGE // 4  # the next page came in
        await pilot.press("slash", *"odd")
        await pilot.pause()
        expected = [i for i in range(1_200) if i % 2]
        assert table.total_rows == len(expected) and table.row_count < len(expected)  # the cursor's run and a page after it
        assert app.screen.marked_ids() == []
        await pilot.press("enter")
        current = table.current_run_id  # the cursor stays on its run when it still matches
        assert int(current[-4:]) in expected
        await pilot.press("space")
        assert app.screen.marked_ids() == [current]
        app.screen.mark([f"fake-{expected[0]:04d}"])  # a run of the filtered list that is not shown yet
        assert app.screen.marked_ids() == [f"fake-{expected[0]:04d}"]


async def test_the_apps_export_never_overwrites_an_earlier_export(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        for round_ in (1, 2):
            await pilot.press("e")
            await pilot.pause()
            for _ in range(1200):  # the figures are drawn in a worker thread
                if all(w.is_finished for w in app.workers if w.group == "export"):
                    break
                await pilot.pause(0.1)
            await pilot.pause()
            failed = [n.message for n in app._notifications if n.title == "Export failed"]
            assert not failed, failed
            if round_ == 1:
                first = {p: p.stat().st_mtime_ns for p in (saved_runs / "exports").iterdir()}
                assert first
    assert {p: p.stat().st_mtime_ns for p in (saved_runs / "exports").iterdir()} == first
    assert sorted(p.name for p in (saved_runs / "exports-2").iterdir()) == sorted(p.name for p in first)
    assert all(p.resolve().parent == saved_runs.resolve() / "exports" for p in first)
