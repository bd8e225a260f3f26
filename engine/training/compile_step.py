"""Never wait on the compiler: train on the eager step at once, build the compiled step alongside,
and swap it in at a step boundary when it is ready and still worth it.

Compiling the fused step costs seconds to a minute of CPU, most of it in Python (dynamo's
tracing) and in the C++ compiler. Done in a thread of the training process it would fight the
eager steps for the GIL (measured: eager slowed more than tenfold), so the expensive, cold part
runs in a separate process at the lowest priority:

1. `python -m engine.training.compile_step` builds the very same step for a chunk of the same shape and
   compiles it once, which fills torch's on-disk caches (inductor's FX graph cache and the
   compiled kernels), then records how long it took. Meanwhile training goes on eagerly.
2. At the same time a background thread of the training process imports the compiler and traces
   the step (seconds of Python, briefly sharing the GIL), then waits for the helper before
   inductor generates any code (`train.compile_step`'s `before_codegen`). With the caches warm,
   what is left is loading: the compiled step is ready moments after the helper ends, and the
   training loop swaps it in between two steps. State lives in the chunk tensors (W, b, Adam
   moments, step counter), updated in place by whichever step runs, so the swap changes nothing
   but speed.

A run too short to pay for a cold compile never starts one (`worth_compiling`); a graph this
machine compiled before (`<cache>/supertui/<key>.json` remembers how long it took) is loaded
straight away, and for one it never compiled, the last graph it compiled on that kind of device
(`<cache>/supertui/machine-cuda.json`, `machine-cpu.json`) tells how long a cold compile takes
there and how much faster the compiled step runs. Cancelling never waits: the loop keeps
stepping eagerly while all this happens, and `close()` ends the helper process.
"""

from __future__ import annotations

import atexit
import getpass
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.system.lifeline import die_with_parent
from engine.training.blocks import Blocks
from engine.training.run import Run
from engine.training.step import COMPILED_STEPS, Chunk, compile_step, fresh_state, graph_key, make_train_step

COLD_COMPILE_GUESS = 60.0  # seconds, before this machine has compiled any graph of this kind
WARM_COMPILE_GUESS = 6.0  # seconds to load a graph whose kernels are cached
COMPILED_SPEEDUP_GUESS = 2.0  # compiled step over eager, before one was measured
MEASURE_STEPS = 20  # eager steps timed before deciding, and at least
MEASURE_SECONDS = 1.0  # seconds of them: the first steps run slow (allocations, threads waking), and a
# rate taken from them alone made runs that end before the compiler start a compile anyway
HELPER_NICE = 0  # the helper's priority, relative to the worker's: the same. It is only started for a
# run long enough to pay for it, and at the lowest priority (19) a machine with other work never ran it:
# a 40x40 phase run on 2 busy cores trained 28,000 eager steps in 10 minutes without its compiled step
# (benchmarks/loaded_start.py measures the choice)


