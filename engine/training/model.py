"""The tied-weight toy autoencoder x' = f(WᵀWx + b), K instances as one batched tensor."""

from __future__ import annotations

import math
from typing import Callable

import torch

from engine.training.data import hashed_uniform, stream_keys

_INIT_SALT = 1  # keeps the init stream apart from the data stream of the same seed


def init_weights(
    seeds: torch.Tensor, n: int, m: int, init: str = "xavier", device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """W [K, m, n] and b [K, n] for K instances, each drawn from its own seed.

    `xavier`: Xavier-normal of each model's own (m, n) matrix, std sqrt(2 / (m + n)).
    `xavier_batched`: what torch's xavier_normal_ gives on Anthropic's 3-D [K, n, m] tensor, whose
    fans span all K models: std sqrt(2 / (m (n + K))). Offered for exact reproduction of that code.
    The normals come from the same counter hash as the data, so a seed gives the same init on any
    device and whatever other instances share the batch.
    """
    seeds = seeds.to(device=device, dtype=torch.int64)
    K = seeds.numel()
    u = hashed_uniform(stream_keys(seeds, 0, salt=_INIT_SALT), 2, m * n)  # [K, 2, m*n]
    # Box-Muller; 1 - u lies in (0, 1], so the log is finite.
    normal = torch.sqrt(-2.0 * torch.log1p(-u[:, 0])) * torch.cos(2 * math.pi * u[:, 1])  # [K, m*n]
    if init == "xavier":
        std = math.sqrt(2.0 / (m + n))
    elif init == "xavier_batched":
        std = math.sqrt(2.0 / (m * (n + K)))
    else:
        raise ValueError(f"unknown init {init!r}")
    W = (normal * std).view(K, m, n).contiguous()  # [K, m, n]
    b = torch.zeros(K, n, device=device)  # [K, n]
    return W, b


def loss_weights(importance, loss_reduction: str = "sum"):
    """The per-feature weights of the loss, [..., n] (numpy or torch): the importances I_i when the
    loss sums over features (the blog), I_i / n when it averages over them (Anthropic's code)."""
    if loss_reduction == "mean":
        return importance / importance.shape[-1]
    return importance


def reconstruct(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """x' = f(WᵀWx + b): W [K, m, n], b [K, n], x [K, n, batch] -> [K, n, batch]."""
    h = torch.einsum("kmn,knb->kmb", W, x)  # [K, m, batch]
    z = torch.einsum("kmn,kmb->knb", W, h) + b.unsqueeze(-1)  # [K, n, batch]
    return f(z)


def sample_losses(
    W: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    importance: torch.Tensor,
    f: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Loss of each sample, sum_i I_i (x_i - x'_i)^2: -> [K, batch]."""
    err = (reconstruct(W, b, x, f) - x) ** 2  # [K, n, batch]
    return torch.einsum("kn,knb->kb", importance, err)


def instance_losses(
    W: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    importance: torch.Tensor,
    f: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Per-instance loss, mean over the batch of sum_i I_i (x_i - x'_i)^2: -> [K]."""
    return sample_losses(W, b, x, importance, f).mean(-1)
