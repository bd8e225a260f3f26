"""Output activations f in x' = f(WᵀWx + b), and a registry so new ones are added by name.

Every activation maps pre-activations `z` of shape [..., n, batch] (features on dim -2, the
layout the trainer uses) to outputs of the same shape. Each is written once, as the maths the
fused training step needs, and its forward is read off the same definition:

- an elementwise activation is `value_and_slope(z) -> (f(z), f'(z))` (`elementwise(...)`);
- one that couples the features of a sample (SoLU's softmax) is
  `value_and_pullback(z) -> (f(z), dy -> dz)`, its vector-Jacobian product (`feature_coupled(...)`);
- one that couples the instances of a run (SoLU with axis=instance: the softmax over the models
  trained side by side) is defined the same way over z [K, n, batch] (`instance_coupled(...)`); the
  trainer then keeps every instance in one chunk.

Parameters are numbers (eps=0.1) or a choice among names (axis=feature|instance), declared with
their defaults when the activation is registered and checked before anything is built.

A factory may also return a plain function f: it trains, but its gradient then comes from
torch.func.vjp (slower), and training says so in a one-line warning.

This module does not import torch: factories import it when an activation is built, so checking
a config (`Activation.check`) never loads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from engine.errors import ConfigError

if TYPE_CHECKING:
    import torch

    Tensor = torch.Tensor

FEATURE_DIM = -2  # [..., n, batch]: the softmax of SoLU runs over the features of one sample
INSTANCE_DIM = -3  # [K, n, batch]: ... or, with axis=instance, over the instances of the run
SOLU_AXES = ("feature", "instance")

ValueAndSlope = Callable[["Tensor"], "tuple[Tensor, Tensor]"]  # z -> (f(z), f'(z))
ValueAndPullback = Callable[["Tensor"], "tuple[Tensor, Callable[[Tensor], Tensor]]"]  # z -> (f(z), dy -> dz)


@dataclass(frozen=True)
class ActivationMath:
    """One built activation: its forward and, where written, the derivative the fast path uses."""

    forward: Callable[["Tensor"], "Tensor"]
    value_and_slope: ValueAndSlope | None = None  # elementwise activations
    value_and_pullback: ValueAndPullback | None = None  # activations that couple the features
    couples_features: bool = False  # f(z)_i depends on other features j of the same sample
    couples_instances: bool = False  # f(z)_k depends on other instances of the run: train them as one chunk
    feature_lists: bool = False  # value_and_pullback also takes (and gives) the features as a list

    @property
    def fast(self) -> bool:
        """True when the training step has a written derivative (no torch.func fallback)."""
        return self.value_and_slope is not None or self.value_and_pullback is not None


def elementwise(value_and_slope: ValueAndSlope) -> ActivationMath:
    """An activation applied to each element alone, defined by z -> (f(z), f'(z))."""
    return ActivationMath(forward=lambda z: value_and_slope(z)[0], value_and_slope=value_and_slope)


def feature_coupled(value_and_pullback: ValueAndPullback, feature_lists: bool = False) -> ActivationMath:
    """An activation that mixes the features of a sample (dim -2), defined by its forward and its
    vector-Jacobian product: z -> (f(z), dy -> dz). With feature_lists, it also takes z as a list
    of n per-feature tensors (and returns lists), which the small-model path uses to stay fused."""
    return ActivationMath(
        forward=lambda z: value_and_pullback(z)[0], value_and_pullback=value_and_pullback, couples_features=True,
        feature_lists=feature_lists,
    )


def instance_coupled(value_and_pullback: ValueAndPullback) -> ActivationMath:
    """An activation that mixes the instances of a run (dim -3 of z [K, n, batch]), defined by its
    forward and its vector-Jacobian product. Each instance's loss then depends on the others'
    weights: the models trained side by side are no longer independent."""
    return ActivationMath(
        forward=lambda z: value_and_pullback(z)[0], value_and_pullback=value_and_pullback, couples_instances=True
    )


def plain(f: Callable[["Tensor"], "Tensor"]) -> ActivationMath:
    """A bare function with no written derivative (treated as coupling the features, the safe
    assumption): the training step differentiates it with torch.func."""
    return ActivationMath(forward=f, couples_features=True)


@dataclass(frozen=True)
class Activation:
    name: str
    make: Callable[..., ActivationMath | Callable]  # params -> maths (or a plain f)
    description: str
    defaults: dict[str, float | str] = field(default_factory=dict)
    checks: Callable[..., None] | None = None  # params -> raises ConfigError; needs no torch
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # parameter -> the names it accepts

    def check(self, params: dict[str, float | str] | None = None) -> dict[str, float | str]:
        """The merged parameters, or ConfigError naming the bad one (never imports torch).
        A choice parameter must be one of its names; every other one a finite number."""
        merged = {**self.defaults, **(params or {})}
        unknown = set(merged) - set(self.defaults)
        if unknown:
            accepted = ", ".join(sorted(self.defaults)) or "none"
            raise ConfigError(
                "activation_params", f"{self.name} takes no parameter {sorted(unknown)[0]!r} (accepted: {accepted})"
            )
        for name, value in merged.items():
            if name in self.choices:
                if value not in self.choices[name]:
                    raise ConfigError(f"activation_params.{name}",
                                      f"{self.name}'s {name} must be one of {', '.join(self.choices[name])}, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"activation_params.{name}", f"{self.name}'s {name} must be a finite number, got {value!r}")
        if self.checks is not None:
            self.checks(**merged)
        return merged

    def build_math(self, params: dict[str, float | str] | None = None) -> ActivationMath:
        made = self.make(**self.check(params))
        return made if isinstance(made, ActivationMath) else plain(made)

    def build(self, params: dict[str, float | str] | None = None) -> Callable[["Tensor"], "Tensor"]:
        """The forward function f(z)."""
        return self.build_math(params).forward


_REGISTRY: dict[str, Activation] = {}


def register_activation(
    name: str,
    description: str = "",
    *,
    checks: Callable[..., None] | None = None,
    choices: dict[str, tuple[str, ...]] | None = None,
    **defaults: float | str,
) -> Callable[[Callable[..., ActivationMath | Callable]], Callable]:
    """Decorator: register a factory `make(**params)` under `name`.

    The factory returns `elementwise(value_and_slope)`, `feature_coupled(value_and_pullback)` or
    `instance_coupled(value_and_pullback)` for the fast path, or a plain function f (trained
    through torch.func). Parameters get their defaults here (e.g. eps=0.1); a parameter named in
    `choices` takes one of those names (e.g. choices={"axis": ("feature", "instance")},
    axis="feature"); `checks(**params)` may reject values without building anything.
    """
    choices = {key: tuple(values) for key, values in (choices or {}).items()}
    for key, values in choices.items():
        if key not in defaults or defaults[key] not in values:
            raise ValueError(f"activation {name!r}: choice parameter {key!r} needs a default among {values}")

    def decorate(make):
        _REGISTRY[name] = Activation(name, make, description, dict(defaults), checks, choices)
        return make

    return decorate


def activation_names() -> list[str]:
    return list(_REGISTRY)


def get_activation(name: str) -> Activation:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError("activation", f"unknown activation {name!r} (accepted: {', '.join(_REGISTRY)})") from None


def build_activation(name: str, params: dict[str, float | str] | None = None) -> Callable[["Tensor"], "Tensor"]:
    """The forward function f(z) of a registered activation."""
    return get_activation(name).build(params)


def build_activation_math(name: str, params: dict[str, float | str] | None = None) -> ActivationMath:
    """Forward and derivative of a registered activation, as the training step uses them."""
    return get_activation(name).build_math(params)


# --------------------------------------------------------------------------- the shipped ones


@register_activation("linear", "identity: the baseline that cannot superpose")
def _linear():
    import torch

    return elementwise(lambda z: (z, torch.ones_like(z)))


@register_activation("relu", "max(0, z): the activation of Toy Models of Superposition")
def _relu():
    import torch

    def value_and_slope(z):
        positive = z > 0
        return torch.where(positive, z, torch.zeros((), dtype=z.dtype, device=z.device)), positive.to(z.dtype)

    return elementwise(value_and_slope)


@register_activation("gelu", "Gaussian error linear unit (exact erf form)")
def _gelu():
    import torch

    def value_and_slope(z):
        cdf = 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))  # Φ(z)
        pdf = torch.exp(-0.5 * z * z) * (1.0 / math.sqrt(2.0 * math.pi))  # φ(z)
        return z * cdf, cdf + z * pdf

    return elementwise(value_and_slope)


