"""The fast training path: hand-written gradients, the compiled step, and the eager fallback.

The gradient tests are exact checks against torch.func for every registered activation on each
of the three code paths (features unrolled, broadcast, batched matmul): the derivative comes from
the activation's own definition (value and slope, or value and pullback). Two tests compile for
real (marked slow: a cold compile takes 10-30 s on 2 cores, a warm one a few).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.experiments import instance_count
from engine.training import activations
from engine.training.activations import SHIPPED_ACTIVATIONS, activation_names, build_activation_math
from engine.config import RunConfig
from engine.training.data import feature_batch
from engine.training.gradients import SMALL_MODEL_WEIGHTS, UNROLL_MAX_WEIGHTS, losses_and_grads, losses_and_grads_unrolled, with_gradient
from engine.training.model import instance_losses
from engine.science.phase import classify
from engine.training.train import train
from engine.training.run import resolve_run

train_module = importlib.import_module("engine.training.train")
step_module = importlib.import_module("engine.training.step")
hot_module = importlib.import_module("engine.training.compile_step")  # StepPath, HotSwap
evaluate_module = importlib.import_module("engine.training.evaluate")


def reference(W, b, x, importance, f):
    """Per-instance losses and gradients by torch.func, the definition the fast path must match."""

    def total(W, b):
        losses = instance_losses(W, b, x, importance, f)
        return losses.sum(), losses

    (gW, gb), (_, losses) = torch.func.grad_and_value(total, argnums=(0, 1), has_aux=True)(W, b)
    return losses, gW, gb


def problem(n, m, K=3, batch=64, scale=1.0):
    generator = torch.Generator().manual_seed(n * 100 + m)
    W = torch.randn(K, m, n, generator=generator) * scale  # [K, m, n]
    b = torch.randn(K, n, generator=generator) * 0.3  # [K, n]
    x = feature_batch(torch.arange(K), torch.tensor([1.0, 0.4, 0.05])[:K], n, batch, step=3)  # [K, n, batch]
    importance = torch.rand(K, n, generator=generator) + 0.1  # [K, n]
    # float64, so the comparison tests the calculus rather than float32 rounding
    return W.double(), b.double(), x.double(), importance.double()


@pytest.mark.parametrize("name", activation_names())
@pytest.mark.parametrize("n,m", [(2, 1), (3, 2), (10, 5), (20, 6)])
def test_written_gradients_match_torch_func(name, n, m):
    act = build_activation_math(name)
    W, b, x, importance = problem(n, m, scale=1.5)  # large enough that SoLU and sigmoid saturate somewhere
    want = reference(W, b, x, importance, act.forward)
    got = losses_and_grads(W, b, x, importance, with_gradient(act))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    if m * n <= UNROLL_MAX_WEIGHTS and act.fast:
        unrolled = losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, act)
        for g, w in zip(unrolled, want):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", SHIPPED_ACTIVATIONS)
def test_every_shipped_activation_is_on_the_fast_path(name):
    act = build_activation_math(name)
    assert act.fast, f"{name} has no written derivative: it would train through torch.func"
    # elementwise ones say so (their features are unrolled one by one); only SoLU couples features
    assert act.couples_features == (name == "solu")
    assert (act.value_and_slope is None) == act.couples_features


def test_the_forward_is_read_off_the_same_definition():
    z = torch.linspace(-4, 4, 41, dtype=torch.float64).view(1, 41, 1)
    for name, reference_f in [("relu", torch.relu), ("gelu", torch.nn.functional.gelu), ("silu", torch.nn.functional.silu),
                              ("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
        act = build_activation_math(name)
        torch.testing.assert_close(act.forward(z), reference_f(z))
        y, slope = act.value_and_slope(z)
        torch.testing.assert_close(y, act.forward(z))
        torch.testing.assert_close(slope, torch.func.vmap(torch.func.grad(lambda t: reference_f(t)))(z.flatten()).view_as(z))


def test_the_three_paths_are_all_exercised():
    assert 2 * 1 <= UNROLL_MAX_WEIGHTS < 10 * 5 <= SMALL_MODEL_WEIGHTS < 20 * 6


def test_parametrised_activation_gets_its_parameter():
    act = build_activation_math("stretched_sigmoid", {"eps": 0.3})
    W, b, x, importance = problem(3, 2)
    want = reference(W, b, x, importance, act.forward)
    got = losses_and_grads(W, b, x, importance, act)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n,m", [(2, 1), (10, 5), (20, 6)])  # unrolled, broadcast and matmul paths
def test_instance_axis_solu_has_the_exact_gradient_of_the_summed_loss(n, m):
    """Its softmax runs over the instances, so instance k's gradient collects every instance's
    loss: the written pullback must equal torch.func's gradient of the sum."""
    act = build_activation_math("solu", {"axis": "instance"})
    assert act.fast and act.couples_instances and not act.couples_features
    W, b, x, importance = problem(n, m, scale=1.5)
    want = reference(W, b, x, importance, act.forward)
    for got in [losses_and_grads(W, b, x, importance, act)] + (
            [losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, act)] if m * n <= UNROLL_MAX_WEIGHTS else []):
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)


