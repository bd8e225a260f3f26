"""Training in blocks of steps (engine.training.blocks): a run trained k steps at a time is the run
trained step by step, with its loss rows, snapshots and cancellations at the same steps. The CUDA
graph path is checked in tests/test_cuda.py; here its bookkeeping (which graph is captured for
which block, and captured again after a hot swap) runs with a stand-in for the graph."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from engine.config import RunConfig
from engine.training import blocks
from engine.training.blocks import BLOCK_SECONDS, MAX_BLOCK, Blocks, powers_of_two
from engine.training.run import resolve_run
from engine.training.train import train

hot_module = importlib.import_module("engine.training.compile_step")


def config(**changes) -> RunConfig:
    return RunConfig(preset="phase", activation="relu", n=2, m=1, densities=(1.0, 0.1), relative_importances=(0.5, 2.0),
                     seeds=2, steps=97, batch_size=64, lr=1e-2, snapshots=6, compile=False, schedule="linear").replace(**changes)


def same_run(a, b) -> None:
    for name in ("W", "b", "loss_steps", "loss_history", "snapshot_steps", "snapshots", "diverged", "final_loss"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("mW", "vW", "mb", "vb", "step"):
        np.testing.assert_array_equal(getattr(a.optimizer, name), getattr(b.optimizer, name), err_msg=name)


def test_powers_of_two_sum_to_the_block():
    assert powers_of_two(13) == [8, 4, 1]
    assert powers_of_two(1) == [1] and powers_of_two(256) == [256]
    assert all(sum(powers_of_two(k)) == k for k in range(1, 600))


@pytest.mark.parametrize("block", [2, 7, 64])
def test_a_run_in_blocks_is_the_run_step_by_step(block):
    run = resolve_run(config())
    same_run(train(run, block_steps=block), train(run, block_steps=1))


def test_blocks_end_where_a_loss_row_or_a_snapshot_is_due():
    """However long the blocks, the rows and snapshots land on the steps they land on step by step
    (a block never jumps over a step that owes one)."""
    long_run = config(steps=1234, snapshots=9)
    run = resolve_run(long_run)
    ends = []
    original = Blocks.advance

    def recording(self, step_fn, chunks, k):
        original(self, step_fn, chunks, k)
        ends.append(k)

    stepwise = train(run, block_steps=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Blocks, "advance", recording)
        blocked = train(run, block_steps=100)
    same_run(blocked, stepwise)
    assert max(ends) > 1 and sum(ends) == long_run.steps


def test_a_cancelled_run_in_blocks_stops_at_a_block_boundary_with_a_consistent_state():
    run = resolve_run(config(steps=500))
    asked = []

    def stop_after_three_checks() -> bool:
        asked.append(1)
        return len(asked) > 3

    cancelled = train(run, block_steps=16, should_stop=stop_after_three_checks)
    assert cancelled.status == "cancelled" and 1 < cancelled.steps_done < 500
    steps = []
    stepwise = train(run, block_steps=1, should_stop=lambda: steps.append(1) or len(steps) > cancelled.steps_done)
    assert stepwise.steps_done == cancelled.steps_done
    same_run(cancelled, stepwise)


def test_the_block_length_follows_the_step_time():
    import torch

    chosen = Blocks(torch.device("cpu"))
    assert chosen.length(0, 1000) == 1  # nothing measured yet: one step
    chosen.seconds_per_step = BLOCK_SECONDS / 40  # fast steps: about BLOCK_SECONDS of them
    assert chosen.length(0, 1000) == 40
    assert chosen.length(990, 1000) == 10  # never past the step that owes something
    chosen.seconds_per_step = 1e-9
    assert chosen.length(0, 10_000) == MAX_BLOCK
    chosen.seconds_per_step = 1.0  # a slow step (a busy 2-core CPU): one at a time, as before
    assert chosen.length(0, 1000) == 1
    assert Blocks(torch.device("cpu"), fixed=5).length(0, 3) == 3


class StandInGraph:
    """What capture_block returns on CUDA, on the CPU: replaying it runs its steps."""

    captured: list[tuple[object, int]] = []

    def __init__(self, step_fn, chunk, length):
        self.step_fn, self.chunk, self.length = step_fn, chunk, length
        StandInGraph.captured.append((step_fn, length))

    def replay(self) -> None:
        for _ in range(self.length):
            self.chunk.run(self.step_fn)


def test_the_graph_path_replays_powers_of_two_captured_once_per_step_function(monkeypatch):
    import torch

    monkeypatch.setattr(blocks, "capture_block", StandInGraph)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: None)
    monkeypatch.setattr(StandInGraph, "captured", [])
    graphed = []

    class GraphedBlocks(Blocks):
        def __init__(self, device, fixed=None, graphs=None):
            super().__init__(device, fixed=fixed, graphs=True)
            graphed.append(self)

    monkeypatch.setattr(hot_module, "Blocks", GraphedBlocks)
    run = resolve_run(config(steps=300, seeds=3))  # several chunks? one is enough: per-chunk keys are tested below
    blocked = train(run, block_steps=13)
    monkeypatch.setattr(hot_module, "Blocks", Blocks)
    same_run(blocked, train(run, block_steps=1))
    lengths = [length for _, length in StandInGraph.captured]
    assert set(lengths) <= {1, 2, 4, 8} and len(lengths) == len(set(lengths)), "each length captured once"
    # a new step function (the hot swap) is captured anew
    chooser = graphed[0]
    from engine.training.step import Chunk, fresh_state, make_train_step

    chunk = Chunk(run, np.arange(run.instances), fresh_state(run))
    before = len(StandInGraph.captured)
    chooser.advance(make_train_step(run), [chunk], 3)
    assert [length for _, length in StandInGraph.captured[before:]] == [2, 1]
