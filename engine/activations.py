"""Output activations f in x' = f(WᵀWx + b), and a registry so new ones are added by name.

Every activation maps pre-activations `z` of shape [..., n, batch] (features on dim -2, the
layout the trainer uses) to outputs of the same shape. Univariate functions ignore the layout;
SoLU takes its softmax over the n outputs of one sample, i.e. over dim -2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from engine.errors import ConfigError

FEATURE_DIM = -2  # [..., n, batch]: the softmax of SoLU runs over the features of one sample


@dataclass(frozen=True)
class Activation:
    name: str
    make: Callable[..., Callable[[torch.Tensor], torch.Tensor]]  # params -> f(z)
    description: str
    defaults: dict[str, float] = field(default_factory=dict)

    def build(self, params: dict[str, float] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        merged = {**self.defaults, **(params or {})}
        unknown = set(merged) - set(self.defaults)
        if unknown:
            accepted = ", ".join(sorted(self.defaults)) or "none"
            raise ConfigError(
                "activation_params", f"{self.name} takes no parameter {sorted(unknown)[0]!r} (accepted: {accepted})"
            )
        return self.make(**merged)


_REGISTRY: dict[str, Activation] = {}


def register_activation(
    name: str, description: str = "", **defaults: float
) -> Callable[[Callable[..., Callable[[torch.Tensor], torch.Tensor]]], Callable]:
    """Decorator: register a factory `make(**params) -> f` under `name`.

    A plain activation with no parameters is `lambda: torch.tanh`; a parametrised one takes
    keyword arguments whose defaults are given here (e.g. eps=0.1).
    """

    def decorate(make):
        _REGISTRY[name] = Activation(name, make, description, dict(defaults))
        return make

    return decorate


def activation_names() -> list[str]:
    return list(_REGISTRY)


def get_activation(name: str) -> Activation:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError("activation", f"unknown activation {name!r} (accepted: {', '.join(_REGISTRY)})") from None


def build_activation(name: str, params: dict[str, float] | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    return get_activation(name).build(params)


def solu(z: torch.Tensor) -> torch.Tensor:
    """SoLU without LayerNorm: z * softmax(z) over the n outputs of one sample."""
    return z * torch.softmax(z, dim=FEATURE_DIM)


register_activation("linear", "identity: the baseline that cannot superpose")(lambda: (lambda z: z))
register_activation("relu", "max(0, z): the activation of Toy Models of Superposition")(lambda: torch.relu)
register_activation("gelu", "Gaussian error linear unit (exact erf form)")(lambda: torch.nn.functional.gelu)
register_activation("silu", "z * sigmoid(z), also called swish")(lambda: torch.nn.functional.silu)
register_activation("sigmoid", "1 / (1 + exp(-z)), range (0, 1)")(lambda: torch.sigmoid)
register_activation("tanh", "hyperbolic tangent, range (-1, 1)")(lambda: torch.tanh)
register_activation("solu", "z * softmax(z) over the features of a sample (no LayerNorm)")(lambda: solu)


@register_activation(
    "stretched_sigmoid", "sigmoid stretched to (-eps, 1 + eps), the blog's future work", eps=0.1
)
def _stretched_sigmoid(eps: float):
    if not (math.isfinite(eps) and eps >= 0):
        raise ConfigError("activation_params.eps", f"must be a finite number >= 0, got {eps!r}")
    scale = 1.0 + 2.0 * eps
    return lambda z: torch.sigmoid(z) * scale - eps


# The seven activations the blog compares, in its order; extras live in the registry only.
BLOG_ACTIVATIONS = ("linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu")
