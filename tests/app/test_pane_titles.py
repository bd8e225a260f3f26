"""Every pane's border title shows whole at 120x40 and 80x24 (the phase pane's was cut at 120x40):
a title too long for its pane gives way to its short form, never to a cut one."""

from __future__ import annotations

import pytest

from supertui.app import SupertuiApp
from supertui.panes import TITLE_FRAME
from supertui.screens.run_view import RunViewScreen


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
@pytest.mark.parametrize("run_id", ["run-phase-relu", "run-dims-relu", "run-sparsity-relu"])
async def test_no_pane_title_is_cut(saved_runs, size, run_id):
    app = SupertuiApp(saved_runs)
    async with app.run_test(size=size) as pilot:
        app.open_run(run_id)
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, RunViewScreen)
        for index, pane in enumerate(screen.panes):
            screen.action_pane(index)  # at 80x24 one pane shows at a time
            await pilot.pause(0.1)
            width = pane.container.size.width
            assert width and len(str(pane.container.border_title)) <= width - TITLE_FRAME, (pane.id, width)
        if run_id == "run-phase-relu" and size == (120, 40):
            assert str(screen.pane("phase").container.border_title) == "winning seed's phase · ReLU line"
