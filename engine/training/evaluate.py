"""Final losses: every instance judged on one shared evaluation stream, so the seeds of a grid
point are compared on exactly the same samples, with the standard error of each loss and the
paired standard error of each loss gap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.instances import InstanceTable
from engine.training.data import hashed_uniform, stream_keys
from engine.training.memory import EVAL_CHUNK, EVAL_CHUNK_ELEMENTS, EVAL_SAMPLES
from engine.training.model import loss_weights, sample_losses
from engine.training.run import Run
from engine.training.step import sampler_tensors

# Sizes (the evaluation stream, its chunks) live in engine.training.memory, beside the memory
# estimate that validate_config checks. Final losses: one evaluation stream, the same samples for
# every instance of a run whatever its seed, large enough that the standard error of a loss gap
# between two seeds is small against the gaps it decides (the paired error is reported with it),
# evaluated in chunks.
EVAL_SEED = 0x5EED  # the evaluation stream's own seed: no instance's training data
_EVAL_STEP = 2**31 - 1  # chunk c of the stream is "step" _EVAL_STEP - c
_EVAL_SALT = 2


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


def evaluate(run: Run, W: np.ndarray, b: np.ndarray, samples: int = EVAL_SAMPLES) -> Evaluation:
    """Every instance's loss on the same `samples` samples: one evaluation stream of its own seed
    (EVAL_SEED), drawn by the run's sampler with each instance's own data parameters, so two seeds
    of one grid point are judged on exactly the same data. Chunked over instances and samples.
    W [K, m, n], b [K, n] (numpy), on the run's device."""
    act, f, sample, table, device = run.maths, run.maths.forward, run.sample, run.table, run.device
    K, n = len(table), run.config.n
    S = _seed_groups(table) or 1
    chunks = max(1, samples // EVAL_CHUNK)
    # An instance-coupled activation sees every instance at once: one group, cut along the samples.
    per_chunk = K if act.couples_instances else S * max(1, EVAL_CHUNK_ELEMENTS // (n * EVAL_CHUNK * S))
    width = min(EVAL_CHUNK, max(1, EVAL_CHUNK_ELEMENTS // (n * per_chunk)))  # samples per call
    # Chunks of whole points, each with what its instances need and their running sums.
    groups = [_eval_group(run, W, b, np.arange(k0, min(K, k0 + per_chunk)), S) for k0 in range(0, K, per_chunk)]
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


def _eval_group(run: Run, W: np.ndarray, b: np.ndarray, index: np.ndarray, S: int) -> dict:
    device = run.device
    return dict(
        index=index,
        data=sampler_tensors(run, index),
        W=torch.as_tensor(W[index], device=device),
        b=torch.as_tensor(b[index], device=device),
        importance=torch.as_tensor(loss_weights(run.table.importance[index], run.config.loss_reduction), device=device),
        rows=torch.zeros(len(index), dtype=torch.int64, device=device),  # every instance reads stream 0
        sums=torch.zeros(len(index), dtype=torch.float64, device=device),  # [k] sum of losses
        cross=torch.zeros(len(index) // S, S, S, dtype=torch.float64, device=device),  # [p, S, S] sums of products
    )


def _paired_gap_se(table: InstanceTable, mean: np.ndarray, cross: np.ndarray, S: int, N: int) -> np.ndarray:
    """Standard error of loss_k - loss_o, o = k's point winner (the runner-up for the winner),
    from the per-point sums of products of per-sample losses: cross [K, S]."""
    from engine.instances import lowest_loss_instances

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


