"""Reading files that anybody could have put in the data directory, or handed to the CLI.

A path that should hold a small JSON file may hold a folder, a FIFO (which blocks a plain `open`
forever), a device such as /dev/zero (endless), a gigabyte of text or JSON nested a million deep.
Every read of such a file goes through here: it opens without blocking, checks that it is a regular
file of bounded size, and reads at most that many bytes, so a hostile file costs one error, never a
hang or the machine's memory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from engine.bounds import JSON_MAX_DEPTH, JSON_NUMBER_MAX_CHARS, KIB, MIB  # noqa: F401 (re-exported)


class InputFileError(ValueError):
    """A file that cannot be read as asked: the message names the file and why, in one line."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def open_regular(path: Path | str, max_bytes: int):
    """A binary file object over `path`, once it is known to be a regular file of at most
    `max_bytes`. Opened with O_NONBLOCK so a FIFO cannot stall the open itself."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise InputFileError(path, "is a folder, not a file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(path, "is not a regular file")
        if info.st_size > max_bytes:
            raise InputFileError(path, f"holds {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded_bytes(path: Path | str, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes` (a file that grows while it is read is
    refused too)."""
    with open_regular(path, max_bytes) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputFileError(path, f"holds more than the {max_bytes:,} bytes allowed")
    return data


def read_bounded_text(path: Path | str, max_bytes: int) -> str:
    try:
        return read_bounded_bytes(path, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(path, "is not UTF-8 text") from None


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON `text`, counted without parsing (brackets inside
    strings are skipped), so a document nested 100,000 deep is measured, not recursed into."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_bounded_json(text: str, source: Path | str, max_depth: int = JSON_MAX_DEPTH) -> Any:
    """JSON from untrusted text: nesting deeper than `max_depth`, numbers of thousands of digits,
    NaN/Infinity and malformed text all become InputFileError naming `source`."""
    if json_depth(text) > max_depth:
        raise InputFileError(source, f"nests deeper than {max_depth} levels")

    def bounded_number(token: str) -> float | int:
        if len(token) > JSON_NUMBER_MAX_CHARS:
            raise InputFileError(source, f"has a number of {len(token):,} characters (at most {JSON_NUMBER_MAX_CHARS})")
        return float(token) if any(c in token for c in ".eE") else int(token)

    def no_constants(token: str) -> Any:
        raise InputFileError(source, f"has {token}, which is not a number JSON allows")

    try:
        return json.loads(text, parse_int=bounded_number, parse_float=bounded_number, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise InputFileError(source, f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise InputFileError(source, f"nests deeper than {max_depth} levels") from None


def read_bounded_json(path: Path | str, max_bytes: int, max_depth: int = JSON_MAX_DEPTH) -> Any:
    return parse_bounded_json(read_bounded_text(path, max_bytes), path, max_depth)
