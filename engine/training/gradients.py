"""The toy model's loss gradient, written out by hand, for the fused training step.

Autograd (or torch.func) through `engine.training.model.instance_losses` is exact but, inside a compiled
graph, it splits the step into a forward and a backward that each write [K, n, batch]
intermediates to memory. Written out, forward and backward are one chain of pointwise ops plus a
few reductions over the batch, which the compiler fuses so the data never leaves cache. The
activation's derivative comes from its own definition (engine.training.activations: value and slope, or
value and pullback); an activation registered as a bare function gets torch.func's (see
`with_gradient`). tests/test_fast_path.py checks every path against torch.func in float64.
"""

from __future__ import annotations

import dataclasses

import torch

from engine.training.activations import ActivationMath

# Above this many weights per instance the products go through batched matmuls; below it the
# m x n products are written as broadcasts the compiler unrolls (n=2, m=1: no matmul at all).
SMALL_MODEL_WEIGHTS = 64


def with_gradient(act: ActivationMath) -> ActivationMath:
    """`act` itself when it has a written derivative, else `act` with torch.func's pullback of
    its forward (the fallback for activations registered as a bare function)."""
    if act.fast:
        return act

    def value_and_pullback(z):
        y, pullback = torch.func.vjp(act.forward, z)
        return y, lambda dy: pullback(dy)[0]

    return dataclasses.replace(act, value_and_pullback=value_and_pullback)


def _activate(act: ActivationMath, z: torch.Tensor):
    """(f(z), dy -> dz) for z [..., n, batch]."""
    if act.value_and_slope is not None:
        y, slope = act.value_and_slope(z)
        return y, lambda dy: dy * slope
    return act.value_and_pullback(z)


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
    act: ActivationMath,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-instance losses [K] and their gradients dL_k/dW_k [K, m, n], dL_k/db_k [K, n].

    The same loss as `instance_losses`, differentiated by hand (tests check it against torch.func).
    `act` must have a derivative (see `with_gradient`).
    """
    K, m, n = W.shape
    batch = x.shape[-1]
    small = m * n <= SMALL_MODEL_WEIGHTS
    h = _encode(W, x, small)  # [K, m, batch]
    z = _decode(W, h, small) + b.unsqueeze(-1)  # [K, n, batch]
    y, pullback = _activate(act, z)  # [K, n, batch]
    err = y - x  # [K, n, batch]
    weighted = importance.unsqueeze(-1) * err  # [K, n, batch]
    # per feature first: the reduction over the batch then fuses with the bias gradient's
    losses = (weighted * err).sum(-1).sum(-1) / batch  # [K]
    dz = pullback(weighted * (2.0 / batch))  # [K, n, batch]
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


def _activate_unrolled(act: ActivationMath, zs: list[torch.Tensor]):
    """(f(z) as n x [K, batch], dys -> dzs) for the features as separate tensors. An elementwise
    activation acts on each alone; a coupled one sees them stacked on the feature axis."""
    if act.value_and_slope is not None:
        ys, slopes = map(list, zip(*(act.value_and_slope(z) for z in zs)))
        return ys, lambda dys: [dy * d for dy, d in zip(dys, slopes)]
    if act.feature_lists:
        return act.value_and_pullback(list(zs))
    y, pullback = act.value_and_pullback(torch.stack(zs, dim=1))  # [K, n, batch]
    return list(y.unbind(1)), lambda dys: list(pullback(torch.stack(dys, dim=1)).unbind(1))


def losses_and_grads_unrolled(
    W: torch.Tensor,
    b: torch.Tensor,
    xs: list[torch.Tensor],
    importance: torch.Tensor,
    act: ActivationMath,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`losses_and_grads` with the n features as a list of [K, batch] tensors (see above)."""
    K, m, n = W.shape
    batch = xs[0].shape[-1]
    w = [[W[:, j, i].unsqueeze(-1) for i in range(n)] for j in range(m)]  # w[j][i]: [K, 1]
    h = [sum(w[j][i] * xs[i] for i in range(n)) for j in range(m)]  # m x [K, batch]
    zs = [sum(w[j][i] * h[j] for j in range(m)) + b[:, i : i + 1] for i in range(n)]  # n x [K, batch]
    ys, pullback = _activate_unrolled(act, zs)
    errs = [y - x for y, x in zip(ys, xs)]  # n x [K, batch]
    weighted = [importance[:, i : i + 1] * errs[i] for i in range(n)]
    losses = sum(g * e for g, e in zip(weighted, errs)).sum(-1) / batch  # [K]
    dzs = pullback([g * (2.0 / batch) for g in weighted])
    gb = torch.stack([dz.sum(-1) for dz in dzs], dim=1)  # [K, n]
    dh = [sum(w[j][i] * dzs[i] for i in range(n)) for j in range(m)]  # m x [K, batch]
    gW = torch.stack(
        [torch.stack([(h[j] * dzs[i] + dh[j] * xs[i]).sum(-1) for i in range(n)], dim=1) for j in range(m)], dim=1
    )  # [K, m, n]
    return losses, gW, gb
