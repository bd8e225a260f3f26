"""The launch form as a new user met it (issue 24.13, 25.5): the summary follows the preset at
once and says what is per run and what is in all; fields the preset ignores are hidden; lists
say what they hide at 80x24; buttons read without colour; the last form is kept."""

from __future__ import annotations

from engine.presets import PRESETS
from engine.store.runs import RunStore
from supertui.app import SupertuiApp
from supertui.screens.launch import LaunchScreen
from supertui.settings import load_settings
from supertui.widgets.toggles import ChoiceButton, TickBox, TickList


async def open_launch(pilot) -> LaunchScreen:
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(pilot.app.screen, LaunchScreen)
    return pilot.app.screen


async def test_the_summary_follows_a_preset_at_once_and_says_per_run_and_in_all(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        screen.preset = "phase"
        screen.fill()  # no pause: the summary is already the phase preset's
        summary = str(screen.query_one("#launch-summary").render())
        phase = PRESETS["phase"].quick
        from engine.experiments import instance_count

        assert f"each run {instance_count(phase):,} instance(s) × {phase.steps:,} steps" in summary, summary
        assert "in all" not in summary  # one run: nothing to add up
        await pilot.press("ctrl+t")  # all seven activations
        await pilot.pause()
        summary = str(screen.query_one("#launch-summary").render())
        assert f"7 run(s)" in summary and f"{7 * instance_count(phase):,} instances in all" in summary, summary


async def test_fields_a_preset_ignores_are_hidden(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        assert screen.preset == "sparsity"
        assert screen.query_one("#row-importance_decay").display
        assert not screen.query_one("#row-relative_importances").display
        screen.query_one("#presets").highlighted = 1  # phase: I = (1, r), the decay is never read
        await pilot.pause()
        assert not screen.query_one("#row-importance_decay").display
        assert screen.query_one("#row-relative_importances").display
        assert screen.errors == {} and screen.configs[0] == PRESETS["phase"].quick


async def test_lists_say_what_they_hide_at_80x24_and_buttons_read_without_colour(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(pilot)
        await pilot.pause(0.3)
        assert "↓" in str(screen.query_one("#presets").border_subtitle)
        assert "↓" in str(screen.query_one("#activations").border_subtitle)
        await pilot.press("j")  # j/k move in the lists
        await pilot.pause()
        assert screen.preset == "phase"
        on, off = [str(b.render()) for b in screen.query(ChoiceButton)]
        assert "●" in on and "○" in off and "●" not in off
        activations = screen.query_one("#activations", TickList)
        lines = [activations.render_line(y).text for y in range(activations.size.height)]
        assert any("X" in line and "relu" in line for line in lines)
        assert all("X" not in line for line in lines if "gelu" in line or "linear" in line)
        compile_box = screen.query_one("#field-compile", TickBox)
        compile_box.value = False
        assert "X" not in str(compile_box.render())


async def test_the_last_launch_form_is_kept_for_next_time(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        screen.query_one("#presets").highlighted = 2  # dims
        await pilot.pause()
        screen.query_one("#field-steps").value = "7"
        screen.query_one("#field-n").value = "20"
        screen.query_one("#field-m").value = "4"
        await pilot.pause()
        await pilot.press("ctrl+r")
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
    for run in RunStore(empty_data_dir).live_runs():
        RunStore(empty_data_dir).request_cancel(run.id)
    kept = load_settings()["launch"]
    assert kept["preset"] == "dims" and kept["fields"]["steps"] == "7"

    again = SupertuiApp(empty_data_dir)
    async with again.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        assert screen.preset == "dims"
        assert screen.query_one("#field-steps").value == "7" and screen.configs[0].steps == 7
        assert screen.configs[0].n == 20
