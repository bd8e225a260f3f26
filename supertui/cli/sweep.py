"""`supertui sweep FILE`: queue the sweep a small TOML file describes, so it can be versioned next
to a paper. The file (every key but `preset` optional):

    preset = "dims"
    quality = "quick"                  # or "paper"
    activations = ["relu", "gelu"]     # the first axis
    mode = "grid"                      # every combination; or "random" with count and seed
    count = 20
    seed = 0
    [fixed]                            # what every run shares
    steps = 5000
    [sweep]                            # a list of values, or "LOW:HIGH:COUNT" (log-spaced);
    lr = [1e-3, 3e-3]                  # in random mode "LOW:HIGH" is drawn log-uniformly
    init = ["xavier", "xavier_batched"]
    param.eps = [0.1, 0.3]             # an activation parameter
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.experiments import validate_config
from engine.errors import ConfigError


def register(subparsers) -> None:
    from supertui.cli.train import add_queue_options

    p = subparsers.add_parser("sweep", description=__doc__.split("\n\n")[0],
                              epilog="File format:\n" + __doc__.split("\n\n", 1)[1],
                              formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="a TOML sweep file")
    add_queue_options(p)
    p.set_defaults(func=run)


def read_toml(path: str) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("file", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("file", f"{path} is not valid TOML ({exc})") from None


def base_config(preset: str, quality: str, fixed: dict):
    from engine.presets import QUALITIES, preset_config
    from engine.sweeps.plan import config_with_fixed

    if quality not in QUALITIES:
        raise ConfigError("quality", f"unknown quality {quality!r} (accepted: {', '.join(QUALITIES)})")
    return validate_config(config_with_fixed(preset_config(preset.lower(), quality), fixed))


def run(args) -> int:
    from engine.sweeps.plan import plan_from_toml
    from supertui.cli.train import queue_plan

    plan = plan_from_toml(read_toml(args.file), base_config)
    return queue_plan(args, plan)
