"""The fused training step: one function that draws the data from the experiment's sampler,
runs the forward pass and the hand-written gradient, the Adam update and the divergence guard,
for one chunk of instances; the state it updates in place (Chunk); how a run's instances are cut
into chunks; and the step under torch.compile, keyed by what shapes its graph."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from engine.training.data import hashed_uniform, stream_keys
from engine.training.gradients import UNROLL_MAX_WEIGHTS, losses_and_grads, losses_and_grads_unrolled, with_gradient
from engine.training.memory import CHUNK_ELEMENTS
from engine.training.model import init_weights, loss_weights
from engine.training.run import Run

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


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




def lr_factor(schedule: str, t: torch.Tensor, steps: int | torch.Tensor) -> torch.Tensor:
    """Multiplier of the base learning rate at (0-based) step t of `steps`."""
    frac = t.to(torch.float32) / steps
    if schedule == "linear":
        return 1.0 - frac
    if schedule == "cosine":
        return 0.5 * (1.0 + torch.cos(math.pi * frac))
    return torch.ones_like(frac)


def make_train_step(run: Run) -> Callable[..., torch.Tensor]:
    """The fused training step for one chunk of instances; mutates the state tensors in place.

    Arguments (all tensors, so a compiled graph never specialises on a Python number):
      W [K, m, n], b [K, n], Adam moments of both, t [] int64 (0-based step, advanced here),
      unique_seeds [S], seed_row [K] (instance -> its row of unique_seeds), data (the sampler's
      per-instance tensors, a dict of [K, ...]: density and whatever else the experiment's data
      need), importance [K, n], loss_sum [K] (training loss accumulated here), diverged [K] bool,
      and optionally hyper [3] = (lr, steps, weight_decay); without it the config's values are
      baked in as constants.
    Returns the per-instance losses [K] of this step.

    The data come from the run's experiment's sampler only (`run.sample`). The gradient is written out
    (engine.training.gradients), so forward, backward and the batch reductions fuse into one loop; for
    n*m <= UNROLL_MAX_WEIGHTS the features are unrolled into separate [K, batch] tensors.
    """
    config = run.config
    act = with_gradient(run.maths)
    sample = run.sample
    n, batch, steps, base_lr = config.n, config.batch_size, config.steps, config.lr
    decoupled = config.optimizer == "adamw"
    weight_decay = config.weight_decay
    use_wd = weight_decay > 0
    beta1, beta2 = ADAM_BETAS  # the bias corrections; adam_update has the rest
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
        decay = lr * wd if use_wd and decoupled else None
        adam_update(W, gW, mW, vW, okW, step_size, root_bc2, decay)
        adam_update(b, gb, mb, vb, okb, step_size, root_bc2, decay)
        diverged.logical_or_(~ok)
        loss_sum.add_(torch.where(ok, losses, zero))
        t.add_(1)
        return losses

    return step


def adam_update(p, g, m1, m2, ok, step_size, root_bc2, decay) -> None:
    """One Adam step of parameter p [K, ...] in place, for the instances where ok [K, 1, ...]
    holds (the others keep p and both moments as they were). step_size = lr / (1 - beta1^t),
    root_bc2 = sqrt(1 - beta2^t); decay = lr * weight_decay for AdamW's decoupled decay, else None."""
    beta1, beta2 = ADAM_BETAS
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    m1.mul_(torch.where(ok, beta1, 1.0)).add_(torch.where(ok, (1 - beta1) * g, zero))
    m2.mul_(torch.where(ok, beta2, 1.0)).add_(torch.where(ok, (1 - beta2) * g * g, zero))
    update = step_size * m1 / (torch.sqrt(m2) / root_bc2 + ADAM_EPS)
    if decay is not None:
        update = update + decay * p
    p.sub_(torch.where(ok, update, zero))


def sampler_tensors(run: Run, index: np.ndarray) -> dict[str, torch.Tensor]:
    """The experiment's per-instance data parameters for the instances `index`: name -> [k, ...]."""
    return {name: torch.as_tensor(np.asarray(value)[index], device=run.device) for name, value in run.sample_params.items()}


class Chunk:
    """The state of one slice of instances, trained by one call of the step."""

    def __init__(self, run: Run, index: np.ndarray, start: TrainState):
        config, table, device = run.config, run.table, run.device
        self.index = index  # [k] instance indices (padded chunks repeat the last instance)
        seeds = torch.as_tensor(table.seed[index], device=device)
        self.unique_seeds, self.seed_row = torch.unique(seeds, return_inverse=True)
        self.data = sampler_tensors(run, index)  # {"density": [k], ...}
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


def chunk_plan(run: Run) -> list[np.ndarray]:
    """The instances each call of the step trains. An activation that couples the instances
    (SoLU with axis=instance) needs them all in one chunk, unpadded: a repeated instance would
    enter the others' softmax."""
    if run.maths.couples_instances:
        return [np.arange(run.instances)]
    return _chunk_indices(run.instances, run.config.n, run.config.batch_size)


def fresh_state(run: Run) -> TrainState:
    """The state before step 0: the config's init, zero moments."""
    config, table = run.config, run.table
    W0, b0 = init_weights(torch.as_tensor(table.seed), config.n, config.m, config.init, run.device)
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



# Compiled steps, kept for the life of the process: what shapes the graph is the key; the
# hyperparameters and the instance count are inputs, so a new lr, step count or grid reuses it
# (and dynamo's recompile limit is never reached in a long session of the app).
COMPILED_STEPS: dict[tuple, Callable] = {}

# Config fields that never shape the compiled step: they reach it as tensor inputs (the
# hyperparameters, and the instance table: densities, importances, seeds) or not at all. Every
# other field is part of the graph's key, so a field added later recompiles until it is listed here.
STEP_INPUT_FIELDS = frozenset({
    "lr", "steps", "weight_decay",  # the `hyper` tensor (whether weight decay is on is keyed below)
    "densities", "relative_importances", "point_layout", "importance_decay", "seeds", "seed",  # the instance tensors
    "init", "snapshots", "compile", "phase_threshold", "device",  # outside the step (device: keyed below)
    "loss_reduction", "profile",  # the importance tensor carries the reduction; the profile is a name
})


def _frozen(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def graph_key(run: Run) -> tuple:
    """The identity of the compiled step: the whole config but STEP_INPUT_FIELDS, plus what the
    config names only by a string (the activation's factory, the experiment's sampler)."""
    config = run.config
    fields = {k: v for k, v in config.to_dict().items() if k not in STEP_INPUT_FIELDS}
    sampler = run.experiment.sampler
    return (
        _frozen(fields), id(run.activation_factory), sampler.name, id(sampler.build),
        config.weight_decay > 0, str(run.device),
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

