"""The launch form: the engine's own validation as you type, sweeps, and one key to start."""

from __future__ import annotations

from engine.training.activations import BLOG_ACTIVATIONS
from engine.presets import PRESETS
from supertui.app import SupertuiApp
from supertui.screens.launch import LaunchScreen


async def open_launch(pilot) -> LaunchScreen:
    await pilot.press("n")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, LaunchScreen)
    return screen


async def test_a_bad_value_shows_the_engine_message_and_nothing_starts(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        assert screen.errors == {} and len(screen.configs) == 1
        screen.query_one("#field-steps").value = "lots"
        screen.query_one("#field-m").value = "12"  # not smaller than n=10
        await pilot.pause()
        assert screen.errors["steps"] == "steps: must be an integer >= 1, got 'lots'"
        assert screen.errors["m"].startswith("m: must be smaller than n=10")
        error_box = screen.query_one("#error-steps")
        assert error_box.display and "got 'lots'" in str(error_box.render())
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen)
        assert app.live_runs.runs == {}
        assert not (empty_data_dir / "runs").exists()
        screen.query_one("#field-steps").value = "1e3"
        screen.query_one("#field-m").value = "5"
        await pilot.pause()
        assert screen.errors == {} and screen.configs[0].steps == 1000
        assert not screen.query_one("#error-steps").display


async def test_presets_fill_the_form_and_sweeps_multiply_runs(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        screen.query_one("#presets").highlighted = 1  # phase
        await pilot.pause()
        assert screen.configs[0] == PRESETS["phase"].quick  # exact values survive the form
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert [c.activation for c in screen.configs] == list(BLOG_ACTIVATIONS)
        screen.query_one("#presets").highlighted = 0  # sparsity
        await pilot.pause()
        screen.query_one("#sweep-field-0").value = "importance_decay"
        screen.query_one("#sweep-values-0").value = "0.7, 0.9"
        await pilot.pause()
        assert len(screen.configs) == 14
        assert {c.importance_decay for c in screen.configs} == {0.7, 0.9}
        screen.query_one("#sweep-values-0").value = "0.7, 2"
        await pilot.pause()
        assert screen.errors["sweep"].startswith("sweep: importance_decay: must lie in (0, 1]")
        assert screen.configs == []
        await pilot.press("ctrl+o")  # paper quality
        await pilot.pause()
        assert screen.quality == "paper"
        assert screen.query_one("#field-steps").value == str(PRESETS["sparsity"].paper.steps)


async def test_activation_params_and_device_are_checked(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        screen.query_one("#field-activation_params").value = "eps=0.2"
        screen.query_one("#field-device").value = "tpu"
        await pilot.pause()
        assert screen.errors["activation_params"] == "activation_params: relu takes no parameter 'eps' (accepted: none)"
        assert screen.errors["device"].startswith("device: unknown device 'tpu'")
        screen.query_one("#activations").deselect_all()
        await pilot.pause()
        assert "activation" in screen.errors and screen.configs == []


async def test_a_profile_fills_its_fields_and_a_field_edited_after_it_overrides_it(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        screen.query_one("#field-profile").value = "anthropic"
        await pilot.pause()
        await pilot.pause()
        config = screen.configs[0]
        assert (config.profile, config.loss_reduction, config.optimizer, config.weight_decay, config.init) == (
            "anthropic", "mean", "adamw", 0.01, "xavier_batched")
        screen.query_one("#field-weight_decay").value = "0"
        await pilot.pause()
        assert screen.configs[0].profile == "anthropic" and screen.configs[0].weight_decay == 0.0


async def test_solu_axis_is_a_named_activation_parameter(empty_data_dir):
    app = SupertuiApp(empty_data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_launch(pilot)
        activations = screen.query_one("#activations")
        activations.deselect_all()
        activations.select("solu")
        screen.query_one("#field-activation_params").value = "axis=instance"
        await pilot.pause()
        assert screen.errors == {} and screen.configs[0].activation_params == {"axis": "instance"}
        screen.query_one("#field-activation_params").value = "axis=batch"
        await pilot.pause()
        assert screen.errors["activation_params"] == (
            "activation_params.axis: solu's axis must be one of feature, instance, got 'batch'")
