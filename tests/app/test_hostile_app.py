"""The app writes only what the store will read back, and a data directory it cannot write is one
line, never an exit (issue 26 class 3), driven through the Pilot as a person would."""

from __future__ import annotations

import json
import random
import subprocess

from engine.bounds import TEXT_MAX_CHARS
from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.screens.edit_meta import EditMetaScreen
from supertui.screens.launch import LaunchScreen
from supertui.screens.runs import RunsScreen
from tests.app.fixtures import make_fake_runs

RANDOM = random.Random(263)


def too_long_values() -> list[tuple[str, str]]:
    """(field, value) pairs just over, well over and far over the bound the store reads with."""
    lengths = [TEXT_MAX_CHARS + 1, 100_000, *RANDOM.sample(range(TEXT_MAX_CHARS + 2, 150_000), 2)]
    cases = [("note", RANDOM.choice("xyzé∑") * length) for length in lengths]
    cases += [("tags", "ok, " + "t" * length) for length in lengths[:2]]
    return cases


CASES = too_long_values()


async def test_a_note_or_tag_too_long_to_read_back_is_one_line_in_the_form_and_never_saved(tmp_path):
    make_fake_runs(tmp_path, 2)
    manifest_path = tmp_path / "runs" / "fake-0001" / "manifest.json"
    before = manifest_path.read_bytes()
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, EditMetaScreen)
        for field, value in CASES:
            screen.query_one("#tags").value = value if field == "tags" else "kept"
            screen.query_one("#note").value = value if field == "note" else "kept"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is screen, field  # the form stays open with what was typed
            error = str(screen.query_one("#error").render())
            assert error.startswith(f"{field}: ") and "at most 65,536" in error and "\n" not in error, error[:200]
            assert manifest_path.read_bytes() == before  # nothing saved
        screen.query_one("#tags").value = "baseline"
        screen.query_one("#note").value = "n" * TEXT_MAX_CHARS  # exactly the bound: saved
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
    record = RunStore(tmp_path).load("fake-0001")  # and read back: the run is not hidden
    assert record.note == "n" * TEXT_MAX_CHARS and record.tags == ["baseline"]
    assert [r.id for r in RunStore(tmp_path).listing()] == ["fake-0001", "fake-0000"]
    print(f"{len(CASES)} generated too-long notes and tags")


def test_the_store_refuses_what_it_could_not_read_back(tmp_path):
    """The same bound below the form: a script calling update_meta cannot hide a run either."""
    import pytest

    from engine.errors import ConfigError

    make_fake_runs(tmp_path, 1)
    store = RunStore(tmp_path)
    before = (tmp_path / "runs" / "fake-0000" / "manifest.json").read_bytes()
    for field, value in CASES:
        with pytest.raises(ConfigError, match=f"^{field}: "):
            store.update_meta("fake-0000", **({"note": value} if field == "note" else {"tags": value.split(",")}))
    assert (tmp_path / "runs" / "fake-0000" / "manifest.json").read_bytes() == before


async def test_starting_a_run_on_a_read_only_data_dir_is_one_line_and_the_app_stays_open(tmp_path):
    import pytest

    from tests.conftest import mounted_tmpfs

    data_dir = tmp_path / "ro"
    with mounted_tmpfs(data_dir, "size=8m"):
        make_fake_runs(data_dir, 1)
        done = subprocess.run(["mount", "-o", "remount,ro", str(data_dir)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only: {done.stderr.decode().strip()}")
        before = sorted(p.name for p in (data_dir / "runs").iterdir())
        app = SupertuiApp(data_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            for attempt in range(2):  # and again: still one line, still open
                await pilot.press("n")
                await pilot.pause()
                assert isinstance(app.screen, LaunchScreen)
                await pilot.press("ctrl+r")
                await pilot.pause()
                assert isinstance(app.screen, LaunchScreen) and app.is_running
                messages = [n.message for n in app._notifications]
                assert messages and "read-only file system" in messages[-1] and "\n" not in messages[-1], messages
                await pilot.press("escape")
                await pilot.pause()
            assert isinstance(app.screen, RunsScreen)
        assert sorted(p.name for p in (data_dir / "runs").iterdir()) == before
        assert json.loads((data_dir / "runs" / before[0] / "manifest.json").read_text())["id"] == before[0]
