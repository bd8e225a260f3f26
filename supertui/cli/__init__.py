"""`supertui` on the command line: bare, it opens the app; its subcommands run headless.

Each subcommand lives in its own module with `register(subparsers)`; the module sets
`func(args) -> int` on its parser. Only the module of the command typed is imported and
registered (the others appear in `--help` by name and summary), so `supertui runs` never pays
for what `train` needs to check its flags. User errors print as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine import __version__
from engine.errors import SupertuiError
from engine.system.files import describe_os_error
from supertui.cli.common import check_data_dir, safe_text

# Each command's module (supertui.cli.<name>) and its one-line summary, in the order `--help` lists them.
COMMANDS = {
    "train": "queue runs of a preset and follow them (--detach: queue and return)",
    "sweep": "queue the sweep a TOML file describes",
    "jobs": "queued and training runs",
    "cancel": "cancel queued or training runs",
    "wait": "wait for runs to end (exit 0 only if all completed)",
    "runs": "list saved runs",
    "sweeps": "list sweeps and their progress",
    "show": "show a saved run",
    "rm": "delete saved runs",
    "export": "export saved runs as figures (PNG/SVG)",
    "reproduce": "train the blog's experiments for all activations and write every figure and report.md",
    "serve": "serve the app to a web browser",
    "settings": "show the app's saved settings (theme, columns, last launch form); --reset forgets them",
}
EXIT_USAGE = 2
EXIT_FAILED = 1


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv` (default: every command fully registered)."""
    parser = argparse.ArgumentParser(
        prog="supertui",
        description="Explore superposition in toy models. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"supertui {__version__}")
    add_data_dir(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    typed = COMMANDS.keys() if argv is None else {typed_command(argv)}
    for name, summary in COMMANDS.items():
        if name in typed:
            importlib.import_module(f"supertui.cli.{name}").register(_Summarised(subparsers, summary))
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def typed_command(argv: list[str]) -> str | None:
    """The command word in `argv`: the first word that is not a top-level option or its value."""
    words = iter(argv)
    for word in words:
        if word == "--data-dir":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


class _Summarised:
    """The subparsers action as a command's register() sees it: add_parser gets the summary
    from COMMANDS, so it is written once."""

    def __init__(self, subparsers, summary: str) -> None:
        self._subparsers, self._summary = subparsers, summary

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        return self._subparsers.add_parser(name, help=self._summary, **kwargs)


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="where runs are kept (default: $SUPERTUI_DATA_DIR, else the user data directory)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    if not hasattr(args, "data_dir"):
        args.data_dir = None
    try:
        if args.command is None:
            from supertui.app import run_app

            return run_app(data_dir=check_data_dir(args.data_dir))
        return args.func(args)
    except SupertuiError as exc:
        print(f"supertui: error: {safe_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            return _reader_gone()
        # A write that failed on the way (a full or read-only disk): one line, no traceback.
        print(f"supertui: error: {safe_text(describe_os_error(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("supertui: interrupted", file=sys.stderr)
        return 130


def _reader_gone() -> int:
    """The reader went away (`supertui runs --json | head -1`): not an error. Point stdout at
    /dev/null so the interpreter's final flush does not complain either."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