@pytest.fixture
def user_activation(monkeypatch):
    """A user's activation registered by name only: no derivative written anywhere."""
    monkeypatch.setitem(activations._REGISTRY, "test_softplus", activations._REGISTRY["relu"])
    activations.register_activation("test_softplus", "softplus, added by a user")(
        lambda: torch.nn.functional.softplus
    )
    return "test_softplus"


def test_user_activation_falls_back_to_autograd_with_one_warning(user_activation):
    act = build_activation_math(user_activation)
    assert not act.fast
    W, b, x, importance = problem(10, 5)
    want = reference(W, b, x, importance, act.forward)
    got = losses_and_grads(W, b, x, importance, with_gradient(act))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-12)
    seen = []
    result = train(resolve_run(RunConfig(activation=user_activation, n=2, m=1, steps=30, batch_size=64, compile=False)),
                   on_warning=seen.append)
    assert result.status == "completed" and np.isfinite(result.W).all()
    assert result.loss_history[-1, 0] < result.loss_history[0, 0]
    assert len(seen) == 1 and "torch.func.vjp" in seen[0] and user_activation in seen[0] and "\n" not in seen[0]


def test_a_builtin_name_registered_anew_never_uses_the_old_derivative(monkeypatch):
    monkeypatch.setitem(activations._REGISTRY, "relu", activations._REGISTRY["relu"])
    activations.register_activation("relu", "a user's own relu")(lambda: torch.nn.functional.softplus)
    act = build_activation_math("relu")
    assert not act.fast and act.forward is torch.nn.functional.softplus


def phase_grid_config(**changes) -> RunConfig:
    return RunConfig(
        preset="phase", activation="relu", n=2, m=1, densities=(1.0, 0.3, 0.02), relative_importances=(0.3, 1.0, 3.0),
        seeds=2, steps=400, batch_size=512, lr=1e-2, snapshots=5, compile=True,
    ).replace(**changes)


class StopWhenCompiled:
    """should_stop for a long run: once the compiled step is on its way, wait for it (the event its
    loading thread sets when it ends) instead of racing it with eager steps that a busy machine may
    run for ever, then stop `after` steps once it has taken over. The hang guard is generous: a
    compile that never comes fails the test with that message rather than a long eager run."""

    def __init__(self, monkeypatch, after: int = 40, hang_guard: float = 1200.0):
        self.after, self.hang_guard = after, hang_guard
        self.stages: list[str] = []
        self.compiled_steps = 0
        self.swaps: list = []
        swaps = self.swaps

        class RecordedHotSwap(hot_module.HotSwap):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                swaps.append(self)

        monkeypatch.setattr(hot_module, "HotSwap", RecordedHotSwap)

    def progress(self, p) -> None:
        self.stages.append(p.stage)

    def __call__(self) -> bool:
        if self.stages and self.stages[-1] == "compiled":
            self.compiled_steps += 1
            return self.compiled_steps > self.after
        if self.swaps and self.swaps[-1].stage == "compiling":
            assert self.swaps[-1].ready.wait(self.hang_guard), f"no compiled step after {self.hang_guard:.0f} s"
        return False


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
    """The compiled-step tests' own compile caches and notes: the machine's shared ones hold what
    other runs measured (one that found its compiled step no faster, on a busy spell, makes every
    later run stay eager), and a cold start here compiles in the helper, as for a new user."""
    return tmp_path_factory.mktemp("inductor")


