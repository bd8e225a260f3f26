"""Profiles: one name for a bundle of reference choices, so a user can train as other code did.

    apply_profile(config, "anthropic")  # the loss, optimiser and init of Anthropic's notebook

A profile sets a few config fields at once; fields the user gives explicitly override it (the
CLI and the launch form apply the profile first, then the flags). The config keeps the profile's
name for display; `profile_label` adds the fields that were overridden.

Torch-free: checking and displaying a config never loads torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.config import RunConfig


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    fields: dict[str, Any]  # RunConfig field -> value


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("default", "supertui's own choices (SCIENCE.md): loss summed over features, Adam, per-model Xavier",
                {"loss_reduction": "sum", "optimizer": "adam", "weight_decay": 0.0, "init": "xavier"}),
        Profile("anthropic", "the reference code of Toy Models (Anthropic's notebook): loss averaged over features, "
                             "AdamW with weight decay 0.01, Xavier of the batched [K, n, m] tensor",
                {"loss_reduction": "mean", "optimizer": "adamw", "weight_decay": 0.01, "init": "xavier_batched"}),
    )
}
PROFILE_NAMES = tuple(PROFILES)
PROFILE_FIELDS = tuple(sorted({name for p in PROFILES.values() for name in p.fields}))


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ConfigError("profile", f"unknown profile {name!r} (accepted: {', '.join(PROFILES)})") from None


def apply_profile(config: "RunConfig", name: str) -> "RunConfig":
    """`config` with the profile's fields set and its name recorded."""
    return config.replace(profile=name, **get_profile(name).fields)


def profile_overrides(config: "RunConfig") -> dict[str, Any]:
    """The profile's fields this config sets otherwise (given explicitly after the profile)."""
    profile = PROFILES.get(config.profile)
    if profile is None:
        return {}
    return {name: getattr(config, name) for name, value in profile.fields.items() if getattr(config, name) != value}


def profile_label(config: "RunConfig") -> str:
    """The profile's name as shown, e.g. "anthropic" or "anthropic (weight_decay=0)"."""
    changed = profile_overrides(config)
    if not changed:
        return config.profile
    return f"{config.profile} ({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in changed.items())})"
