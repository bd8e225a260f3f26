"""Many steps per launch: the training loop advances a block of steps at a time, and everything the
loop owes (a loss row, a snapshot, progress, cancellation, a checkpoint, the hot swap) happens at
block boundaries.

A step of a small model is a few microseconds of a GPU's arithmetic but a few hundred microseconds of
Python launching its kernels one by one. On CUDA a block of 2^j steps of one chunk is captured once
into a CUDA graph and replayed: one launch for the whole block. The step keeps all of its state in
the chunk's tensors (W, b, Adam's moments, the step counter `t`, the hyperparameters `hyper`, the
loss sum, the divergence flags), updated in place, so the graph reads the step counter from the
device and one capture serves the whole run. A block of any length k is replayed as the graphs of
the powers of two that sum to k, so a block can always end exactly where the loop owes something.

How long a block is follows the measured time of a step: about BLOCK_SECONDS of training, so that
cancelling and progress stay as prompt as they were step by step (a 2-core CPU, whose steps take
tens of milliseconds, steps one at a time as before). On the CPU a block is a plain loop over the
same step function: the graph path is CUDA's.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from engine.training.step import Chunk

BLOCK_SECONDS = 0.05  # a block's length in time: how late a cancel or a progress report may come
MAX_BLOCK = 256  # steps in one block (a power of two): graphs of 1, 2, 4, ... MAX_BLOCK steps per chunk


def powers_of_two(k: int) -> list[int]:
    """k as the powers of two it is the sum of, largest first: 13 -> [8, 4, 1]."""
    return [1 << bit for bit in reversed(range(k.bit_length())) if k >> bit & 1]


class Blocks:
    """Advances every chunk by k steps with a given step function; chooses k from the measured step
    time. `graphs` (CUDA only) replays captured blocks instead of calling the step k times."""

    def __init__(self, device: torch.device, fixed: int | None = None, graphs: bool | None = None):
        self.fixed = fixed  # a block length set by the caller (tests, benchmarks); None: from the step time
        self.graphs = device.type == "cuda" if graphs is None else graphs
        self.seconds_per_step: float | None = None
        self._captured: dict[tuple[int, int, int], torch.cuda.CUDAGraph] = {}  # (step fn, chunk, length) -> graph
        self._captured_for: Callable | None = None

    def length(self, done: int, owed: int) -> int:
        """The next block: from step `done` up to at most `owed` (the next step the loop owes something at)."""
        room = max(1, owed - done)
        if self.fixed is not None:
            return min(self.fixed, room)
        if self.seconds_per_step is None:
            return 1
        fit = int(BLOCK_SECONDS / max(self.seconds_per_step, 1e-9))
        return max(1, min(room, MAX_BLOCK, fit))

    def advance(self, step_fn: Callable, chunks: list[Chunk], k: int) -> None:
        """k steps of every chunk; times them for the next block's length."""
        started = time.perf_counter()
        if self.graphs:
            self._replay(step_fn, chunks, k)
            torch.cuda.synchronize()
        else:
            for _ in range(k):
                for chunk in chunks:
                    chunk.run(step_fn)
        per_step = (time.perf_counter() - started) / k
        # the latest block's time, smoothed: a swap to the compiled step or a slow spell is followed within a few blocks
        self.seconds_per_step = per_step if self.seconds_per_step is None else 0.5 * (self.seconds_per_step + per_step)

    def _replay(self, step_fn: Callable, chunks: list[Chunk], k: int) -> None:
        if self._captured_for is not step_fn:  # the hot swap brought a new step: its own graphs
            self._captured.clear()
            self._captured_for = step_fn
        for length in powers_of_two(k):
            for index, chunk in enumerate(chunks):
                key = (id(step_fn), index, length)
                graph = self._captured.get(key)
                if graph is None:
                    graph = self._captured[key] = capture_block(step_fn, chunk, length)
                graph.replay()


def capture_block(step_fn: Callable, chunk: Chunk, length: int) -> "torch.cuda.CUDAGraph":
    """`length` steps of `chunk` captured into one CUDA graph. The step is first run on copies of the
    chunk's tensors on a side stream (as CUDA graphs require: lazy initialisations, the compiler's
    first call), then captured on the chunk's own tensors, which capturing does not change: only a
    replay runs the steps, reading and advancing the chunk's state where it lives."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            step_fn(*chunk.step_args(copy=True))
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(length):
            chunk.run(step_fn)
    return graph
