"""Training: K instances as one batched tensor, one fused step, progress and cancellation.

The whole step (data from the experiment's sampler, forward, the hand-written gradient, the Adam
update and the divergence guard) is one function, `make_train_step`, which torch.compile fuses
into one graph (one loop over instances and samples for small models). The eager path runs the
very same function; it is used with `compile=False` and, after a one-line warning, where
compiling fails. Final losses come from `evaluate`: one evaluation stream shared by every
instance, so the seeds of a grid point are judged on the same samples.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from engine.activations import build_activation_math
from engine.config import RunConfig
from engine.data import hashed_uniform, stream_keys
from engine.device import describe_device, select_device
from engine.experiments import experiment_for
from engine.gradients import UNROLL_MAX_WEIGHTS, losses_and_grads, losses_and_grads_unrolled, with_gradient
from engine.memory import (  # noqa: F401 (EVAL_SAMPLES and SNAPSHOT_FLOATS are read here by tests)
    CHUNK_ELEMENTS, EVAL_CHUNK, EVAL_CHUNK_ELEMENTS, EVAL_SAMPLES, HISTORY_POINTS, SNAPSHOT_FLOATS, snapshot_count,
)
from engine.model import init_weights, loss_weights, sample_losses
from engine.sweep import InstanceTable, instance_table

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# Sizes (chunks, history rows, snapshots, the evaluation stream) live in engine.memory, beside the
# memory estimate that validate() checks. Final losses: one evaluation stream, the same samples for
# every instance of a run whatever its seed, large enough that the standard error of a loss gap
# between two seeds is small against the gaps it decides (the paired error is reported with it),
# evaluated in chunks.
EVAL_SEED = 0x5EED  # the evaluation stream's own seed: no instance's training data
_EVAL_STEP = 2**31 - 1  # chunk c of the stream is "step" _EVAL_STEP - c
_EVAL_SALT = 2


@dataclass
class TrainProgress:
    """What a live view needs, sent every `progress_interval` seconds (and at the end)."""

    step: int  # steps done
    steps: int
    losses: np.ndarray  # [K] mean training loss since the last report
    elapsed: float  # seconds since training (not compiling) began
    steps_per_second: float
    stage: str  # "eager" | "compiling" (eager, the compiled step on its way) | "compiled" | "done"
    diverged: np.ndarray  # [K] bool
    W: np.ndarray | None = None  # [K, m, n]
    b: np.ndarray | None = None  # [K, n]
    history_steps: np.ndarray | None = None  # [r] steps of the loss-history rows recorded since the last report
    history_rows: np.ndarray | None = None  # [r, K] those rows

    @property
    def seconds_left(self) -> float | None:
        if self.steps_per_second <= 0:
            return None
        return (self.steps - self.step) / self.steps_per_second


@dataclass
class OptimizerState:
    """What the step needs, besides W and b, to continue a run exactly: Adam's moments and the
    step counter (the data of step t are a pure function of (seed, t, ...), so resuming at t
    continues the very same stream)."""

    mW: np.ndarray  # [K, m, n] first moment of W
    vW: np.ndarray  # [K, m, n] second moment of W
    mb: np.ndarray  # [K, n]
    vb: np.ndarray  # [K, n]
    step: int  # steps done: the 0-based index of the next step


@dataclass
class TrainState:
    """Where training starts: a fresh run (from the config's init) or a saved one to continue."""

    W: np.ndarray  # [K, m, n]
    b: np.ndarray  # [K, n]
    optimizer: OptimizerState
    diverged: np.ndarray  # [K] bool: frozen instances stay frozen


@dataclass
class TrainResult:
    W: np.ndarray  # [K, m, n]
    b: np.ndarray  # [K, n]
    final_loss: np.ndarray  # [K] on a fixed evaluation batch, so seeds compare fairly
    loss_steps: np.ndarray  # [T] step at the end of each recorded interval
    loss_history: np.ndarray  # [T, K] mean training loss over each interval
    snapshot_steps: np.ndarray  # [S]
    snapshots: np.ndarray  # [S, K, m, n]
    diverged: np.ndarray  # [K] bool: a NaN or inf appeared; the instance was frozen there
    status: str  # "completed" | "cancelled"
    steps_done: int
    device: str
    compiled: bool
    elapsed: float
    warnings: list[str] = field(default_factory=list)
    compiled_from_step: int | None = None  # the step from which the compiled step ran (None: eager only)
    step_rates: dict[str, float] = field(default_factory=dict)  # measured steps/s: "eager", "compiled"
    final_loss_se: np.ndarray | None = None  # [K] standard error of final_loss (evaluation samples)
    final_loss_gap_se: np.ndarray | None = None  # [K] paired standard error of (loss_k - its point's winner)
    optimizer: OptimizerState | None = None  # the state to resume from (engine.resume)


def lr_factor(schedule: str, t: torch.Tensor, steps: int | torch.Tensor) -> torch.Tensor:
    """Multiplier of the base learning rate at (0-based) step t of `steps`."""
    frac = t.to(torch.float32) / steps
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        return 0.5 * (1.0 + torch.cos(math.pi * frac))
    return torch.ones_like(frac)


def make_train_step(config: RunConfig) -> Callable[..., torch.Tensor]:
    """The fused training step for one chunk of instances; mutates the state tensors in place.

    Arguments (all tensors, so a compiled graph never specialises on a Python number):
      W [K, m, n], b [K, n], Adam moments of both, t [] int64 (0-based step, advanced here),
      unique_seeds [S], seed_row [K] (instance -> its row of unique_seeds), data (the sampler's
      per-instance tensors, a dict of [K, ...]: density and whatever else the experiment's data
      need), importance [K, n], loss_sum [K] (training loss accumulated here), diverged [K] bool,
      and optionally hyper [3] = (lr, steps, weight_decay); without it the config's values are
      baked in as constants.
    Returns the per-instance losses [K] of this step.

    The data come from the run's experiment's sampler only. The gradient is written out
    (engine.gradients), so forward, backward and the batch reductions fuse into one loop; for
    n*m <= UNROLL_MAX_WEIGHTS the features are unrolled into separate [K, batch] tensors.
    """
    act = with_gradient(build_activation_math(config.activation, config.activation_params))
    sample = experiment_for(config).sampler.build()
    n, batch, steps, base_lr = config.n, config.batch_size, config.steps, config.lr
    decoupled = config.optimizer == "adamw"
    weight_decay = config.weight_decay
    use_wd = weight_decay > 0
    beta1, beta2 = ADAM_BETAS
    schedule = config.schedule
    # Unrolled features need a derivative of the features one by one (or stacked, when coupled).
    unrolled = act.fast and config.m * config.n <= UNROLL_MAX_WEIGHTS

    def step(W, b, mW, vW, mb, vb, t, unique_seeds, seed_row, data, importance, loss_sum, diverged, hyper=None):
        # Hyperparameters travel as a tensor, so a new lr or step count reuses the compiled graph.
        lr0, total_steps, wd = (base_lr, steps, weight_decay) if hyper is None else (hyper[0], hyper[1], hyper[2])
        uniform = hashed_uniform(stream_keys(unique_seeds, t), n, batch)  # [S, n, batch]
        x = sample(uniform, seed_row, data)  # [K, n, batch]
        # Each instance's gradient is that of its own loss: the same as summing the losses.
        if unrolled:
            losses, gW, gb = losses_and_grads_unrolled(W, b, list(x.unbind(1)), importance, act)
        else:
            losses, gW, gb = losses_and_grads(W, b, x, importance, act)  # [K], [K, m, n], [K, n]
        ok = torch.isfinite(losses) & ~diverged  # [K]
        ok = ok & torch.isfinite(gW).flatten(1).all(1) & torch.isfinite(gb).all(1)
        okW, okb = ok.view(-1, 1, 1), ok.view(-1, 1)
        zero = torch.zeros((), dtype=W.dtype, device=W.device)
        gW = torch.where(okW, gW, zero)  # a NaN never reaches the moments of any instance
        gb = torch.where(okb, gb, zero)
        if use_wd and not decoupled:
            gW = gW + wd * W
            gb = gb + wd * b
        t1 = (t + 1).to(torch.float32)
        lr = lr0 * lr_factor(schedule, t, total_steps)
        step_size = lr / (1 - beta1**t1)
        root_bc2 = torch.sqrt(1 - beta2**t1)
        for p, g, m1, m2, okp in ((W, gW, mW, vW, okW), (b, gb, mb, vb, okb)):
            m1.mul_(torch.where(okp, beta1, 1.0)).add_(torch.where(okp, (1 - beta1) * g, zero))
            m2.mul_(torch.where(okp, beta2, 1.0)).add_(torch.where(okp, (1 - beta2) * g * g, zero))
            update = step_size * m1 / (torch.sqrt(m2) / root_bc2 + ADAM_EPS)
            if use_wd and decoupled:
                update = update + lr * wd * p
            p.sub_(torch.where(okp, update, zero))
        diverged.logical_or_(~ok)
        loss_sum.add_(torch.where(ok, losses, zero))
        t.add_(1)
        return losses

    return step


def sampler_tensors(config: RunConfig, table: InstanceTable, index: np.ndarray, device) -> dict[str, torch.Tensor]:
    """The experiment's per-instance data parameters for the instances `index`: name -> [k, ...]."""
    params = experiment_for(config).sampler.params(table)
    return {name: torch.as_tensor(np.asarray(value)[index], device=device) for name, value in params.items()}


class Chunk:
    """The state of one slice of instances, trained by one call of the step."""

    def __init__(self, table: InstanceTable, index: np.ndarray, config: RunConfig, device: torch.device,
                 start: TrainState):
        self.index = index  # [k] instance indices (padded chunks repeat the last instance)
        seeds = torch.as_tensor(table.seed[index], device=device)
        self.unique_seeds, self.seed_row = torch.unique(seeds, return_inverse=True)
        self.data = sampler_tensors(config, table, index, device)  # {"density": [k], ...}
        # [k, n]: the loss's weight of each feature (importance, over n when the loss averages features)
        self.importance = torch.as_tensor(loss_weights(table.importance[index], config.loss_reduction), device=device)

        def part(array: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array[index]), device=device).clone()

        self.W, self.b = part(start.W), part(start.b)  # [k, m, n], [k, n]
        opt = start.optimizer
        self.mW, self.vW, self.mb, self.vb = part(opt.mW), part(opt.vW), part(opt.mb), part(opt.vb)
        self.t = torch.tensor(opt.step, dtype=torch.int64, device=device)
        self.loss_sum = torch.zeros(len(index), device=device)
        self.diverged = part(start.diverged)  # [k] bool
        self.hyper = torch.tensor([config.lr, config.steps, config.weight_decay], dtype=torch.float32, device=device)

    def step_args(self, copy: bool = False) -> tuple:
        """The step's arguments; with copy, fresh tensors of the same shapes for a compile to run a
        step on (producing the very graph the training will call) without touching the training
        state. Their first dimension is marked dynamic, so one compiled graph serves any instance
        count (and any count of distinct seeds); the training's own tensors need no mark, which
        keeps torch._dynamo (seconds to import) out of a run that never compiles."""
        args = (self.W, self.b, self.mW, self.vW, self.mb, self.vb, self.t, self.unique_seeds, self.seed_row,
                self.data, self.importance, self.loss_sum, self.diverged, self.hyper)
        if not copy:
            return args
        return tuple(_copy_like(a, dynamic=a is not self.t and a is not self.hyper) for a in args)

    def run(self, step_fn) -> None:
        step_fn(*self.step_args())


