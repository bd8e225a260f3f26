"""Sparse synthetic features, generated from a counter-based hash rather than a stateful RNG.

Each uniform is a pure function of (seed, step, feature, sample). That makes every instance's
data stream independent of which other instances share its batch (so batching never changes
physics), identical on CPU and GPU, and cheap inside a compiled graph, where torch.rand is slow.
Instances that share a seed share their uniforms: only the density threshold differs, so the
phase grid (many importances per density and seed) draws its data once per seed.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

# A data sampler: hashed uniforms [S, n, batch] (one stream per unique seed), the row of each
# instance's seed [K] and per-instance parameters ({"density": [K], ...}) -> x [K, n, batch].
# Elementwise ops only, so each instance's data depends on its own seed and parameters alone.
SampleFn = Callable[[torch.Tensor, torch.Tensor, Mapping[str, torch.Tensor]], torch.Tensor]

_MASK32 = 0xFFFFFFFF
_INV_2_24 = 1.0 / (1 << 24)


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """murmur3's 32-bit finaliser on int64 tensors holding uint32 values (avalanches every bit)."""
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) & _MASK32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) & _MASK32
    return x ^ (x >> 16)


def stream_keys(seeds: torch.Tensor, step: torch.Tensor | int, salt: int = 0) -> torch.Tensor:
    """One 32-bit key per (seed, step): seeds [S] int64 -> [S] int64."""
    key = (seeds * 0x9E3779B1 + 0x632BE5AB * (salt + 1)) & _MASK32
    key = _mix32(key ^ ((step * 0x85EBCA77) & _MASK32))
    return _mix32((key + 0x165667B1) & _MASK32)


def hashed_uniform(keys: torch.Tensor, n: int, batch: int) -> torch.Tensor:
    """Uniforms in [0, 1) with 24 random bits: keys [S] -> [S, n, batch] float32."""
    element = torch.arange(n * batch, device=keys.device, dtype=torch.int64).view(1, n, batch)  # [1, n, batch]
    h = _mix32((element * 0x27D4EB2F + keys.view(-1, 1, 1)) & _MASK32)  # [S, n, batch]
    h = _mix32(h ^ keys.view(-1, 1, 1))
    return (h >> 8).to(torch.float32) * _INV_2_24


def sparse_features(uniform: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    """One uniform per element is enough and exact: x = u / p if u < p else 0, so x ~ U[0, 1).

    uniform [K, n, batch], density [K] -> x [K, n, batch]
    """
    p = density.view(-1, 1, 1)  # [K, 1, 1]
    return torch.where(uniform < p, uniform / p, torch.zeros((), dtype=uniform.dtype, device=uniform.device))


def independent_features(uniform: torch.Tensor, seed_row: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The blog's data: every feature present with probability `density`, independently.
    uniform [S, n, batch], seed_row [K], params["density"] [K] -> x [K, n, batch]."""
    return sparse_features(uniform[seed_row], params["density"])


def draw(
    sample: SampleFn,
    seeds: torch.Tensor,
    params: Mapping[str, torch.Tensor],
    n: int,
    batch: int,
    step: int | torch.Tensor = 0,
    salt: int = 0,
) -> torch.Tensor:
    """One batch per instance from a sampler: seeds [K] and params ([K, ...] each) -> x [K, n, batch]."""
    unique_seeds, seed_row = torch.unique(seeds, return_inverse=True)  # [S], [K]
    uniform = hashed_uniform(stream_keys(unique_seeds, step, salt), n, batch)  # [S, n, batch]
    return sample(uniform, seed_row, params)


def feature_batch(
    seeds: torch.Tensor, density: torch.Tensor, n: int, batch: int, step: int | torch.Tensor = 0, salt: int = 0
) -> torch.Tensor:
    """Independent sparse features per instance: seeds [K], density [K] -> x [K, n, batch] (feature-major)."""
    return draw(independent_features, seeds, {"density": density}, n, batch, step, salt)
