"""From the launch key to the first loss point on screen, in an app that is already open.

    python benchmarks/first_loss.py [--repeat 3] [--preset sparsity]

The app (headless, driven by Textual's Pilot as a person's keys would drive it) opens on a
throwaway data directory. Per trial: `n` (opening the launch form wakes the scheduler, whose spare
worker loads torch and the training code while the form is filled in), the preset's quick
settings with relu on the CPU (compile on, as a user leaves it), then `ctrl+r` once the spare has
finished loading, and the clock runs until a loss plot draws its first point (timed inside the
app's process). Also reported: how long after `n` the spare was ready (a launch key pressed sooner
waits for the rest), and a cold launch: `ctrl+r` pressed the moment the form opens. The baseline,
measured in the same run, is `python -c "import torch"`: what every launch would wait for without
the spare. The last line is `first_loss_s=<median> ratio_to_torch_import=<ratio>` (target:
first_loss_s < 1).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from supertui.app import SupertuiApp  # noqa: E402
from supertui.screens.launch import LaunchScreen  # noqa: E402
from supertui.screens.run_view import RunViewScreen  # noqa: E402
from supertui.widgets.loss_plot import LossPlot  # noqa: E402

SPARE_READY_TIMEOUT = 60.0


def torch_import_seconds(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def spare_pid(data_dir: Path) -> int | None:
    """The spare worker of this data directory, if one is alive."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--spare" in argv and str(data_dir).encode() in argv:
            return int(proc.name)
    return None


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


async def spare_ready(data_dir: Path, timeout: float) -> None:
    """Until the spare has finished loading (torch and the training code) and sits waiting for
    an assignment: its CPU time stops growing."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        pid = spare_pid(data_dir)
        ticks = cpu_ticks(pid) if pid else None
        if ticks is not None and ticks == last:
            return
        last = ticks
        await asyncio.sleep(0.2)
    raise TimeoutError("no spare worker became ready")


async def until(predicate, timeout: float, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        await asyncio.sleep(poll)


class FirstDraw:
    """When a loss plot first drew a point: LossPlot._draw wrapped to note the time. Timed inside
    the app's own process, so the Pilot's waiting for the screen to settle (a live run view never
    settles) does not count."""

    def __init__(self) -> None:
        self.at: float | None = None
        original = LossPlot._draw
        first_draw = self

        def noting_draw(plot: LossPlot) -> None:
            original(plot)
            if first_draw.at is None and any(len(series.x) for series in plot.series):
                first_draw.at = time.perf_counter()

        LossPlot._draw = noting_draw


async def one_launch(pilot, data_dir: Path, preset: str, warm: bool, drawn: FirstDraw) -> tuple[float, float | None]:
    """Seconds from the launch key to the first loss point, and from opening the form until the
    spare worker was ready (None for a cold launch, which does not wait for it)."""
    form_opened = time.perf_counter()
    await pilot.press("n")
    screen = pilot.app.screen
    assert isinstance(screen, LaunchScreen)
    presets = screen.query_one("#presets")
    presets.highlighted = next(i for i, option in enumerate(presets._options) if option.id == preset)
    await pilot.pause()
    screen.query_one("#field-device").value = "cpu"
    await pilot.pause()
    spare_after = None
    if warm:
        await spare_ready(data_dir, SPARE_READY_TIMEOUT)
        spare_after = time.perf_counter() - form_opened
    drawn.at = None
    started = time.perf_counter()
    await pilot.press("ctrl+r")
    await until(lambda: drawn.at is not None, 120)
    assert isinstance(pilot.app.screen, RunViewScreen)
    seconds = drawn.at - started
    await pilot.press("x")  # cancel it: the next trial gets the slot and a fresh spare
    await pilot.pause(0.5)
    await pilot.press("escape")
    await pilot.pause()
    return seconds, spare_after


async def measure(repeat: int, preset: str) -> tuple[float, list[tuple[float, float]]]:
    with tempfile.TemporaryDirectory(prefix="supertui-first-loss-") as folder:
        data_dir = Path(folder)
        app = SupertuiApp(data_dir)
        drawn = FirstDraw()
        async with app.run_test(size=(120, 40)) as pilot:
            cold, _ = await one_launch(pilot, data_dir, preset, warm=False, drawn=drawn)
            print(f"  cold: launch key -> first loss point {cold:.3f} s", flush=True)
            trials = []
            for _ in range(repeat):
                trials.append(await one_launch(pilot, data_dir, preset, warm=True, drawn=drawn))
                print(f"  warm: launch key -> first loss point {trials[-1][0]:.3f} s "
                      f"(spare ready {trials[-1][1]:.2f} s after the form opened)", flush=True)
            return cold, trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--preset", default="sparsity")
    args = parser.parse_args()
    os.environ.pop("SUPERTUI_DATA_DIR", None)
    baseline = torch_import_seconds(3)
    print(f"import torch: {baseline:.3f} s")
    cold, trials = asyncio.run(measure(args.repeat, args.preset))
    first = statistics.median(t[0] for t in trials)
    ready = statistics.median(t[1] for t in trials)
    print(f"cold_first_loss_s={cold:.3f} spare_ready_after_form_s={ready:.3f}")
    print(f"first_loss_s={first:.3f} ratio_to_torch_import={first / baseline:.3f} (target: first_loss_s < 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
