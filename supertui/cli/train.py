"""`supertui train PRESET --activation A [A ...]`: train headless, one saved run per activation."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from engine import BLOG_ACTIVATIONS, RunConfig, preset_config, run_experiment
from engine.device import available_memory_bytes, select_device
from engine.errors import ConfigError
from engine.experiments import experiment_names
from engine.presets import QUALITIES, phase_axes
from supertui.cli.common import graceful_sigint, open_store
from supertui.cli.progress import TrainDisplay


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser(
        "train",
        help="train a preset headless and save the runs",
        description="Train PRESET for each activation; print each run id on its own line at the end.",
    )
    p.add_argument("preset", help=f"one of: {', '.join(experiment_names())}")
    p.add_argument("--activation", "-a", nargs="+", default=None, metavar="A",
                   help="activation(s), one run each; 'all' for the blog's seven (default: relu)")
    p.add_argument("--paper", action="store_const", const="paper", dest="quality", default="quick",
                   help="paper-quality settings (longer, more seeds, a finer grid)")
    p.add_argument("--quality", choices=QUALITIES, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help="number of features")
    p.add_argument("--m", type=int, help="number of hidden dimensions (m < n)")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seeds", type=int, help="seeds per grid point (the lowest-loss seed decides a phase)")
    p.add_argument("--seed", type=int, help="first seed")
    p.add_argument("--densities", nargs="+", metavar="D",
                   help="densities 1-S in (0, 1]; HIGH:LOW:COUNT gives COUNT log-spaced values")
    p.add_argument("--importance-decay", type=float, help="importance I_i = decay**i, in (0, 1]")
    p.add_argument("--grid", metavar="DxR", help="phase preset: densities x relative importances, e.g. 40x40")
    p.add_argument("--optimizer", help="adam or adamw")
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", help="constant, linear or cosine")
    p.add_argument("--init", help="xavier (per model) or xavier_batched (Anthropic's 3-D tensor)")
    p.add_argument("--snapshots", type=int, help="W snapshots kept for replay")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="activation parameter, e.g. --param eps=0.2 for stretched_sigmoid")
    p.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--no-compile", action="store_true", help="train eagerly instead of the compiled step")
    add_data_dir(p)
    p.set_defaults(func=run)


def parse_densities(tokens: list[str]) -> tuple[float, ...]:
    values: list[float] = []
    for token in (t for raw in tokens for t in raw.replace(",", " ").split()):
        try:
            if ":" in token:
                high, low, count = token.split(":")
                values.extend(np.geomspace(float(high), float(low), int(count)).tolist())
            else:
                values.append(float(token))
        except ValueError:
            raise ConfigError("densities", f"cannot read {token!r} (accepted: numbers in (0, 1], or HIGH:LOW:COUNT)") from None
    return tuple(values)


def parse_grid(text: str) -> tuple[int, int]:
    try:
        d, r = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError("grid", f"cannot read {text!r} (accepted: DxR with two whole numbers, e.g. 40x40)") from None
    if d < 1 or r < 1:
        raise ConfigError("grid", f"both sides must be at least 1, got {text!r}")
    return d, r


def parse_params(items: list[str]) -> dict[str, float]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ConfigError("param", f"cannot read {item!r} (accepted: NAME=NUMBER, e.g. eps=0.2)")
    return params


def configs_from_args(args) -> list[RunConfig]:
    overrides = {
        field: getattr(args, field)
        for field in ("n", "m", "steps", "batch_size", "lr", "seeds", "seed", "importance_decay", "optimizer",
                      "weight_decay", "schedule", "init", "snapshots", "device")
        if getattr(args, field) is not None
    }
    if args.densities:
        overrides["densities"] = parse_densities(args.densities)
    if args.grid:
        if args.preset != "phase":
            raise ConfigError("grid", f"applies to the phase preset only, not {args.preset!r}")
        overrides["densities"], overrides["relative_importances"] = phase_axes(*parse_grid(args.grid))
    if args.no_compile:
        overrides["compile"] = False
    params = parse_params(args.param)
    activations = args.activation or ["relu"]
    if activations == ["all"]:
        activations = list(BLOG_ACTIVATIONS)
    configs = [
        preset_config(args.preset, args.quality or "quick", activation=a, activation_params=params, **overrides)
        for a in activations
    ]
    device = select_device(configs[0].device)
    memory = available_memory_bytes(device)
    for config in configs:
        config.validate(available_memory_bytes=memory)
    return configs


def run(args) -> int:
    configs = configs_from_args(args)  # every check happens before anything is written
    store = open_store(args)
    ids = []
    with graceful_sigint() as stop:
        with TrainDisplay(live=sys.stdout.isatty()) as display:
            for config in configs:
                if stop.is_set():
                    break
                task = display.start(config)
                record = run_experiment(
                    config,
                    store,
                    on_progress=task.update,
                    should_stop=stop.is_set,
                    on_warning=display.warn,
                    send_weights=False,
                    progress_interval=0.5,
                )
                task.finish(record)
                ids.append(record.id)
    for run_id in ids:
        print(run_id)
    return 130 if stop.is_set() else 0
