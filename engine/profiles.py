"""Profiles: one name for a bundle of reference choices, so a user can train as other code did.

    apply_profile(config, "anthropic")  # (engine.config) the loss, optimiser and init of Anthropic's notebook

A profile sets a few config fields at once; fields the user gives explicitly override it (the
CLI and the launch form apply the profile first, then the flags). The config keeps the profile's
name for display; `profile_label` adds the fields that were overridden.

Torch-free: checking and displaying a config never loads torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError


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
