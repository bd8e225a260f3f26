"""Key latency of the app while four runs train (four worker processes), against the same app with
nothing training, measured in the same run.

    python benchmarks/key_latency.py [--cycles 7]

Each cycle posts `?` the way the terminal driver posts keys, waits for the help screen, then
`escape` back to the run view. The median of the cycles is printed for both cases; the last line is
`busy_ms=<median> idle_ms=<median> busy_vs_idle=<ratio>`. Target: busy_ms under 100.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402

from engine.presets import preset_config  # noqa: E402
from engine.jobs.scheduler import ensure_scheduler, save_devices  # noqa: E402
from engine.store.runs import RunStore  # noqa: E402
from supertui.app import SupertuiApp  # noqa: E402
from supertui.screens.help import HelpScreen  # noqa: E402
from supertui.screens.run_view import RunViewScreen  # noqa: E402


async def wait_for(pilot, predicate, timeout: float, poll: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not answer")
        await pilot.pause(poll)


async def median_latency(data_dir: Path, run_id: str, cycles: int, training: int) -> float:
    app = SupertuiApp(data_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(run_id)
        await pilot.pause()
        await wait_for(pilot, lambda: len(app.live_runs.training) == training, timeout=120, poll=0.05)
        latencies = []
        for _ in range(cycles):
            started = time.perf_counter()
            app.post_message(events.Key("question_mark", "?"))
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5)
            latencies.append(time.perf_counter() - started)
            app.post_message(events.Key("escape", None))
            await wait_for(pilot, lambda: isinstance(app.screen, RunViewScreen), timeout=5)
            await pilot.pause(0.05)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="supertui-keys-") as tmp:
        store = RunStore(Path(tmp))
        save_devices(store, ["cpu"] * 4)
        config = preset_config("custom", n=6, m=3, densities=(1.0, 0.1), steps=1_000_000, batch_size=64,
                               compile=False, device="cpu")
        ids = [store.submit(config.replace(seed=i)).id for i in range(4)]
        ensure_scheduler(store)
        deadline = time.monotonic() + 180
        while sum(store.load(i).status == "running" for i in ids) < 4:
            if time.monotonic() > deadline:
                sys.exit("four workers did not start")
            time.sleep(0.2)
        busy = asyncio.run(median_latency(Path(tmp), ids[0], args.cycles, training=4))
        for run_id in ids:
            store.request_cancel(run_id)
        while any(store.load(i).status == "running" for i in ids):
            time.sleep(0.2)
        idle = asyncio.run(median_latency(Path(tmp), ids[0], args.cycles, training=0))
    print(f"busy_ms={busy * 1000:.0f} idle_ms={idle * 1000:.0f} busy_vs_idle={busy / idle:.2f}")


if __name__ == "__main__":
    main()