@register_activation("silu", "z * sigmoid(z), also called swish")
def _silu():
    import torch

    def value_and_slope(z):
        s = torch.sigmoid(z)
        return z * s, s * (1.0 + z * (1.0 - s))

    return elementwise(value_and_slope)


@register_activation("sigmoid", "1 / (1 + exp(-z)), range (0, 1)")
def _sigmoid():
    import torch

    def value_and_slope(z):
        s = torch.sigmoid(z)
        return s, s * (1.0 - s)

    return elementwise(value_and_slope)


@register_activation("tanh", "hyperbolic tangent, range (-1, 1)")
def _tanh():
    import torch

    def value_and_slope(z):
        t = 2.0 * torch.sigmoid(2.0 * z) - 1.0  # tanh through one exp: vectorises better than tanh itself
        return t, 1.0 - t * t

    return elementwise(value_and_slope)


def _softmax_parts(zs: list["Tensor"]) -> list["Tensor"]:
    """softmax across a list of per-feature tensors; for two, a sigmoid of the difference (one
    exp instead of two)."""
    import torch

    if len(zs) == 2:
        s = torch.sigmoid(zs[0] - zs[1])
        return [s, 1.0 - s]
    top = zs[0]
    for z in zs[1:]:
        top = torch.maximum(top, z)
    exps = [torch.exp(z - top) for z in zs]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    return [e / total for e in exps]


