"""`supertui settings [--reset]`: where the app keeps what it remembers (theme, the runs table's
columns, the last launch form), what it holds, and a one-line way to forget it all."""

from __future__ import annotations

from supertui.cli.common import safe_text


def register(subparsers) -> None:
    p = subparsers.add_parser("settings", description=__doc__.splitlines()[0].strip("`"))
    p.add_argument("--reset", action="store_true", help="forget every saved setting (the app starts with its defaults)")
    p.set_defaults(func=run)


def run(args) -> int:
    from supertui.settings import describe, reset_settings, settings_path

    path = settings_path()
    if args.reset:
        print(f"removed {safe_text(str(path))}" if reset_settings() else f"nothing to reset ({safe_text(str(path))} does not exist)")
        return 0
    print(safe_text(str(path)))
    print(safe_text(describe()))
    return 0
