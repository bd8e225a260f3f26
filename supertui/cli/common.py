"""Pieces the subcommands share."""

from __future__ import annotations

import sys

from engine import RunStore


def open_store(args) -> RunStore:
    store = RunStore(args.data_dir)
    return store


def report_skipped(path, message: str) -> None:
    """A corrupt or foreign folder among the runs: name it on stderr, keep going."""
    print(f"supertui: skipped {path}: {message}", file=sys.stderr)
