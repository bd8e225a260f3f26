"""Settings that stay (issue 25.5): the theme (F2 switches dark and light), kept in the user config
directory (SUPERTUI_CONFIG_DIR here: a folder of the test's own), and one line to forget them."""

from __future__ import annotations

import json

from supertui.app import SupertuiApp
from supertui.cli import main
from supertui.settings import load_settings, settings_path


async def test_f2_switches_the_theme_and_the_next_session_starts_with_it(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        before = app.theme
        await pilot.press("f2")
        await pilot.pause()
        assert app.theme != before
        chosen = app.theme
        await app.workers.wait_for_complete()
    assert load_settings()["theme"] == chosen

    again = SupertuiApp(empty_data_dir)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == chosen


async def test_a_bad_settings_file_is_ignored_and_reset_forgets_it(empty_data_dir, capsys):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps({"theme": "no-such-theme", "runs_columns": "not a list", "other": 1}))
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme != "no-such-theme"
    assert main(["settings"]) == 0
    assert str(settings_path()) in capsys.readouterr().out
    assert main(["settings", "--reset"]) == 0
    assert capsys.readouterr().out.startswith("removed ") and not settings_path().exists()
    assert main(["settings", "--reset"]) == 0
    assert "nothing to reset" in capsys.readouterr().out