def cache_root() -> Path:
    """Where torch keeps its compile caches (and we keep our notes on them). Inductor's own rule
    (torch/_inductor/runtime/cache_dir_utils.py), written out here: importing it loads the whole
    compiler, seconds that a run deciding whether to compile at all should not pay."""
    folder = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if folder is None:
        try:
            user = getpass.getuser()
        except (KeyError, ModuleNotFoundError, OSError):
            user = f"uid_{os.getuid()}"
        folder = os.path.join(tempfile.gettempdir(), "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user))
    return Path(folder).absolute()


def graph_id(graph_key: tuple, chunk_size: int) -> str:
    return hashlib.sha256(repr((graph_key, chunk_size)).encode()).hexdigest()[:20]


@dataclass
class CompileNotes:
    """What this machine learned about one graph: how long compiling it took, cold and warm,
    and how fast its compiled step ran."""

    cold_seconds: float | None = None
    warm_seconds: float | None = None
    compiled_rate: float | None = None  # steps per second
    eager_rate: float | None = None

    @property
    def speedup(self) -> float | None:
        """The compiled step's rate over the eager step's, where both were measured."""
        return self.compiled_rate / self.eager_rate if self.compiled_rate and self.eager_rate else None

    @classmethod
    def read(cls, path: Path) -> "CompileNotes":
        from engine.bounds import COMPILE_NOTES_MAX_BYTES
        from engine.system.input_files import read_bounded_json

        try:  # a cache file may be a FIFO, a folder or endless like any file on disk: bounded, non-blocking
            data = read_bounded_json(path, COMPILE_NOTES_MAX_BYTES)
            values = {k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__ and v is not None}
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()
        # a duration or a rate is finite and positive; anything else is no measurement at all
        return cls(**{k: v for k, v in values.items() if math.isfinite(v) and v > 0})

    def write(self, path: Path) -> None:
        from engine.system.files import atomic_write_json

        try:
            atomic_write_json(path, self.__dict__)
        except OSError:
            pass  # notes are an optimisation: never a reason to fail a run


def worth_compiling(steps_left: int, eager_rate: float, notes: CompileNotes,
                    machine: CompileNotes | None = None) -> bool:
    """Will compiling alongside finish the run sooner than staying eager? The helper process
    compiles on the other core while eager steps go on, so the run only gains from the moment
    the compiled step arrives: it must arrive, and what is left then must go faster.

    `notes` are this graph's; for a graph this machine never compiled, `machine` (the notes of
    the last graph it did compile on this kind of device) stands in for the cold compile's
    length and the compiled step's speedup. The built-in guesses are cautious ones from a 2-core
    CPU (a 60 s compile, twice as fast); an H200 server compiled in 20 s, and its compiled phase
    step ran ten times as fast as the eager one."""
    if eager_rate <= 0:
        return True
    machine = machine or CompileNotes()
    cached = notes.warm_seconds is not None
    cold = notes.cold_seconds or machine.cold_seconds or COLD_COMPILE_GUESS
    arrival = (notes.warm_seconds or WARM_COMPILE_GUESS) if cached else cold
    left_then = steps_left - arrival * eager_rate
    if left_then <= 0:
        return False
    speedup = notes.speedup or machine.speedup or COMPILED_SPEEDUP_GUESS
    return speedup > 1.1 and left_then / eager_rate > 2 * (notes.warm_seconds or WARM_COMPILE_GUESS)


def still_worth_waiting(steps_left: int, eager_rate: float, notes: CompileNotes) -> bool:
    """Can a compile still on its way pay for itself, were it to arrive now? Loading it takes
    `warm_seconds`, and what is left then must be worth the swap (as in `worth_compiling`). Past
    that point, a helper that is late (a machine busier than when this machine's notes were taken)
    only slows the eager steps that finish the run."""
    if eager_rate <= 0:
        return True
    warm = notes.warm_seconds or WARM_COMPILE_GUESS
    return steps_left / eager_rate - warm > 2 * warm


class HotSwap:
    """The compiled step, on its way. `poll()` returns it once, when it is ready to take over."""

    def __init__(self, run: Run, chunk: Chunk, graph_key: tuple, compile_fn: Callable, warn: Callable[[str], None]):
        self.run = run
        self.chunk = chunk
        self.compile_fn = compile_fn  # the eager step -> a torch.compile'd step
        self.warn = warn
        self.id = graph_id(graph_key, len(chunk.index))
        self.notes_path = cache_root() / "supertui" / f"{self.id}.json"
        self.notes = CompileNotes.read(self.notes_path)
        # the last graph compiled here on this kind of device: guesses for one never compiled
        self.machine_path = cache_root() / "supertui" / f"machine-{chunk.W.device.type}.json"
        self.machine = CompileNotes.read(self.machine_path)
        self.stage = "eager"  # "eager" | "compiling" | "compiled" | "failed" | "abandoned"
        self.helper: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None
        self.compiled: Callable | None = None
        self.error: BaseException | None = None
        self.started_at = 0.0
        self._handed_over = False
        self._helper_ended: float | None = None
        self._waited = 0.0  # seconds the loading thread waited for the helper's graph
        self._threads: int | None = None  # the training threads to restore after a cold compile
        self.ready = threading.Event()  # set when the loading thread ends, the compiled step built or not

    @property
    def cached(self) -> bool:
        return self.notes.warm_seconds is not None or self.notes.cold_seconds is not None

    def start(self, eager_step: Callable) -> None:
        """Begin: load a cached graph in a thread, or compile a new one in a helper process while
        the thread traces the step and waits for the helper's graph (`_wait_for_helper`)."""
        self.stage = "compiling"
        self.started_at = time.monotonic()
        self.eager_step = eager_step
        if not self.cached:
            self._yield_a_core()
            self.helper = _spawn_helper(self.run, len(self.chunk.index))
        self._load_in_thread()

    def poll(self) -> Callable | None:
        """The compiled step, the first time it is ready (then None again); None meanwhile."""
        if self.stage != "compiling":
            return None
        if self.helper is not None and self._helper_ended is None:
            code = self.helper.poll()
            if code is not None:
                self._helper_ended = time.monotonic()
                self._restore_threads()  # the compiler's core is free again
                if code != 0:
                    self._fail(f"compiling the step in a helper process failed (exit {code})")
                    return None
                self.notes.cold_seconds = self._helper_ended - self.started_at
        if self.thread is not None and not self.thread.is_alive() and not self._handed_over:
            self.thread.join()
            if self.error is not None:
                self._fail(f"compiling the step failed ({type(self.error).__name__}: {self.error})")
                return None
            self._handed_over = True
            self.stage = "compiled"
            return self.compiled
        return None

    @property
    def waiting_for_helper(self) -> bool:
        return self.stage == "compiling" and self.helper is not None and self._helper_ended is None

    def abandon(self, reason: str) -> None:
        """Stop waiting: the compiled step could no longer pay for itself when it came. The helper
        is stopped (its core goes back to training) and the run ends on the eager step."""
        self.close()
        self.stage = "abandoned"
        self.warn(f"{reason}; training goes on with the eager step")

    def _wait_for_helper(self) -> None:
        """Called by the loading thread once the step is traced: inductor must not generate the
        graph's code before the helper has put it in the cache, or it would compile it again here."""
        started = time.monotonic()
        code = self.helper.wait()
        self._waited = time.monotonic() - started
        if code != 0:
            raise RuntimeError(f"the helper process compiling the step ended with exit {code}")

    def _yield_a_core(self) -> None:
        """While a cold compile runs beside a CPU run that uses every core, train on one thread
        fewer: the compiler (one thread, lowest priority) then gets a core of its own and finishes
        in its own time, where fighting the training threads made it take several times longer
        (measured on 2 cores: the swap came late enough that the run ended slower than compiling
        first). GPU runs use one CPU thread and are left alone."""
        import torch

        threads = torch.get_num_threads()
        if self.chunk.W.device.type == "cpu" and threads > 1 and threads >= (os.cpu_count() or 1):
            self._threads = threads
            torch.set_num_threads(threads - 1)

    def _restore_threads(self) -> None:
        if self._threads:
            import torch

            torch.set_num_threads(self._threads)
            self._threads = None

    def _load_in_thread(self) -> None:
        import torch

        loading_since = time.monotonic()
        # A new thread starts with this thread's count, which `_yield_a_core` may have lowered for
        # now. The count is part of the graph (inductor's C++ code and dynamo's guards): compiled
        # with one thread fewer it would miss the helper's cache entry and, once the training
        # threads are restored, be compiled again on the training thread.
        threads = self._threads or torch.get_num_threads()

        def load() -> None:
            try:
                torch.set_num_threads(threads)
                if self.helper is None:
                    compiled = self.compile_fn(self.eager_step)
                else:
                    compiled = self.compile_fn(self.eager_step, before_codegen=self._wait_for_helper)
                compiled(*self.chunk.step_args(copy=True))  # compiles (from the warm caches) on copies
                self.compiled = compiled
                # what loading this graph from the warm caches costs, waiting for the helper aside
                self.notes.warm_seconds = time.monotonic() - loading_since - self._waited
            except BaseException as exc:  # reported by poll() on the training thread
                self.error = exc
            finally:
                self.ready.set()

        self.thread = threading.Thread(target=load, name="supertui-compile", daemon=True)
        self.thread.start()
        _LOADING_THREADS[:] = [t for t in _LOADING_THREADS if t.is_alive()] + [self.thread]

    def _fail(self, message: str) -> None:
        self._restore_threads()
        self.stage = "failed"
        self.warn(f"{message}; training goes on with the eager step")

    def record_rates(self, eager_rate: float | None, compiled_rate: float | None) -> None:
        if eager_rate:
            self.notes.eager_rate = eager_rate
        if compiled_rate:
            self.notes.compiled_rate = compiled_rate
        if self.stage == "compiled":
            self.notes.write(self.notes_path)
            cold = self.notes.cold_seconds if self._helper_ended is not None else self.machine.cold_seconds
            CompileNotes(cold_seconds=cold, compiled_rate=self.notes.compiled_rate,
                         eager_rate=self.notes.eager_rate).write(self.machine_path)

    def close(self) -> None:
        """The run is over: a helper still compiling is stopped (its work is not needed now)."""
        self._restore_threads()
        if self.helper is not None and self.helper.poll() is None:
            self.helper.kill()
            self.helper.wait()


EXIT_JOIN_SECONDS = 30.0
_LOADING_THREADS: list[threading.Thread] = []


@atexit.register
def _join_loading_threads() -> None:
    """At interpreter exit, let a loading thread still inside the compiler (a run cancelled while
    its step was being traced) finish: left running while the interpreter tears down, the
    compiler's C++ side calls std::terminate and the process aborts (exit 134) after a clean run."""
    deadline = time.monotonic() + EXIT_JOIN_SECONDS
    for thread in _LOADING_THREADS:
        thread.join(max(0.0, deadline - time.monotonic()))


def _spawn_helper(run: Run, chunk_size: int) -> subprocess.Popen:
    from engine.system.processes import child_env

    argv = [sys.executable, "-m", "engine.training.compile_step", "--config", json.dumps(run.config.to_dict()),
            "--chunk-size", str(chunk_size)]
    env = child_env()
    env["TORCHINDUCTOR_COMPILE_THREADS"] = "1"  # one core for the compiler, the rest for training
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, preexec_fn=_helper_preexec)


