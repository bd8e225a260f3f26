"""`?` lists every key by screen; ctrl+p offers supertui's own commands."""

from __future__ import annotations

from textual.command import CommandList

from supertui.app import SupertuiApp
from supertui.screens.help import HelpScreen, screen_groups
from supertui.screens.launch import LaunchScreen
from supertui.screens.runs import RunsScreen


def test_every_binding_has_an_id_and_a_description():
    for title, bindings in screen_groups()[1:]:
        for binding in bindings:
            assert binding.id, f"{title}: {binding.key} has no id"
            assert binding.description, f"{title}: {binding.key} has no description"


async def test_help_lists_every_screen(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        titles = [group.name for group in app.screen.query(".help-group")]
        assert titles == ["Everywhere", "Runs (home)", "Launch", "Run view", "Compare", "Dialogs"]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


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
