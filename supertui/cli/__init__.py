"""`supertui` on the command line: bare, it opens the app; its subcommands run headless.

Each subcommand lives in its own module with `register(subparsers)`; the module sets
`func(args) -> int` on its parser. User errors print as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine import __version__
from engine.errors import SupertuiError
from engine.fsutil import describe_os_error
from supertui.cli.common import check_data_dir, safe_text
from supertui.cli import cancel, export, jobs, reproduce, rm, runs, serve, show, sweep, sweeps, train, wait

COMMANDS = [train, sweep, jobs, cancel, wait, runs, sweeps, show, rm, export, reproduce, serve]
EXIT_USAGE = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supertui",
        description="Explore superposition in toy models. With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"supertui {__version__}")
    add_data_dir(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="where runs are kept (default: $SUPERTUI_DATA_DIR, else the user data directory)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
