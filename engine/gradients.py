"""The toy model's loss gradient, written out by hand, for the fused training step.

Autograd (or torch.func) through `engine.model.instance_losses` is exact but, inside a compiled
graph, it splits the step into a forward and a backward that each write [K, n, batch]
intermediates to memory. Written out, forward and backward are one chain of pointwise ops plus a
few reductions over the batch, which the compiler fuses so the data never leaves cache. Each
activation with a known derivative gets it here; any other (a user's registered function) falls
back to torch.func.vjp for f alone, so new activations keep working without code here.
tests/test_fast_path.py checks every path against torch.func in float64.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

# Above this many weights per instance the products go through batched matmuls; below it the
# m x n products are written as broadcasts the compiler unrolls (n=2, m=1: no matmul at all).
SMALL_MODEL_WEIGHTS = 64

VJP = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (z, y, dy) -> dz


def _relu_vjp(z, y, dy):
    return torch.where(z > 0, dy, torch.zeros((), dtype=dy.dtype, device=dy.device))


def _gelu_vjp(z, y, dy):
    cdf = 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))  # Φ(z)
    pdf = torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))  # φ(z)
    return dy * (cdf + z * pdf)


def _silu_vjp(z, y, dy):
    s = torch.sigmoid(z)
    return dy * (s * (1.0 + z * (1.0 - s)))


def _sigmoid_vjp(z, y, dy):
    return dy * (y * (1.0 - y))


def _tanh_vjp(z, y, dy):
    return dy * (1.0 - y * y)


def _solu_vjp(z, y, dy):
    # y_i = z_i s_i, s = softmax(z) over the features (dim -2). The full Jacobian-vector product:
    # dz_j = s_j (dy_j (1 + z_j) - sum_i dy_i y_i).
    s = torch.softmax(z, dim=-2)
    return s * (dy * (1.0 + z) - (dy * y).sum(dim=-2, keepdim=True))


def _stretched_sigmoid_vjp(eps: float) -> VJP:
    scale = 1.0 + 2.0 * eps

    def vjp(z, y, dy):
        s = torch.sigmoid(z)
        return dy * (scale * s * (1.0 - s))

    return vjp


# Elementwise activations also come as z -> (f(z), f'(z)), sharing the work of both (GeLU's erf,
# SiLU's sigmoid): the unrolled path evaluates each transcendental once per element.
Slope = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _gelu_slope(z):
    cdf = 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))
    pdf = torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))
    return z * cdf, cdf + z * pdf


def _silu_slope(z):
    s = torch.sigmoid(z)
    return z * s, s * (1.0 + z * (1.0 - s))


def _sigmoid_slope(z):
    s = torch.sigmoid(z)
    return s, s * (1.0 - s)


def _tanh_slope(z):
    t = 2.0 * torch.sigmoid(2.0 * z) - 1.0  # tanh through one exp: vectorises better than tanh itself
    return t, 1.0 - t * t


def _relu_slope(z):
    positive = z > 0
    zero = torch.zeros((), dtype=z.dtype, device=z.device)
    return torch.where(positive, z, zero), positive.to(z.dtype)


def _stretched_sigmoid_slope(eps: float) -> Slope:
    scale = 1.0 + 2.0 * eps

    def slope(z):
        s = torch.sigmoid(z)
        return s * scale - eps, scale * s * (1.0 - s)

    return slope


_BUILTIN_SLOPES: dict[str, Callable[..., Slope]] = {
    "linear": lambda: (lambda z: (z, torch.ones_like(z))),
    "relu": lambda: _relu_slope,
    "gelu": lambda: _gelu_slope,
    "silu": lambda: _silu_slope,
    "sigmoid": lambda: _sigmoid_slope,
    "tanh": lambda: _tanh_slope,
    "stretched_sigmoid": _stretched_sigmoid_slope,
}


def activation_slope(name: str, params: dict[str, float] | None = None) -> Slope | None:
    """z -> (f(z), f'(z)) for a built-in elementwise activation still registered as shipped, else None."""
    from engine.activations import get_activation

    if name not in _BUILTIN_SLOPES or activation_vjp(name, params) is None:
        return None
    return _BUILTIN_SLOPES[name](**{**get_activation(name).defaults, **(params or {})})


def _builtin_vjps() -> dict[str, tuple[Callable, Callable[..., VJP]]]:
    from engine.activations import get_activation

    plain = {
        "linear": lambda z, y, dy: dy,
        "relu": _relu_vjp,
        "gelu": _gelu_vjp,
        "silu": _silu_vjp,
        "sigmoid": _sigmoid_vjp,
        "tanh": _tanh_vjp,
        "solu": _solu_vjp,
    }
    # Keyed by name AND the factory registered at import time: a user who re-registers a name
    # with a different function gets the autograd fallback, never a stale derivative.
    table = {name: (get_activation(name).make, (lambda v=vjp: v)) for name, vjp in plain.items()}
    table["stretched_sigmoid"] = (get_activation("stretched_sigmoid").make, _stretched_sigmoid_vjp)
    return table


_BUILTIN_VJPS: dict[str, tuple[Callable, Callable[..., VJP]]] | None = None


def activation_vjp(name: str, params: dict[str, float] | None = None) -> VJP | None:
    """The hand-written vector-Jacobian product of a registered activation, or None if unknown."""
    global _BUILTIN_VJPS
    from engine.activations import get_activation

    if _BUILTIN_VJPS is None:
        _BUILTIN_VJPS = _builtin_vjps()
    entry = _BUILTIN_VJPS.get(name)
    if entry is None or get_activation(name).make is not entry[0]:
        return None
    defaults = get_activation(name).defaults
    return entry[1](**{**defaults, **(params or {})})


def autograd_vjp(f: Callable[[torch.Tensor], torch.Tensor]) -> VJP:
    """The fallback for activations without a written derivative: torch.func differentiates f alone."""

    def vjp(z, y, dy):
        _, pullback = torch.func.vjp(f, z)
        return pullback(dy)[0]

    return vjp


def _encode(W: torch.Tensor, x: torch.Tensor, small: bool) -> torch.Tensor:
    """h = W x: W [K, m, n], x [K, n, batch] -> [K, m, batch]."""
    if small:
        return (W.unsqueeze(-1) * x.unsqueeze(1)).sum(2)  # [K, m, n, batch] summed over n
    return torch.bmm(W, x)


def _decode(W: torch.Tensor, h: torch.Tensor, small: bool) -> torch.Tensor:
    """Wᵀ h: W [K, m, n], h [K, m, batch] -> [K, n, batch]."""
    if small:
        return (W.unsqueeze(-1) * h.unsqueeze(2)).sum(1)  # [K, m, n, batch] summed over m
    return torch.bmm(W.transpose(1, 2), h)


def _outer(a: torch.Tensor, c: torch.Tensor, small: bool) -> torch.Tensor:
    """sum over the batch of a c^T: a [K, m, batch], c [K, n, batch] -> [K, m, n]."""
    if small:
        return (a.unsqueeze(2) * c.unsqueeze(1)).sum(-1)  # [K, m, n, batch] summed over batch
    return torch.bmm(a, c.transpose(1, 2))


def losses_and_grads(
    W: torch.Tensor,
    b: torch.Tensor,
    x: torch.Tensor,
    importance: torch.Tensor,
    f: Callable[[torch.Tensor], torch.Tensor],
    vjp: VJP,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-instance losses [K] and their gradients dL_k/dW_k [K, m, n], dL_k/db_k [K, n].

    The same loss as `instance_losses`, differentiated by hand (tests check it against torch.func).
    """
    K, m, n = W.shape
    batch = x.shape[-1]
    small = m * n <= SMALL_MODEL_WEIGHTS
    h = _encode(W, x, small)  # [K, m, batch]
    z = _decode(W, h, small) + b.unsqueeze(-1)  # [K, n, batch]
    y = f(z)  # [K, n, batch]
    err = y - x  # [K, n, batch]
    weighted = importance.unsqueeze(-1) * err  # [K, n, batch]
    # per feature first: the reduction over the batch then fuses with the bias gradient's
    losses = (weighted * err).sum(-1).sum(-1) / batch  # [K]
    dz = vjp(z, y, weighted * (2.0 / batch))  # [K, n, batch]
    gb = dz.sum(-1)  # [K, n]
    dh = _encode(W, dz, small)  # [K, m, batch]: W dz, the gradient reaching h
    # W appears twice (in h = W x and in Wᵀ h): dL/dW = h dzᵀ + dh xᵀ, summed over the batch.
    gW = _outer(h, dz, small) + _outer(dh, x, small)  # [K, m, n]
    return losses, gW, gb


# --- the small-model path: features unrolled --------------------------------------------------
# For a handful of features (the phase diagram's n=2, m=1) every tensor of the step is written as
# one [K, batch] tensor per feature. Then every op, and every reduction over the batch, has the
# same [K, batch] iteration space, and the compiler emits a single loop over instances and
# samples that keeps all intermediates in registers instead of a few passes over [K, n, batch].

UNROLL_MAX_WEIGHTS = 16  # m * n at most: beyond this the unrolled code grows faster than it helps


def _solu_unrolled(zs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """SoLU over a list of per-feature tensors: returns (y_i, s_i) with s = softmax(z)."""
    if len(zs) == 2:  # softmax of two is a sigmoid of the difference: one exp instead of two
        d = zs[0] - zs[1]
        e = torch.exp(-d.abs())  # in (0, 1]: never overflows
        inv = 1.0 / (1.0 + e)
        big, small = inv, e * inv
        first = d >= 0
        s = [torch.where(first, big, small), torch.where(first, small, big)]
        return [z * si for z, si in zip(zs, s)], s
    top = zs[0]
    for z in zs[1:]:
        top = torch.maximum(top, z)
    exps = [torch.exp(z - top) for z in zs]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    inv = 1.0 / total
    s = [e * inv for e in exps]
    return [z * si for z, si in zip(zs, s)], s


def losses_and_grads_unrolled(
    W: torch.Tensor,
    b: torch.Tensor,
    xs: list[torch.Tensor],
    importance: torch.Tensor,
    f: Callable[[torch.Tensor], torch.Tensor],
    vjp: VJP,
    softmax_coupled: bool = False,
    slope: Slope | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`losses_and_grads` with the n features as a list of [K, batch] tensors (see above).

    `f` and `vjp` must act elementwise, except SoLU (softmax_coupled=True), written out here.
    `slope`, where given, replaces both: z -> (f(z), f'(z)).
    """
    K, m, n = W.shape
    batch = xs[0].shape[-1]
    w = [[W[:, j, i].unsqueeze(-1) for i in range(n)] for j in range(m)]  # w[j][i]: [K, 1]
    h = [sum(w[j][i] * xs[i] for i in range(n)) for j in range(m)]  # m x [K, batch]
    zs = [sum(w[j][i] * h[j] for j in range(m)) + b[:, i : i + 1] for i in range(n)]  # n x [K, batch]
    slopes = None
    if softmax_coupled:
        ys, s = _solu_unrolled(zs)
    elif slope is not None:
        ys, slopes = map(list, zip(*(slope(z) for z in zs)))
    else:
        ys = [f(z) for z in zs]
    errs = [y - x for y, x in zip(ys, xs)]  # n x [K, batch]
    weighted = [importance[:, i : i + 1] * errs[i] for i in range(n)]
    losses = sum(g * e for g, e in zip(weighted, errs)).sum(-1) / batch  # [K]
    dys = [g * (2.0 / batch) for g in weighted]
    if softmax_coupled:  # dz_j = s_j (dy_j (1 + z_j) - sum_i dy_i y_i)
        dot = sum(dy * y for dy, y in zip(dys, ys))
        dzs = [s[i] * (dys[i] * (1.0 + zs[i]) - dot) for i in range(n)]
    elif slopes is not None:
        dzs = [dy * d for dy, d in zip(dys, slopes)]
    else:
        dzs = [vjp(z, y, dy) for z, y, dy in zip(zs, ys, dys)]
    gb = torch.stack([dz.sum(-1) for dz in dzs], dim=1)  # [K, n]
    dh = [sum(w[j][i] * dzs[i] for i in range(n)) for j in range(m)]  # m x [K, batch]
    gW = torch.stack(
        [torch.stack([(h[j] * dzs[i] + dh[j] * xs[i]).sum(-1) for i in range(n)], dim=1) for j in range(m)], dim=1
    )  # [K, m, n]
    return losses, gW, gb
