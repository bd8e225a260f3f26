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
    """A user's sweep file: at most USER_FILE_MAX_BYTES of UTF-8 TOML nested at most
    USER_FILE_MAX_DEPTH deep (a FIFO, a folder, /dev/zero or hostile nesting is one line)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    from engine.bounds import USER_FILE_MAX_BYTES, USER_FILE_MAX_DEPTH
    from engine.system.input_files import InputFileError, read_bounded_text

    try:
        text = read_bounded_text(path, USER_FILE_MAX_BYTES)
    except InputFileError as exc:
        raise ConfigError("file", str(exc)) from None
    except OSError as exc:
        raise ConfigError("file", f"cannot read {path}: {exc.strerror or exc}") from None
    if toml_depth(text) > USER_FILE_MAX_DEPTH:  # measured first: tomllib recurses, and is quadratic in dotted keys
        raise ConfigError("file", f"{path} nests deeper than {USER_FILE_MAX_DEPTH} levels (a sweep file needs 3)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("file", f"{path} is not valid TOML ({' '.join(str(exc).split())[:120]})") from None
    except RecursionError:
        data = None
    if data is None or nesting_depth(data) > USER_FILE_MAX_DEPTH:
        raise ConfigError("file", f"{path} nests deeper than {USER_FILE_MAX_DEPTH} levels (a sweep file needs 3)")
    return data


_SEPARATORS = frozenset("=,[]{}\n")


def toml_depth(text: str) -> int:
    """How deep TOML `text` could nest, counted without parsing: open arrays and inline tables,
    plus the dots of the key being read (`a.b.c = 1` is three tables deep). Strings and comments
    are skipped; a float's one dot counts too, so this never says less than the parser would."""
    depth = deepest = chain = 0
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else char
            i += len(quote)
            while i < size and not text.startswith(quote, i):
                i += 2 if quote[0] == '"' and text[i] == "\\" else 1
            i += len(quote)
            continue
        if char == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        if char in _SEPARATORS:
            chain = 0
            depth += 1 if char in "[{" else -1 if char in "]}" else 0
        elif char == ".":
            chain += 1
        deepest = max(deepest, depth + chain)
        i += 1
    return deepest


def nesting_depth(value) -> int:
    """How deep tables and arrays nest in `value`, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


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
