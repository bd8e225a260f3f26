"""`?` lists every key by screen; ctrl+p offers supertui's own commands."""

from __future__ import annotations

from textual.command import CommandList

from supertui.app import SupertuiApp
from supertui.screens.help import HelpScreen, is_moving, screen_groups
from supertui.screens.launch import LaunchScreen
from supertui.screens.runs import RunsScreen


def test_every_binding_has_an_id_and_a_description():
    for title, bindings in screen_groups(None, SupertuiApp.BINDINGS)[1:]:  # [0] is "Everywhere"
        for binding in bindings:
            if is_moving(binding):
                continue  # cursor keys of a widget: listed under "Moving"
            assert binding.id, f"{title}: {binding.key} has no id"
            assert binding.description, f"{title}: {binding.key} has no description"


async def test_help_lists_every_screen(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        titles = [group.name for group in app.screen.query(".help-group")]
        assert titles[0] == "Runs (home) (this screen)" and titles[1].startswith("Moving")
        assert titles[2:] == ["Everywhere", "Launch", "Run view", "Compare", "Sweep summary", "Columns",
                              "Tags, note and name", "Confirm", "Reference file", "Phase grid pane", "Seed grid pane"]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


def help_rows(screen: HelpScreen) -> dict[str, list[tuple[str, str]]]:
    from supertui.screens.help import _rows

    return {title: _rows(bindings) for title, bindings in screen.groups}


async def test_help_opens_at_the_run_view_with_its_pane_keys_and_arrows_once_each(saved_runs):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run("run-phase-relu")
        await pilot.pause(0.5)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = help_rows(app.screen)
        first, moving = list(rows)[:2]
        assert first == "Run view (this screen)" and moving.startswith("Moving")
        described = dict((d, k) for k, d in rows[first])
        assert described["Boundary"] == "b" and described["Seed view"] == "v"  # the grids' own keys
        moves = " ".join(k for k, _ in rows[moving])
        assert all(arrow in moves for arrow in "←→↑↓") and " j" in moves and " k" in moves
        for title, group in rows.items():
            descriptions = [d for _, d in group]
            assert len(descriptions) == len(set(descriptions)), title  # no key listed twice
        assert "Run view" not in list(rows)[2:]  # not again further down


async def test_command_palette_starts_a_new_run(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"new run")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)


def palette_names(app) -> list[str]:
    """The command names the open palette lists (each option is 'name\nhelp')."""
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]


async def test_command_palette_names_are_unique(empty_data_dir):
    """Issue 12: the palette listed two entries named "Keys", ours (the help screen) and
    Textual's own (its key panel for the focused widget)."""
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.5)
        names = palette_names(app)
        assert "Keys" in names and len(names) == len(set(names)), names
        await pilot.press(*"keys")
        await pilot.pause(0.5)
        matches = palette_names(app)
        assert len(matches) == len(set(matches)) >= 2, matches
        await pilot.press(*["backspace"] * 4, *"help")
        await pilot.pause(0.5)
        assert palette_names(app)[0] == "Help (?): every key, by screen"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