def _copy_like(value, dynamic: bool):
    if isinstance(value, dict):
        return {k: _copy_like(v, dynamic) for k, v in value.items()}
    copy = value.clone()
    if dynamic:
        import torch._dynamo

        torch._dynamo.maybe_mark_dynamic(copy, 0)
    return copy


def chunk_plan(config: RunConfig, K: int) -> list[np.ndarray]:
    """The instances each call of the step trains. An activation that couples the instances
    (SoLU with axis=instance) needs them all in one chunk, unpadded: a repeated instance would
    enter the others' softmax."""
    if build_activation_math(config.activation, config.activation_params).couples_instances:
        return [np.arange(K)]
    return _chunk_indices(K, config.n, config.batch_size)


def fresh_state(config: RunConfig, table: InstanceTable, device) -> TrainState:
    """The state before step 0: the config's init, zero moments."""
    W0, b0 = init_weights(torch.as_tensor(table.seed), config.n, config.m, config.init, device)
    W, b = W0.cpu().numpy(), b0.cpu().numpy()
    zeros = OptimizerState(np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b), 0)
    return TrainState(W, b, zeros, np.zeros(len(table), dtype=bool))


def _chunk_indices(K: int, n: int, batch: int) -> list[np.ndarray]:
    """Equal-size chunks (the last padded with repeats), so one compiled graph serves them all."""
    per_chunk = max(1, CHUNK_ELEMENTS // (n * batch))
    count = math.ceil(K / per_chunk)
    size = math.ceil(K / count)
    order = np.arange(count * size)
    return [np.minimum(order[i * size : (i + 1) * size], K - 1) for i in range(count)]


def snapshot_schedule(config: RunConfig, K: int, after: int = 0) -> np.ndarray:
    """Log-spaced steps (0 = the init) at which W is kept, bounded in count and bytes. A run that
    continues another from step `after` keeps those past it (the parent kept the rest)."""
    count = snapshot_count(config, K)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    steps = np.unique(np.round(np.geomspace(1, config.steps, max(1, count - 1))).astype(np.int64))
    steps = np.concatenate([[0], steps])
    return steps[steps > after] if after else steps


# Compiled steps, kept for the life of the process: what shapes the graph is the key; the
# hyperparameters and the instance count are inputs, so a new lr, step count or grid reuses it
# (and dynamo's recompile limit is never reached in a long session of the app).
_COMPILED_STEPS: dict[tuple, Callable] = {}

# Config fields that never shape the compiled step: they reach it as tensor inputs (the
# hyperparameters, and the instance table: densities, importances, seeds) or not at all. Every
# other field is part of the graph's key, so a field added later recompiles until it is listed here.
STEP_INPUT_FIELDS = frozenset({
    "lr", "steps", "weight_decay",  # the `hyper` tensor (whether weight decay is on is keyed below)
    "densities", "relative_importances", "importance_decay", "seeds", "seed",  # the instance tensors
    "init", "snapshots", "compile", "phase_threshold", "device",  # outside the step (device: keyed below)
    "loss_reduction", "profile",  # the importance tensor carries the reduction; the profile is a name
})


def _frozen(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _graph_key(config: RunConfig, device: torch.device) -> tuple:
    """The identity of the compiled step: the whole config but STEP_INPUT_FIELDS, plus what the
    config names only by a string (the activation's factory, the experiment's sampler)."""
    from engine.activations import get_activation

    fields = {k: v for k, v in config.to_dict().items() if k not in STEP_INPUT_FIELDS}
    sampler = experiment_for(config).sampler
    return (
        _frozen(fields), id(get_activation(config.activation).make), sampler.name, id(sampler.build),
        config.weight_decay > 0, str(device),
    )


def compile_step(step_fn, before_codegen: Callable[[], None] | None = None):
    """The fused step under torch.compile (compiled lazily, at its first call).

    `before_codegen` is called between tracing and inductor's code generation: the hot swap
    traces the step in this process while a helper process generates and compiles the very same
    graph, and waits there for the helper, so that inductor then finds that graph in its cache.
    Every path goes through the same backend function, so their cache keys are the same."""
    import torch._dynamo as dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(dynamo.config, name):
            setattr(dynamo.config, name, max(getattr(dynamo.config, name), 64))

    def inductor(graph, example_inputs):
        from torch._inductor.compile_fx import compile_fx

        if before_codegen is not None:
            before_codegen()
        return compile_fx(graph, example_inputs)

    return torch.compile(step_fn, fullgraph=True, backend=inductor)


@dataclass
class Evaluation:
    """Final losses on the shared evaluation stream, with their sampling errors."""

    loss: np.ndarray  # [K] mean loss per sample
    se: np.ndarray  # [K] standard error of that mean
    gap_se: np.ndarray  # [K] paired standard error of (loss_k - loss of its point's winner);
    # for the winner, of (runner-up - winner): the gap that decided the point. NaN with one seed.


def _seed_groups(table: InstanceTable) -> int | None:
    """Seeds per point when the table is point-major with equal groups (as every experiment lays
    it out), else None (then no paired errors are computed)."""
    points, counts = np.unique(table.point, return_counts=True)
    S = int(counts[0]) if len(counts) else 0
    expected = np.repeat(np.arange(len(points)), S)
    ok = S > 0 and (counts == S).all() and np.array_equal(table.point, points[expected])
    return S if ok else None


def evaluate(
    config: RunConfig, table: InstanceTable, W: np.ndarray, b: np.ndarray, device="cpu", samples: int = EVAL_SAMPLES
) -> Evaluation:
    """Every instance's loss on the same `samples` samples: one evaluation stream of its own seed
    (EVAL_SEED), drawn by the run's sampler with each instance's own data parameters, so two seeds
    of one grid point are judged on exactly the same data. Chunked over instances and samples."""
    act = build_activation_math(config.activation, config.activation_params)
    f = act.forward
    sample = experiment_for(config).sampler.build()
    K, n = len(table), config.n
    S = _seed_groups(table) or 1
    chunks = max(1, samples // EVAL_CHUNK)
    # An instance-coupled activation sees every instance at once: one group, cut along the samples.
    per_chunk = K if act.couples_instances else S * max(1, EVAL_CHUNK_ELEMENTS // (n * EVAL_CHUNK * S))
    width = min(EVAL_CHUNK, max(1, EVAL_CHUNK_ELEMENTS // (n * per_chunk)))  # samples per call
    # Chunks of whole points, each with what its instances need and their running sums.
    groups = [_eval_group(config, table, W, b, np.arange(k0, min(K, k0 + per_chunk)), S, device)
              for k0 in range(0, K, per_chunk)]
    eval_seed = torch.tensor([EVAL_SEED], device=device)
    with torch.no_grad():
        for c in range(chunks):  # the samples outside: each chunk of the stream is hashed once
            uniform = hashed_uniform(stream_keys(eval_seed, _EVAL_STEP - c, _EVAL_SALT), n, EVAL_CHUNK)  # [1, n, B]
            for g in groups:
                for lo in range(0, EVAL_CHUNK, width):
                    x = sample(uniform[..., lo : lo + width], g["rows"], g["data"])  # [k, n, B]
                    losses = sample_losses(g["W"], g["b"], x, g["importance"], f).double()  # [k, B]
                    g["sums"] += losses.sum(-1)
                    grouped = losses.view(-1, S, losses.shape[-1])  # [p, S, B]
                    g["cross"] += torch.einsum("psb,ptb->pst", grouped, grouped)
    sums = np.zeros(K)
    cross = np.full((K, S), np.nan)  # [K, S]: sum over samples of l_k * l_(its point's seed s)
    for g in groups:
        sums[g["index"]] = g["sums"].cpu().numpy()
        cross[g["index"]] = g["cross"].reshape(-1, S).cpu().numpy()
    N = chunks * EVAL_CHUNK
    mean = sums / N
    own = cross[np.arange(K), np.arange(K) % S]  # sum of l_k^2
    with np.errstate(invalid="ignore"):
        variance = np.maximum(own / N - mean**2, 0.0) * N / (N - 1)
        se = np.sqrt(variance / N)
    return Evaluation(mean, se, _paired_gap_se(table, mean, cross, S, N) if S > 1 and _seed_groups(table) else np.full(K, np.nan))


def _eval_group(config: RunConfig, table: InstanceTable, W: np.ndarray, b: np.ndarray, index: np.ndarray, S: int,
                device) -> dict:
    return dict(
        index=index,
        data=sampler_tensors(config, table, index, device),
        W=torch.as_tensor(W[index], device=device),
        b=torch.as_tensor(b[index], device=device),
        importance=torch.as_tensor(loss_weights(table.importance[index], config.loss_reduction), device=device),
        rows=torch.zeros(len(index), dtype=torch.int64, device=device),  # every instance reads stream 0
        sums=torch.zeros(len(index), dtype=torch.float64, device=device),  # [k] sum of losses
        cross=torch.zeros(len(index) // S, S, S, dtype=torch.float64, device=device),  # [p, S, S] sums of products
    )


def _paired_gap_se(table: InstanceTable, mean: np.ndarray, cross: np.ndarray, S: int, N: int) -> np.ndarray:
    """Standard error of loss_k - loss_o, o = k's point winner (the runner-up for the winner),
    from the per-point sums of products of per-sample losses: cross [K, S]."""
    from engine.sweep import lowest_loss_instances

    out = np.full(len(mean), np.nan)
    winners = lowest_loss_instances(table.point, mean)
    for p, w in zip(np.unique(table.point), winners):
        members = np.flatnonzero(table.point == p)
        others = [k for k in members if k != w and np.isfinite(mean[k])]
        if not others:
            continue
        runner_up = min(others, key=lambda k: mean[k])
        for k in members:
            o = runner_up if k == w else w
            s_k, s_o = k % S, o % S
            second = (cross[k, s_k] + cross[o, s_o] - 2 * cross[k, s_o]) / N  # mean of (l_k - l_o)^2
            with np.errstate(invalid="ignore"):
                variance = max(second - (mean[k] - mean[o]) ** 2, 0.0) * N / (N - 1)
            out[k] = np.sqrt(variance / N)
    return out


def evaluate_losses(config: RunConfig, table: InstanceTable, W: np.ndarray, b: np.ndarray, device="cpu") -> np.ndarray:
    """Per-instance loss on the shared evaluation stream (see `evaluate`): [K]."""
    return evaluate(config, table, W, b, device).loss


class StepPath:
    """Which step function trains each step: the eager one from the first step, the compiled one
    from the step boundary where it arrives (engine.compile_step), or the compiled one at once
    when this process compiled that graph before. `stage` is what progress reports show:
    "eager", "compiling" (eager, with the compiled step on its way) or "compiled"."""

    def __init__(self, config: RunConfig, device, chunks: list[Chunk], warn: Callable[[str], None],
                 first_step: int = 0):
        from engine.compile_step import HotSwap

        self.config = config
        self.first_step = first_step  # a continued run starts at its parent's step counter
        self.eager = make_train_step(config)
        self.key = _graph_key(config, device)
        self.fn = _COMPILED_STEPS.get(self.key) if config.compile else None
        self.compiled_from: int | None = first_step if self.fn is not None else None
        self.stage = "compiled" if self.fn is not None else "eager"
        self.fn = self.fn or self.eager
        self.hot = HotSwap(config, chunks[0], self.key, compile_step, warn) if config.compile and self.stage == "eager" else None
        self._timing: tuple[int, float] | None = None  # (step, time) where eager timing began
        self._rates: dict[str, float] = {}
        self._swap_time: tuple[int, float] | None = None

    def between_steps(self, done: int, steps_left: int) -> None:
        """Called before each step: decide whether to compile, and swap when it is ready."""
        from engine.compile_step import MEASURE_SECONDS, MEASURE_STEPS, worth_compiling

        if self.hot is None:
            return
        now = time.perf_counter()
        if self._timing is None and done >= self.first_step + 1:
            self._timing = (done, now)  # the first step pays for warm-up: time from the second
        measured = self._timing is not None and done - self._timing[0] >= MEASURE_STEPS and now - self._timing[1] >= MEASURE_SECONDS
        if self.hot.stage == "eager" and measured:
            eager_rate = (done - self._timing[0]) / max(now - self._timing[1], 1e-9)
            self._rates["eager"] = eager_rate
            if worth_compiling(steps_left, eager_rate, self.hot.notes, self.hot.machine):
                self.hot.start(self.eager)
                self.stage = "compiling"
            else:
                self.hot = None  # staying eager: this run ends before a compiled step would pay
                return
        compiled = self.hot.poll() if self.hot.stage == "compiling" else None
        if self.hot.stage == "failed":
            self.stage = "eager"
        if compiled is not None:
            _COMPILED_STEPS[self.key] = compiled
            self.fn, self.stage, self.compiled_from = compiled, "compiled", done
            self._swap_time = (done, now)

    def compile_now(self, chunk: Chunk) -> None:
        """Compile before training (blocking): the old way, kept as a baseline for benchmarks."""
        if self.stage == "compiled":
            return
        compiled = compile_step(self.eager)
        compiled(*chunk.step_args(copy=True))
        _COMPILED_STEPS[self.key] = compiled
        self.fn, self.stage, self.compiled_from, self.hot = compiled, "compiled", self.first_step, None
        self._swap_time = (self.first_step, time.perf_counter())

    def step(self, chunks: list[Chunk]) -> None:
        for chunk in chunks:
            chunk.run(self.fn)

    @property
    def rates(self) -> dict[str, float]:
        return dict(self._rates)

    def close(self, done: int) -> None:
        """The run's last step was `done`: remember the measured rates for the next decision."""
        if self._swap_time is not None:
            swapped_at, since = self._swap_time
            elapsed = time.perf_counter() - since
            if elapsed > 0.5:
                self._rates["compiled"] = (done - swapped_at) / elapsed
        if self.hot is None:
            return
        self.hot.record_rates(self._rates.get("eager"), self._rates.get("compiled"))
        self.hot.close()


def train(
    config: RunConfig,
    *,
    on_progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[TrainResult], None] | None = None,
    progress_interval: float = 0.25,
    checkpoint_interval: float = 30.0,
    send_weights: bool = True,
    on_warning: Callable[[str], None] | None = None,
    initial: TrainState | None = None,
    compile_first: bool = False,
) -> TrainResult:
    """Train every instance of `config` together; return when done or when should_stop() says so.

    should_stop is checked before every step, so cancelling stops within one step and keeps
    what was trained (status "cancelled"). `initial` continues a saved run from its step counter
    up to config.steps (engine.resume); the result then holds the steps after it. With
    config.compile the eager step trains at once and the compiled one takes over when it is ready
    (StepPath); compile_first instead compiles before the first step, as a benchmark's baseline.
    """
    config.validate()
    notes: list[str] = []

    def warn(message: str) -> None:
        notes.append(message)
        if on_warning:
            on_warning(message)
        else:
            warnings.warn(message, RuntimeWarning, stacklevel=2)

    device = select_device(config.device)
    table = instance_table(config)
    if not build_activation_math(config.activation, config.activation_params).fast:
        warn(f"activation {config.activation!r} has no written derivative: its gradient falls back to torch.func.vjp (slower)")
    K = len(table)
    start = initial if initial is not None else fresh_state(config, table, device)
    first_step = int(start.optimizer.step)
    if not 0 <= first_step < config.steps:
        raise ValueError(f"the initial state is at step {first_step}, not before the last step {config.steps}")
    chunks = [Chunk(table, idx, config, device, start) for idx in chunk_plan(config, K)]
    path = StepPath(config, device, chunks, warn, first_step=first_step)
    if compile_first and config.compile:
        path.compile_now(chunks[0])

    record_every = max(1, math.ceil(config.steps / HISTORY_POINTS))
    snap_steps = snapshot_schedule(config, K, after=first_step)
    snapshots: list[np.ndarray] = []
    loss_steps: list[int] = []
    loss_rows: list[np.ndarray] = []

    def gather(attr: str) -> np.ndarray:
        full = None
        for chunk in chunks:
            value = getattr(chunk, attr).detach().cpu().numpy()
            if full is None:
                full = np.empty((K,) + value.shape[1:], dtype=value.dtype)
            full[chunk.index] = value  # padded repeats write the same instance twice
        return full

    def take_loss_row(steps: int) -> np.ndarray:
        """Each instance's mean training loss over the last `steps` steps: [K]. A diverged
        instance is frozen and adds nothing, so its row is NaN, never a misleading 0."""
        row = (gather("loss_sum") / steps).astype(np.float32)
        for chunk in chunks:
            chunk.loss_sum.zero_()
        row[gather("diverged")] = np.nan
        return row

    if len(snap_steps) and snap_steps[0] == 0:
        snapshots.append(gather("W"))

    def result(status: str, steps_done: int, elapsed: float) -> TrainResult:
        W, b = gather("W"), gather("b")
        kept = [s for s in snap_steps if s <= steps_done][: len(snapshots)]
        unknown = np.full(K, np.nan)
        if status == "checkpoint":
            final = Evaluation(unknown, unknown, unknown)
        else:  # a cancelled run is judged on the stream's first chunk: saved within a second, its errors wider
            final = evaluate(config, table, W, b, device, samples=EVAL_CHUNK if status == "cancelled" else EVAL_SAMPLES)
        diverged = gather("diverged")
        final.loss[diverged] = np.nan  # frozen where it diverged: no final loss, never a point's best
        return TrainResult(
            W=W,
            b=b,
            final_loss=final.loss,
            final_loss_se=final.se,
            final_loss_gap_se=final.gap_se,
            loss_steps=np.asarray(loss_steps, dtype=np.int64),
            loss_history=np.asarray(loss_rows, dtype=np.float32).reshape(len(loss_rows), K),
            snapshot_steps=np.asarray(kept, dtype=np.int64),
            snapshots=np.asarray(snapshots, dtype=np.float32).reshape(len(snapshots), K, config.m, config.n),
            diverged=diverged,
            status=status,
            steps_done=steps_done,
            device=describe_device(device),
            compiled=path.compiled_from is not None,
            compiled_from_step=path.compiled_from,
            step_rates=dict(path.rates),
            elapsed=elapsed,
            warnings=notes,
            optimizer=OptimizerState(gather("mW"), gather("vW"), gather("mb"), gather("vb"), int(steps_done)),
        )

    reported_rows = 0

    def report(stage: str, step: int, elapsed: float, rate: float, losses: np.ndarray) -> None:
        nonlocal reported_rows
        if on_progress is None:
            return
        new_steps, new_rows = loss_steps[reported_rows:], loss_rows[reported_rows:]
        reported_rows = len(loss_rows)
        on_progress(
            TrainProgress(
                step=step,
                steps=config.steps,
                losses=losses,
                elapsed=elapsed,
                steps_per_second=rate,
                stage=stage,
                diverged=gather("diverged"),
                W=gather("W") if send_weights else None,
                b=gather("b") if send_weights else None,
                history_steps=np.asarray(new_steps, dtype=np.int64),
                history_rows=np.asarray(new_rows, dtype=np.float32).reshape(len(new_rows), K),
            )
        )

    # Training starts at once on the eager step; the compiled one takes over when it is ready.
    started = time.perf_counter()
    last_report = last_checkpoint = started
    interval_start, done, status = first_step, first_step, "completed"
    report(path.stage, done, 0.0, 0.0, np.full(K, np.nan))
    try:
        while True:
            # A row every record_every steps, at the end, and after the very first step: a
            # watcher's first point comes after one step, not after record_every of them.
            if done > first_step and (done % record_every == 0 or done == config.steps or done == first_step + 1):
                loss_rows.append(take_loss_row(done - interval_start))
                loss_steps.append(done)
                interval_start = done
            if len(snapshots) < len(snap_steps) and snap_steps[len(snapshots)] == done:
                snapshots.append(gather("W"))
            if done == config.steps:
                break
            if should_stop is not None and should_stop():
                status = "cancelled"
                if interval_start < done:
                    loss_rows.append(take_loss_row(done - interval_start))
                    loss_steps.append(done)
                break
            path.between_steps(done, config.steps - done)
            now = time.perf_counter()
            first_point = len(loss_rows) == 1 and loss_steps[0] == done  # what a watcher waits for: at once
            if now - last_report >= progress_interval or first_point:
                losses = loss_rows[-1] if loss_rows else np.full(K, np.nan)
                report(path.stage, done, now - started, (done - first_step) / max(now - started, 1e-9), losses)
                last_report = now
            # Only once something is trained: a checkpoint before the first step would save an
            # empty loss history under a manifest that says the run has started.
            if on_checkpoint is not None and done > first_step and now - last_checkpoint >= checkpoint_interval:
                on_checkpoint(result("checkpoint", done, now - started))
                last_checkpoint = now
            path.step(chunks)
            done += 1
    finally:
        path.close(done)
    elapsed = time.perf_counter() - started
    final = result(status, done, elapsed)
    report("done", done, elapsed, (done - first_step) / max(elapsed, 1e-9),
           final.loss_history[-1] if len(final.loss_history) else np.full(K, np.nan))
    return final
