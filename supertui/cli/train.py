"""`supertui train PRESET --activation A [A ...]`: queue one run per activation, then follow them.

Every run trains in a worker process of the data directory's scheduler (engine.jobs.scheduler), not in
this one: `--detach` returns at once and the runs go on after the terminal closes. Everything the
user typed is checked before anything is written, without importing torch.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from engine.experiments import validate_config
from engine.training.activations import BLOG_ACTIVATIONS, activation_names
from engine.config import MAX_AXIS_VALUES, RunConfig
from engine.training.device import check_device_name, host_memory_bytes, needs_hardware_check
from engine.errors import ConfigError
from engine.experiments import experiment_names
from engine.presets import QUALITIES, phase_axes, preset_config
from engine.profiles import PROFILES, get_profile
from engine.sweeps.plan import CONFIRM_ABOVE, SweepPlan, SweepPoint, new_sweep_id, parse_sweep_flag
from supertui.cli.common import open_store

PRESET_NAMES = tuple(experiment_names())


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        description=(
            "Queue PRESET for each activation and follow the runs until they end; each run trains in a worker "
            "process of this data directory's scheduler, so it goes on if this terminal closes. The run ids are "
            "printed on stdout, one per line, at the end (with --detach: at once)."
        ),
    )
    p.add_argument("preset", nargs="?", help=f"one of: {', '.join(PRESET_NAMES)}")
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
    p.add_argument("--loss-reduction", help="sum (the blog's loss) or mean (Anthropic's code) over the features of a sample")
    p.add_argument("--profile", help="a bundle of reference choices applied first, the flags after it: "
                   + "; ".join(f"{name}: {profile.description}" for name, profile in PROFILES.items()))
    p.add_argument("--snapshots", type=int, help="W snapshots kept for replay")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="activation parameter, e.g. --param eps=0.2 for stretched_sigmoid, --param axis=instance for solu")
    p.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--no-compile", action="store_true", help="train eagerly instead of the compiled step")
    p.add_argument("--resume", metavar="RUN",
                   help="continue RUN for --steps more steps as a new run (same config; its manifest names RUN)")
    p.add_argument("--sweep", action="append", default=[], metavar="FIELD=VALUES",
                   help="one run per value (several --sweep: every combination): V1,V2,... or LOW:HIGH:COUNT "
                        "(log-spaced), e.g. --sweep lr=1e-4:1e-2:5 --sweep init=xavier,xavier_batched; "
                        "fields: lr, weight_decay, importance_decay, batch_size, steps, m, n, seeds, seed, init, "
                        "optimizer, schedule, param.NAME")
    p.add_argument("--refine", metavar="LEVELS",
                   help="phase preset: train a coarse grid, then LEVELS times only the cells whose corners disagree, "
                        "each level halving them (one run per level, queued by the scheduler)")
    p.add_argument("--coarse", metavar="N", help="with --refine: the coarse grid, N x N (default 8)")
    add_queue_options(p)
    p.set_defaults(func=run)


def add_queue_options(p) -> None:
    """Where and how queued runs train, and whether to wait: shared by `train` and `sweep`."""
    p.add_argument("--devices", metavar="LIST",
                   help="the scheduler's device slots from now on, one run each: e.g. cuda:0,cuda:2 or cpu,cpu "
                        "(default: every CUDA GPU, else MPS, else one CPU slot; 'auto' restores that)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine's device slots (default); ray: one task per run on a Ray cluster")
    p.add_argument("--address", metavar="HOST:PORT",
                   help="the Ray cluster's head (default: $SUPERTUI_RAY_ADDRESS); with --executor ray")
    p.add_argument("--gpus-per-run", type=float, default=1.0, metavar="G",
                   help="with --executor ray: GPUs each CUDA run asks for; a fraction shares a GPU (default 1)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, metavar="C",
                   help="with --executor ray: CPUs each run asks for (default 1)")
    p.add_argument("--yes", action="store_true", help=f"queue a sweep of more than {CONFIRM_ABOVE} runs")
    p.add_argument("--detach", action="store_true", help="queue, print the run ids and return at once")
    from supertui.cli import add_data_dir

    add_data_dir(p)


def parse_densities(tokens: list[str]) -> tuple[float, ...]:
    """Densities as typed; a HIGH:LOW:COUNT range is bounded before anything is allocated."""
    values: list[float] = []
    for token in (t for raw in tokens for t in raw.replace(",", " ").split()):
        try:
            parts = [float(part) for part in token.split(":")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 3) or (len(parts) == 3 and not parts[2].is_integer()):
            raise ConfigError("densities", f"cannot read {token!r} (accepted: numbers in (0, 1], or HIGH:LOW:COUNT)")
        if len(parts) == 3:
            high, low, count = parts[0], parts[1], int(parts[2])
            if not (0 < low <= 1 and 0 < high <= 1):
                raise ConfigError("densities", f"{token!r}: HIGH and LOW must lie in (0, 1]")
            if not 1 <= count <= MAX_AXIS_VALUES - len(values):
                raise ConfigError("densities", f"{token!r} asks for {count:,} values; at most {MAX_AXIS_VALUES:,} "
                                               "densities in all")
            values.extend(np.geomspace(high, low, count).tolist())
        else:
            values.append(parts[0])
        if len(values) > MAX_AXIS_VALUES:
            raise ConfigError("densities", f"at most {MAX_AXIS_VALUES:,} densities, got more")
    return tuple(values)


def parse_grid(text: str) -> tuple[int, int]:
    """DxR, each side a whole number in [1, MAX_AXIS_VALUES], checked before the grid is built."""
    try:
        d, r = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError("grid", f"cannot read {text!r} (accepted: DxR with two whole numbers, e.g. 40x40)") from None
    if d < 1 or r < 1:
        raise ConfigError("grid", f"both sides must be at least 1, got {text!r}")
    if d > MAX_AXIS_VALUES or r > MAX_AXIS_VALUES:
        raise ConfigError("grid", f"each side must be at most {MAX_AXIS_VALUES:,}, got {text!r}")
    return d, r


def parse_params(items: list[str]) -> dict[str, float | str]:
    """NAME=VALUE pairs: a number where VALUE reads as one, else the name it spells (the
    activation then checks it against its choices, e.g. axis=instance)."""
    params: dict[str, float | str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError("param", f"cannot read {item!r} (accepted: NAME=VALUE, e.g. eps=0.2 or axis=instance)")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            params[name.strip()] = value.strip()
    return params


def preset_and_activations(args) -> tuple[str, list[str]]:
    """The preset and activations, whichever order they came in: `-a relu sparsity` lets the
    activation list swallow the preset, which is given back here. Names are case-insensitive."""
    activations = [a.lower() for a in (args.activation or [])]
    preset = args.preset.lower() if args.preset else None
    if preset is None and activations and activations[-1] in PRESET_NAMES:
        preset = activations.pop()
    if preset is None:
        raise ConfigError("preset", f"name a preset (accepted: {', '.join(PRESET_NAMES)})")
    if preset not in PRESET_NAMES:
        raise ConfigError("preset", f"unknown preset {preset!r} (accepted: {', '.join(PRESET_NAMES)})")
    if not activations:
        activations = ["relu"]
    if activations == ["all"]:
        activations = list(BLOG_ACTIVATIONS)
    known = {name.lower(): name for name in activation_names()}
    return preset, [known.get(a, a) for a in activations]


CONFIG_FLAGS = ("n", "m", "steps", "batch_size", "lr", "seeds", "seed", "importance_decay", "optimizer", "weight_decay",
                "schedule", "init", "loss_reduction", "snapshots", "device")


def overrides_from_args(args, preset: str) -> dict:
    """The config fields the flags set: a profile's fields first, then every flag given (so a
    flag overrides the profile)."""
    overrides = dict(get_profile(args.profile).fields, profile=args.profile) if args.profile else {}
    overrides.update({field: getattr(args, field) for field in CONFIG_FLAGS if getattr(args, field) is not None})
    if args.densities:
        overrides["densities"] = parse_densities(args.densities)
    if args.grid is not None:  # `--grid ""` is refused by parse_grid, never silently the default
        if preset != "phase":
            raise ConfigError("grid", f"applies to the phase preset only, not {preset!r}")
        overrides["densities"], overrides["relative_importances"] = phase_axes(*parse_grid(args.grid))
    if args.no_compile:
        overrides["compile"] = False
    if "device" in overrides:
        overrides["device"] = check_device_name(overrides["device"])
    overrides["activation_params"] = parse_params(args.param)
    return overrides


def plan_from_args(args) -> SweepPlan:
    """The runs the flags ask for: activations first, then the grid of every --sweep field."""
    preset, activations = preset_and_activations(args)
    base = preset_config(preset, args.quality or "quick", activation=activations[0], **overrides_from_args(args, preset))
    axes: dict = {}
    for flag in args.sweep:
        name, values = parse_sweep_flag(flag)
        if name in axes:
            raise ConfigError("sweep", f"{name} is swept twice")
        axes[name] = values
    return SweepPlan(base, activations, axes)


def checked_points(plan: SweepPlan, args, check_hardware: bool = True) -> list[SweepPoint]:
    """Every run of the plan, checked as a whole before any is queued."""
    size = plan.size()  # from the axis lengths, before any run is built
    if size > CONFIRM_ABOVE and not args.yes:
        raise ConfigError("sweep", f"{size} runs would be queued; pass --yes to queue them all")
    points = plan.points()
    memory = host_memory_bytes()
    for point in points:
        validate_config(point.config, available_memory_bytes=memory)
    if check_hardware and needs_hardware_check(points[0].config.device):  # only now pay for torch
        from engine.training.device import select_device

        select_device(points[0].config.device)
    return points


def configs_from_args(args, check_hardware: bool = True) -> list[RunConfig]:
    return [p.config for p in checked_points(plan_from_args(args), args, check_hardware)]


def executor_from_args(args, configs: list[RunConfig]) -> dict | None:
    """The Ray settings a run is queued with (checked against the cluster now), or None for local."""
    if args.executor != "ray":
        for flag in ("address",):
            if getattr(args, flag):
                raise ConfigError(flag, "applies with --executor ray only")
        return None
    import os

    from engine.jobs.ray_executor import ADDRESS_ENV, RaySettings, check_cluster

    address = args.address or os.environ.get(ADDRESS_ENV)
    if not address:
        raise ConfigError("address", f"--executor ray needs --address HOST:PORT (or ${ADDRESS_ENV})")
    for name in ("gpus_per_run", "cpus_per_run"):
        value = getattr(args, name)
        if not (value > 0 and value == value and value != float("inf")):
            raise ConfigError(name, f"must be a number > 0, got {value!r}")
    settings = RaySettings(address, args.gpus_per_run, args.cpus_per_run)
    check_cluster(settings, sorted({c.device if c.device != "auto" else "cpu" for c in configs}))
    return settings.to_manifest()


def run(args) -> int:
    if args.coarse is not None and args.refine is None:
        raise ConfigError("coarse", "applies with --refine only (the coarse grid a refinement starts from)")
    if args.refine is not None:
        from supertui.cli.refine import queue_refinements

        return queue_refinements(args, plan_from_args(args), executor_from_args)
    if args.resume is not None:
        return queue_resume(args)
    return queue_plan(args, plan_from_args(args))


def resume_from_args(args, store) -> tuple[RunConfig, dict]:
    """The resumed run's config and manifest fields: `--resume RUN --steps N`, plus where it runs."""
    from engine.jobs.resume import resume_config, resume_extra

    if args.steps is None:
        raise ConfigError("steps", "--resume needs --steps N, the number of steps to add")
    given = [flag for flag in ("preset", "activation", "densities", "grid", "profile", "sweep", "param", *CONFIG_FLAGS)
             if flag not in ("steps", "device") and getattr(args, flag)]
    if given or args.quality != "quick":
        flag = given[0] if given else "paper"
        raise ConfigError("resume", f"a resumed run keeps its parent's config: drop {flag} (accepted with --resume: "
                                    "--steps, --device, --no-compile and the queue options)")
    if args.executor != "local":
        raise ConfigError("executor", "a resumed run trains on this machine's workers: drop --executor ray "
                                      "(accepted with --resume: local)")
    record = store.load(store.resolve(args.resume))
    overrides = {"device": check_device_name(args.device)} if args.device else {}
    if args.no_compile:
        overrides["compile"] = False
    return resume_config(record, args.steps, **overrides), resume_extra(record)