@register_activation(
    "solu", "z * softmax(z) over the features of a sample (no LayerNorm); axis=instance: over the run's instances",
    choices={"axis": SOLU_AXES}, axis="feature",
)
def _solu(axis: str):
    import torch

    dim = FEATURE_DIM if axis == "feature" else INSTANCE_DIM

    def value_and_pullback(z):
        # y_i = z_i s_i, s the softmax along `dim`: dz_j = s_j (dy_j (1 + z_j) - sum_i dy_i y_i),
        # the sums along the same axis: the full Jacobian's product.
        if isinstance(z, list):  # the features one by one (the unrolled small-model path): the same formulas
            s = _softmax_parts(z)
            y = [zi * si for zi, si in zip(z, s)]

            def pullback(dy):
                dot = sum(dyi * yi for dyi, yi in zip(dy, y))
                return [si * (dyi * (1.0 + zi) - dot) for si, dyi, zi in zip(s, dy, z)]

            return y, pullback
        s = torch.softmax(z, dim=dim)  # [K, n, batch]
        y = z * s
        return y, lambda dy: s * (dy * (1.0 + z) - (dy * y).sum(dim=dim, keepdim=True))

    if axis == "instance":
        # The softmax over the instance axis of a [batch, instance, feature] tensor: what the blog's
        # plotted SoLU curve matches (issue 14, section 3); it couples the models trained together.
        return instance_coupled(value_and_pullback)
    return feature_coupled(value_and_pullback, feature_lists=True)


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ConfigError("activation_params.eps", f"must be a finite number >= 0, got {eps!r}")


@register_activation(
    "stretched_sigmoid", "sigmoid stretched to (-eps, 1 + eps), the blog's future work", checks=_check_eps, eps=0.1
)
def _stretched_sigmoid(eps: float):
    import torch

    scale = 1.0 + 2.0 * eps

    def value_and_slope(z):
        s = torch.sigmoid(z)
        return s * scale - eps, scale * s * (1.0 - s)

    return elementwise(value_and_slope)


def solu(z: "Tensor") -> "Tensor":
    """SoLU without LayerNorm: z * softmax(z) over the n outputs of one sample."""
    return build_activation("solu")(z)


# The seven activations the blog compares, in its order; extras live in the registry only.
BLOG_ACTIVATIONS = ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu")
# Registered by supertui itself: each must keep its written derivative (tests check it).
SHIPPED_ACTIVATIONS = tuple(_REGISTRY)
