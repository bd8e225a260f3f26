"""The app is a client: it paints, lists, opens saved runs and compares them without torch, which
only the worker processes that train need (importing it costs seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SESSION = """
import asyncio, sys
from supertui.app import SupertuiApp
from supertui.screens.run_view import RunViewScreen

async def main():
    app = SupertuiApp(sys.argv[1])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        seen = ["torch" in sys.modules]
        await pilot.press("enter")
        await pilot.pause()
        seen.append(isinstance(app.screen, RunViewScreen))
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("escape", "escape", "space", "down", "space", "c")
        await pilot.pause()
        seen.append(type(app.screen).__name__)
        await pilot.press("q")
    print(seen, "torch" in sys.modules)

asyncio.run(main())
"""


def test_the_app_paints_opens_and_compares_runs_without_importing_torch(saved_runs):
    done = subprocess.run([sys.executable, "-c", SESSION, str(saved_runs)], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[False, True, 'CompareScreen'] False", done.stdout