def queue_resume(args) -> int:
    """`train --resume RUN --steps N`: check, queue the continuation as a new run, follow it."""
    from engine.jobs.scheduler import ensure_scheduler

    store = open_store(args)
    config, extra = resume_from_args(args, store)
    validate_config(config, available_memory_bytes=host_memory_bytes())
    if needs_hardware_check(config.device):
        from engine.training.device import select_device

        select_device(config.device)
    run_id = store.submit(config, extra=extra).id
    print(f"supertui: queued {run_id} (continues {extra['parent']} from step {extra['resumed_from_step']:,})",
          file=sys.stderr, flush=True)
    ensure_scheduler(store)
    return follow_or_detach(args, store, [run_id])


def queue_plan(args, plan: SweepPlan) -> int:
    """Check everything, queue every run of the plan (as one sweep when fields are swept), then
    follow them unless --detach. Shared by `train` and `sweep FILE`."""
    from engine.jobs.queue import JobQueue
    from engine.jobs.scheduler import ensure_scheduler, parse_devices, save_devices

    # Every check happens before anything is written; a Ray run's device must exist on the cluster.
    points = checked_points(plan, args, check_hardware=args.executor == "local")
    devices = parse_devices(args.devices) if args.devices else None
    executor = executor_from_args(args, [p.config for p in points])
    store = open_store(args)
    store.check_writable()  # a read-only or unreadable data directory: one line, nothing queued
    sweep_id = new_sweep_id(plan.base.preset) if plan.axes or plan.ranges else None
    if len(points) > 1:
        print(f"supertui: {len(points)} runs" + (f" in sweep {sweep_id}" if sweep_id else ""), file=sys.stderr)
    if args.devices:
        save_devices(store, devices)
    extras = [{**({"executor": executor} if executor else {}),
               **({"sweep": {"id": sweep_id, "axes": point.axes}} if sweep_id else {})} for point in points]
    # One unit: the sweep's index first; a run that cannot be queued withdraws the others (one line).
    ids = JobQueue(store).submit_all([p.config for p in points], extras,
                                     sweep=(sweep_id, plan.describe()) if sweep_id else None,
                                     on_queued=lambda run_id: print(f"supertui: queued {run_id}", file=sys.stderr,
                                                                    flush=True))
    ensure_scheduler(store)
    return follow_or_detach(args, store, ids)


def follow_or_detach(args, store, ids: list[str]) -> int:
    """Print the run ids at once (--detach), or follow the runs to their end and then print them."""
    from supertui.cli.follow import follow

    if args.detach:
        for run_id in ids:
            print(run_id)
        return 0
    records, interrupted = follow(store, ids, live=sys.stdout.isatty())
    for run_id in ids:
        print(run_id)
    if interrupted:
        return 130
    return 0 if all(r.status == "completed" for r in records) else 1