def _helper_preexec() -> None:
    """In the helper, between fork and exec: it dies with the process that started it (a worker
    killed with SIGKILL runs no clean-up, and its helper would compile on, orphaned), at the
    priority HELPER_NICE sets."""
    die_with_parent()
    if HELPER_NICE:
        os.nice(HELPER_NICE)


class StepPath:
    """Which step function trains each step: the eager one from the first step, the compiled one
    from the step boundary where it arrives (engine.training.compile_step), or the compiled one at once
    when this process compiled that graph before. `stage` is what progress reports show:
    "eager", "compiling" (eager, with the compiled step on its way) or "compiled"."""

    def __init__(self, run: Run, chunks: list[Chunk], warn: Callable[[str], None], first_step: int = 0,
                 block_steps: int | None = None):
        compile_wanted = run.config.compile
        self.blocks = Blocks(run.device, fixed=block_steps)
        self.first_step = first_step  # a continued run starts at its parent's step counter
        self.eager = make_train_step(run)
        self.key = graph_key(run)
        self.fn = COMPILED_STEPS.get(self.key) if compile_wanted else None
        self.compiled_from: int | None = first_step if self.fn is not None else None
        self.stage = "compiled" if self.fn is not None else "eager"
        self.fn = self.fn or self.eager
        self.hot = HotSwap(run, chunks[0], self.key, compile_step, warn) if compile_wanted and self.stage == "eager" else None
        self._timing: tuple[int, float] | None = None  # (step, time) where eager timing began
        self._rates: dict[str, float] = {}
        # steps and seconds spent inside the step itself, per step function: the rates compared
        # (and kept in the machine's notes) are the steps', never the progress reports' or a
        # caller's hooks' (a test reporting every step once recorded a compiled step no faster
        # than the eager one, and the machine then never compiled again)
        self._stepping = {"eager": [0, 0.0], "compiled": [0, 0.0]}
        self._first_compiled_block = True

    def between_steps(self, done: int, steps_left: int) -> None:
        """Called before each step: decide whether to compile, and swap when it is ready."""
        if self.hot is None:
            return
        now = time.perf_counter()
        if self._timing is None and done >= self.first_step + 1:
            self._timing = (done, now)  # the first step pays for warm-up: time from the second
        measured = self._timing is not None and done - self._timing[0] >= MEASURE_STEPS and now - self._timing[1] >= MEASURE_SECONDS
        if self.hot.stage == "eager" and measured:
            steps, seconds = self._stepping["eager"]
            eager_rate = steps / max(seconds, 1e-9)
            self._rates["eager"] = eager_rate
            if worth_compiling(steps_left, eager_rate, self.hot.notes, self.hot.machine):
                self.hot.start(self.eager)
                self.stage = "compiling"
            else:
                self.hot = None  # staying eager: this run ends before a compiled step would pay
                return
        if self.hot.waiting_for_helper and not still_worth_waiting(steps_left, self._rates.get("eager", 0.0), self.hot.notes):
            self.hot.abandon("the compiled step did not arrive while it could still pay for itself (a busy machine?)")
        compiled = self.hot.poll() if self.hot.stage == "compiling" else None
        if self.hot.stage in ("failed", "abandoned"):
            self.stage = "eager"
        if compiled is not None:
            COMPILED_STEPS[self.key] = compiled
            self.fn, self.stage, self.compiled_from = compiled, "compiled", done

    def compile_now(self, chunk: Chunk) -> None:
        """Compile before training (blocking): the old way, kept as a baseline for benchmarks."""
        if self.stage == "compiled":
            return
        compiled = compile_step(self.eager)
        compiled(*chunk.step_args(copy=True))
        COMPILED_STEPS[self.key] = compiled
        self.fn, self.stage, self.compiled_from, self.hot = compiled, "compiled", self.first_step, None

    def step(self, chunks: list[Chunk], done: int, owed: int) -> int:
        """A block of steps from step `done`, ending at `owed` at the latest; returns its length."""
        k = self.blocks.length(done, owed)
        started = time.perf_counter()
        self.blocks.advance(self.fn, chunks, k)
        spent = time.perf_counter() - started
        if self.stage == "compiled":
            if not self._first_compiled_block:  # the first call after a swap checks guards, allocates
                self._stepping["compiled"][0] += k
                self._stepping["compiled"][1] += spent
            self._first_compiled_block = False
        elif self.stage == "eager" and self._timing is not None:  # from the second step: the first warms up
            self._stepping["eager"][0] += k
            self._stepping["eager"][1] += spent
        return k

    @property
    def rates(self) -> dict[str, float]:
        return dict(self._rates)

    def close(self, done: int) -> None:
        """The run's last step was `done`: remember the measured rates for the next decision."""
        steps, seconds = self._stepping["compiled"]
        if seconds > 0.2:
            self._rates["compiled"] = steps / seconds
        if self.hot is None:
            return
        self.hot.record_rates(self._rates.get("eager"), self._rates.get("compiled"))
        self.hot.close()


def main(argv: list[str] | None = None) -> int:
    """The helper process: compile the step of `--config` for chunks of `--chunk-size` instances."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.training.compile_step")
    parser.add_argument("--config", required=True)
    parser.add_argument("--chunk-size", type=int, required=True)
    args = parser.parse_args(argv)
    import numpy as np

    from engine.config import RunConfig
    from engine.training.run import resolve_run

    # The training process resolved and checked this run (its device included); this process
    # resolves it once more, being another process, and builds a single chunk of it.
    run = resolve_run(RunConfig.from_dict(json.loads(args.config)), available_memory_bytes=None)
    index = np.minimum(np.arange(args.chunk_size), run.instances - 1)
    chunk = Chunk(run, index, fresh_state(run))
    compiled = compile_step(make_train_step(run))  # the training process's backend, so the same cache keys
    compiled(*chunk.step_args(copy=True))
    return 0


if __name__ == "__main__":
    code = main()
    # The caches are written; the training run waits for this exit. An orderly interpreter exit
    # spends 2 s tearing down the compiler's modules (measured on 2 cores), so skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