@pytest.mark.slow
def test_a_hot_swapped_run_agrees_with_a_pure_eager_run_per_instance(monkeypatch, compile_cache):
    """Eager from the first step, the compiled step swapped in mid-run with the same state: the
    physics is the eager run's (same phase per instance, losses within a few percent)."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(compile_cache))
    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    stop = StopWhenCompiled(monkeypatch)
    swapped = train(resolve_run(phase_grid_config(steps=1_000_000)), should_stop=stop, on_progress=stop.progress,
                    progress_interval=0.0)
    assert swapped.compiled and 0 < swapped.compiled_from_step < swapped.steps_done, "the swap happened mid-run"
    assert stop.stages[0] == "eager" and "compiling" in stop.stages and stop.stages[-1] == "done"
    assert stop.stages.index("compiling") < stop.stages.index("compiled")
    eager = train(resolve_run(phase_grid_config(steps=swapped.steps_done, compile=False)))
    # the swapped run was stopped (cancelled), so it was judged on a shorter stream: judge both alike
    swapped_loss = evaluate_module.evaluate(resolve_run(phase_grid_config(steps=swapped.steps_done)), swapped.W,
                                            swapped.b).loss
    np.testing.assert_allclose(swapped_loss, eager.final_loss, rtol=0.03, atol=1e-4)
    for Ws, We in zip(swapped.W, eager.W):
        assert classify(Ws) == classify(We)
    # the same graph, again: no helper, no waiting, compiled from the first step
    again = train(resolve_run(phase_grid_config(lr=3e-3, steps=30, densities=(0.5,), seeds=3)))
    assert again.compiled and again.compiled_from_step == 0
    # continuing a run (train --resume) on that graph: compiled from the step it resumes at, and
    # the same as training straight through on it
    from engine.jobs.resume import initial_state
    from engine.store.arrays import RunArrays

    first = train(resolve_run(phase_grid_config(lr=3e-3, steps=12, densities=(0.5,), seeds=3)))
    saved = RunArrays(first.W, first.b, first.final_loss, first.loss_steps, first.loss_history, first.snapshot_steps,
                      first.snapshots, first.diverged, instances=None, adam_mW=first.optimizer.mW,
                      adam_vW=first.optimizer.vW, adam_mb=first.optimizer.mb, adam_vb=first.optimizer.vb,
                      optimizer_step=np.asarray(first.optimizer.step))
    rest = train(resolve_run(phase_grid_config(lr=3e-3, steps=30, densities=(0.5,), seeds=3)), initial=initial_state(saved))
    assert rest.compiled and rest.compiled_from_step == 12 and rest.steps_done == 30
    np.testing.assert_allclose(rest.W, again.W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rest.optimizer.vW, again.optimizer.vW, rtol=1e-5, atol=1e-9)


@pytest.mark.slow
def test_the_compiled_step_flags_a_nan_without_spreading_it(monkeypatch, compile_cache):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(compile_cache))
    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    real_init = step_module.init_weights

    def poisoned_init(*args, **kwargs):
        W, b = real_init(*args, **kwargs)
        W[4, 0, 1] = float("inf")
        return W, b

    monkeypatch.setattr(step_module, "init_weights", poisoned_init)
    config = phase_grid_config(steps=1_000_000)
    stop = StopWhenCompiled(monkeypatch)
    result = train(resolve_run(config), should_stop=stop, on_progress=stop.progress, progress_interval=0.0)
    assert result.compiled
    assert result.diverged.tolist() == [k == 4 for k in range(instance_count(config))]
    others = np.arange(instance_count(config)) != 4
    assert np.isfinite(result.W[others]).all() and np.isfinite(result.loss_history[:, others]).all()


def _warm(monkeypatch):
    """As if this machine had compiled the graph before: the compile is loaded in-process at once."""
    from engine.training import compile_step

    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    monkeypatch.setattr(compile_step.CompileNotes, "read", classmethod(lambda cls, path: cls(warm_seconds=1.0)))


def until_warned(warnings_seen: list, steps_after: int = 20, timeout: float = 120.0):
    """A should_stop that lets training go on a few steps past the first warning (the compile
    starts after about a second of eager steps), or until the timeout."""
    deadline = time.monotonic() + timeout
    after = []

    def should_stop() -> bool:
        if warnings_seen:
            after.append(1)
        return len(after) > steps_after or time.monotonic() > deadline

    return should_stop


def test_compile_failure_trains_eagerly_with_one_warning(monkeypatch):
    def broken(step_fn):
        def fails(*args):
            raise RuntimeError("inductor: no C++ compiler")

        return fails

    _warm(monkeypatch)
    monkeypatch.setattr(hot_module, "compile_step", broken)
    warnings_seen = []
    config = phase_grid_config(steps=100_000)
    result = train(resolve_run(config), on_warning=warnings_seen.append, should_stop=until_warned(warnings_seen))
    assert not result.compiled and result.status == "cancelled"
    assert len(warnings_seen) == 1 and "eager" in warnings_seen[0] and "\n" not in warnings_seen[0]
    np.testing.assert_allclose(result.W, train(resolve_run(config.replace(steps=result.steps_done, compile=False))).W)


def test_compile_unavailable_trains_eagerly_with_one_warning(monkeypatch):
    def unavailable(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    _warm(monkeypatch)
    monkeypatch.setattr(torch, "compile", unavailable)
    warnings_seen = []
    result = train(resolve_run(phase_grid_config(steps=100_000)), on_warning=warnings_seen.append,
                   should_stop=until_warned(warnings_seen))
    assert not result.compiled and len(warnings_seen) == 1 and "eager" in warnings_seen[0]
    assert result.warnings == warnings_seen


def test_no_compile_means_no_compiling_stage():
    stages = []
    result = train(resolve_run(phase_grid_config(steps=5, compile=False)), on_progress=lambda p: stages.append(p.stage),
                   progress_interval=0.0)
    assert not result.compiled and "compiling" not in stages and result.warnings == []


def test_a_run_too_short_to_pay_for_compiling_never_starts_one(monkeypatch):
    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    from engine.training import compile_step

    # as on a machine that never compiled this graph (earlier tests may have left warm notes)
    monkeypatch.setattr(compile_step.CompileNotes, "read", classmethod(lambda cls, path: cls()))
    stages = []
    result = train(resolve_run(phase_grid_config(steps=60)), on_progress=lambda p: stages.append(p.stage), progress_interval=0.0)
    assert not result.compiled and set(stages) <= {"eager", "done"}


def test_cancel_while_compiling_is_immediate_and_leaves_no_helper(monkeypatch):
    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    from engine.training import compile_step

    monkeypatch.setattr(compile_step.CompileNotes, "read", classmethod(lambda cls, path: cls()))  # cold: a helper
    stages, asked = [], []

    def should_stop():
        if stages and stages[-1] == "compiling" and not asked:
            asked.append(len(stages))
        return bool(asked)

    result = train(resolve_run(phase_grid_config(steps=1_000_000)), should_stop=should_stop,
                   on_progress=lambda p: stages.append(p.stage), progress_interval=0.0)
    assert result.status == "cancelled" and "compiling" in stages
    # reported at every boundary: after the ask, no boundary came (no step, no wait for the
    # compiler), only the final report (how long that takes is benchmarks/ctrl_c.py's)
    assert stages[asked[0]:] == ["done"]
    assert _helpers_of_this_process() == [], "the compiling helper was stopped with the run"


def test_a_failed_helper_is_one_warning_and_the_run_goes_on_eagerly(monkeypatch):
    """The loading thread waits for the helper's graph; when the helper fails, the run says so
    once and keeps its eager step (the waiting thread's own error is not a second warning)."""
    import subprocess
    import sys

    from engine.training import compile_step

    monkeypatch.setattr(hot_module, "COMPILED_STEPS", {})
    monkeypatch.setattr(compile_step.CompileNotes, "read", classmethod(lambda cls, path: cls()))  # cold: a helper
    monkeypatch.setattr(compile_step, "_spawn_helper",
                        lambda run, size: subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
    warnings_seen = []
    config = phase_grid_config(steps=100_000)
    result = train(resolve_run(config), on_warning=warnings_seen.append, should_stop=until_warned(warnings_seen, steps_after=200))
    assert not result.compiled and result.status == "cancelled" and result.steps_done > 200
    assert len(warnings_seen) == 1 and "exit 3" in warnings_seen[0] and "eager" in warnings_seen[0]


def _helpers_of_this_process() -> list[Path]:
    """This run's compile helpers: children of this process. A machine-wide look would also find
    the helpers of other runs, such as those of an earlier test's queue worker."""
    import os

    def parent(proc: Path) -> int | None:
        try:  # /proc/<pid>/stat: "pid (name) state ppid ..."; the name may hold spaces
            return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None

    return [p for p in Path("/proc").iterdir()
            if p.name.isdigit() and parent(p) == os.getpid() and b"engine.training.compile_step" in _cmdline(p)]


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


# --- which compiled graph serves which config -------------------------------------------------

_CHANGED = {"preset": "correlated", "activation": "gelu", "optimizer": "adamw", "schedule": "cosine",
            "init": "xavier_batched", "device": "cpu", "activation_params": {"eps": 0.2}, "loss_reduction": "mean",
            "profile": "anthropic", "point_layout": "pairs"}


def _changed(config: RunConfig, name: str):
    value = getattr(config, name)
    if name in _CHANGED:
        return _CHANGED[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, tuple):
        return value + (0.5,)
    raise AssertionError(f"no change known for config field {name!r}: add one to _CHANGED")


def graph_key_of(config: RunConfig) -> tuple:
    """The compiled step's key for `config` on the CPU, valid or not: the key of every changed
    field is compared, and some changes (relu given an eps) are no run a user could start."""
    import dataclasses

    from engine.experiments import experiment_for

    base = resolve_run(phase_grid_config(device="cpu"))
    run = dataclasses.replace(base, config=config, experiment=experiment_for(config),
                              activation_factory=activations.get_activation(config.activation).make)
    return step_module.graph_key(run)


def test_every_config_field_either_shapes_the_graph_or_travels_as_a_tensor():
    """A field is in the compiled step's key unless it is listed as a tensor input, so a new
    data option can never silently reuse a graph built for the old data."""
    import dataclasses

    base = phase_grid_config(weight_decay=0.01)  # weight decay on: its value is then an input
    key = graph_key_of(base)
    for field in dataclasses.fields(RunConfig):
        changed = base.replace(**{field.name: _changed(base, field.name)})
        same = graph_key_of(changed) == key
        assert same == (field.name in step_module.STEP_INPUT_FIELDS), field.name
    # turning weight decay on or off changes the step's code, its value does not
    assert graph_key_of(base.replace(weight_decay=0.0)) != key


def test_new_data_values_reuse_the_graph_and_a_new_sampler_does_not():
    config = RunConfig(preset="custom", n=4, m=2, densities=(0.3,), steps=3, batch_size=32, snapshots=0, device="cpu")
    key = step_module.graph_key(resolve_run(config))
    # densities, seeds, learning rate and step count travel as tensors: the same graph
    assert step_module.graph_key(resolve_run(config.replace(densities=(0.1, 0.05), seeds=2, lr=0.01, steps=5))) == key
    other = step_module.graph_key(resolve_run(config.replace(preset="correlated")))  # another experiment's sampler
    assert other != key
    assert step_module.graph_key(resolve_run(config.replace(preset="correlated", densities=(0.4, 0.2)))) == other


@pytest.mark.parametrize("set_by_user", [True, False])
def test_our_compile_notes_live_in_inductors_own_cache_folder(monkeypatch, tmp_path, set_by_user):
    """The folder is worked out without importing the compiler; it must be the one torch uses,
    so that a fresh TORCHINDUCTOR_CACHE_DIR means cold notes as well as cold kernels."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    from engine.training.compile_step import cache_root

    if set_by_user:
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    else:
        monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    ours = cache_root()
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    if set_by_user:
        monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    assert ours == Path(cache_dir())


def test_compiling_is_worth_it_only_when_the_compiled_step_arrives_with_work_left():
    from engine.training.compile_step import CompileNotes, worth_compiling

    cold, warm = CompileNotes(), CompileNotes(warm_seconds=0.5, cold_seconds=30.0)
    assert not worth_compiling(40, eager_rate=500.0, notes=cold)  # done long before a cold compile
    assert worth_compiling(1_000_000, eager_rate=500.0, notes=cold)
    assert not worth_compiling(200, eager_rate=500.0, notes=warm)  # ends while loading
    assert worth_compiling(20_000, eager_rate=500.0, notes=warm)
    slower = CompileNotes(warm_seconds=0.5, compiled_rate=450.0, eager_rate=500.0)
    assert not worth_compiling(1_000_000, eager_rate=500.0, notes=slower)  # measured: no faster here


def test_a_graph_never_compiled_is_judged_by_what_this_machine_measured_on_others():
    """The built-in guesses (a 60 s cold compile, twice as fast) fit a small CPU. Measured on an
    H200 server: 20 s to compile, ten times faster. A 3,000-step phase run at 77 eager steps/s
    (39 s eager, about 24 s compiling first) is worth compiling there; the guesses left it eager."""
    from engine.training.compile_step import CompileNotes, worth_compiling

    never_compiled = CompileNotes()
    gpu_server = CompileNotes(cold_seconds=20.0, compiled_rate=740.0, eager_rate=77.0)
    assert not worth_compiling(3_000, eager_rate=77.0, notes=never_compiled)
    assert worth_compiling(3_000, eager_rate=77.0, notes=never_compiled, machine=gpu_server)
    no_gain_here = CompileNotes(cold_seconds=20.0, compiled_rate=80.0, eager_rate=77.0)
    assert not worth_compiling(1_000_000, eager_rate=77.0, notes=never_compiled, machine=no_gain_here)
    # a graph's own measurements come before the machine's
    own = CompileNotes(cold_seconds=50.0)
    assert not worth_compiling(3_000, eager_rate=77.0, notes=own, machine=gpu_server)


def whole_chunk(config: RunConfig):
    """All of a fresh run's instances as one chunk on the CPU, as the hot swap is given it."""
    run = resolve_run(config.replace(device="cpu"))
    return step_module.Chunk(run, np.arange(run.instances), step_module.fresh_state(run))


def test_a_cold_compile_leaves_its_length_and_speedup_for_the_next_graph(monkeypatch, tmp_path):
    """What `worth_compiling` reads as `machine`: written when a compiled step took over, with
    the cold compile's length only when this run measured one (a warm load says nothing of it)."""
    from engine.training.compile_step import CompileNotes, HotSwap

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    config = phase_grid_config()
    chunk = whole_chunk(config)

    def compiled_once(cold_seconds, helper_ran):
        hot = HotSwap(resolve_run(config), chunk, ("a graph", cold_seconds), step_module.compile_step, warn=print)
        hot.stage, hot.notes.cold_seconds = "compiled", cold_seconds
        hot._helper_ended = 1.0 if helper_ran else None
        hot.record_rates(eager_rate=77.0, compiled_rate=740.0)
        return CompileNotes.read(tmp_path / "supertui" / "machine-cpu.json")

    assert compiled_once(20.0, helper_ran=True) == CompileNotes(cold_seconds=20.0, compiled_rate=740.0, eager_rate=77.0)
    assert compiled_once(None, helper_ran=False).cold_seconds == 20.0  # a warm load keeps the last cold length
    notes = tmp_path / "supertui" / "machine-cpu.json"
    for written in ('[1, 2]', '{"cold_seconds": -5, "compiled_rate": "NaN", "eager_rate": 1e999}', "{nope"):
        notes.write_text(written)
        assert CompileNotes.read(notes) == CompileNotes()  # nothing a decision could be misled by


def test_the_step_is_loaded_for_the_thread_count_training_will_use(monkeypatch, tmp_path):
    """While the helper compiles, training runs on one thread fewer; a thread started then would
    inherit that count and compile a graph for it (measured: a cache miss, 34 s compiling again
    in-process, then a recompile on the training thread once its count was restored)."""
    from engine.training.compile_step import HotSwap

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    config = phase_grid_config()
    chunk = whole_chunk(config)
    seen = []

    def compile_fn(step_fn, before_codegen=None):
        seen.append(torch.get_num_threads())
        return step_fn

    hot = HotSwap(resolve_run(config), chunk, ("a graph",), compile_fn, warn=print)
    hot.eager_step = lambda *args: None
    training_threads = torch.get_num_threads()
    hot._threads = training_threads + 1  # as `_yield_a_core` leaves it: one fewer than before
    try:
        hot._load_in_thread()
        hot.thread.join()
    finally:
        torch.set_num_threads(training_threads)
    assert seen == [training_threads + 1] and torch.get_num_threads() == training_threads


HELPER_PARENT = r"""
import json, sys, time
from engine.config import RunConfig
from engine.training.compile_step import _spawn_helper
from engine.training.run import resolve_run
run = resolve_run(RunConfig.from_dict(json.loads(sys.argv[1])))
helper = _spawn_helper(run, 8)
print(helper.pid, flush=True)
time.sleep(600)
"""


def test_a_compile_helper_dies_with_its_worker_killed_alone(tmp_path):
    """A worker killed with SIGKILL runs no clean-up; its helper must not compile on, orphaned."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from engine.system.processes import child_env

    env = {**child_env(), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}  # cold: the helper compiles a while
    config = json.dumps(phase_grid_config(steps=100).to_dict())
    parent = subprocess.Popen([sys.executable, "-c", HELPER_PARENT, config], stdout=subprocess.PIPE, env=env)
    try:
        helper_pid = int(parent.stdout.readline())
        assert _alive(helper_pid), "the helper started"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 60  # a hang guard: the kernel's signal comes at once
        while _alive(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(helper_pid), "the helper outlived its worker"
    finally:
        parent.kill()
        parent.wait()


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
