"""Published curves to hold a run against: a file of (x, y, label) points, read as untrusted input,
and the mean absolute error of a run's curve against each labelled curve.

    curves = load_reference(path)          # [ReferenceCurve], ConfigError("reference", ...) if bad
    error = curve_error(curve, x, y)       # against a run's curve: x [P], y [P]

Two formats, told apart by the file's first non-blank character:
- CSV: a header naming the columns x, y and label (any order; a `source` column is allowed),
  then one point per row; lines starting with # are comments.
- JSON: {"curves": [{"label": str, "x": [numbers], "y": [numbers], "source": str}]} (`source`
  optional; a top-level "note" is allowed), or a list of points [{"x": .., "y": .., "label": ..}].
Labels name what the curve is held against; the D* figures and panes match a label to the run of
that activation (case-insensitive). Every x must be positive (the D* axis, 1/(1-S), is logarithmic).

How the error is computed (the one definition, printed beside every number): for each point
(x_j, y_j) of a labelled curve, the run's value at the run's grid point nearest x_j in log x;
MAE = mean over j of |y_j - run(x_j)|. The largest factor between an x_j and the run's x it was
matched to is reported too, so a match far off the run's grid is visible.

numpy only, no pickle, no terminal escapes: labels and sources may reach a terminal, so any
control character in them is refused.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.bounds import USER_FIELD_MAX_CHARS, USER_FILE_MAX_BYTES, USER_FILE_MAX_DEPTH
from engine.errors import ConfigError
from engine.system.input_files import InputFileError, parse_bounded_json, read_bounded_text

FIELD = "reference"
MAX_BYTES = USER_FILE_MAX_BYTES
MAX_POINTS = 20_000
MAX_CURVES = 50
MAX_TEXT = 200  # characters in a label; a source may be longer (MAX_TEXT * 4)
MAE_DEFINITION = ("MAE = mean over the reference's points of |y_ref − y_run|, y_run at the run's grid point nearest "
                  "in log x")


@dataclass(frozen=True)
class ReferenceCurve:
    label: str
    x: np.ndarray  # [N] > 0, sorted
    y: np.ndarray  # [N]
    source: str = ""


@dataclass(frozen=True)
class CurveError:
    """One reference curve against one run's curve."""

    label: str
    mae: float
    points: int
    worst_x_factor: float  # the largest ratio between a reference x and the run x it was matched to (>= 1)


def _bad(message: str) -> ConfigError:
    return ConfigError(FIELD, message)


def _text(value, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{what}: expected non-empty text")
    if len(value) > limit:
        raise _bad(f"{what}: longer than {limit} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise _bad(f"{what}: control characters are not accepted")
    return value.strip()


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _bad(f"{what}: expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise _bad(f"{what}: expected a number, got {str(value)[:20]!r}") from None
    if not math.isfinite(number):
        raise _bad(f"{what}: expected a finite number")
    return number


def _curves(points: list[tuple[str, float, float, str]]) -> list[ReferenceCurve]:
    """Points (label, x, y, source) -> one curve per label, in order of first appearance."""
    if not points:
        raise _bad("no points (expected x, y and label for at least one point)")
    if len(points) > MAX_POINTS:
        raise _bad(f"more than {MAX_POINTS} points")
    labels = list(dict.fromkeys(label for label, *_ in points))
    if len(labels) > MAX_CURVES:
        raise _bad(f"more than {MAX_CURVES} labels")
    out = []
    for label in labels:
        mine = [(x, y, source) for name, x, y, source in points if name == label]
        x = np.array([p[0] for p in mine])
        y = np.array([p[1] for p in mine])
        if (x <= 0).any():
            raise _bad(f"label {label!r}: x must be positive (a log axis), got {x[x <= 0][0]:g}")
        order = np.argsort(x, kind="stable")
        sources = list(dict.fromkeys(s for *_, s in mine if s))
        out.append(ReferenceCurve(label, x[order], y[order], "; ".join(sources)))
    return out


def _from_csv(text: str) -> list[ReferenceCurve]:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise _bad("no header (expected a first row naming x, y and label)")
    reader = _bounded_rows(csv.reader(io.StringIO("\n".join(lines))))
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in ("x", "y", "label") if c not in header]
    if missing:
        raise _bad(f"CSV header {', '.join(header)[:60]!r}: missing column(s) {', '.join(missing)}")
    column = {name: header.index(name) for name in ("x", "y", "label")}
    source = header.index("source") if "source" in header else None
    points = []
    for row_number, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise _bad(f"CSV row {row_number}: {len(row)} fields, the header has {len(header)}")
        where = f"CSV row {row_number}"
        points.append((_text(row[column["label"]], f"{where} label"), _number(row[column["x"]], f"{where} x"),
                       _number(row[column["y"]], f"{where} y"),
                       "" if source is None or not row[source].strip() else _text(row[source], f"{where} source", MAX_TEXT * 4)))
    return _curves(points)


def _bounded_rows(reader):
    """CSV rows with no field over USER_FIELD_MAX_CHARS (the csv module's own limit, 131,072,
    raises a bare _csv.Error) and no malformed quoting escaping as a traceback."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field limit" in str(exc):
                raise _bad(f"CSV row {reader.line_num}: a field of more than 131,072 characters "
                           f"(at most {USER_FIELD_MAX_CHARS:,})") from None
            raise _bad(f"CSV row {reader.line_num}: {' '.join(str(exc).split())[:80]}") from None
        for field in row:
            if len(field) > USER_FIELD_MAX_CHARS:
                raise _bad(f"CSV row {reader.line_num}: a field of {len(field):,} characters "
                           f"(at most {USER_FIELD_MAX_CHARS:,})")
        yield row


def _from_json(text: str) -> list[ReferenceCurve]:
    try:
        data = parse_bounded_json(text, "JSON", USER_FILE_MAX_DEPTH)  # depth, number length, NaN: one line each
    except InputFileError as exc:
        raise _bad(exc.reason) from None
    points = []
    if isinstance(data, list):
        for i, point in enumerate(data):
            if not isinstance(point, dict) or not {"x", "y", "label"} <= set(point):
                raise _bad(f"point {i}: expected an object with x, y and label")
            points.append((_text(point["label"], f"point {i} label"), _number(point["x"], f"point {i} x"),
                           _number(point["y"], f"point {i} y"),
                           _text(point["source"], f"point {i} source", MAX_TEXT * 4) if point.get("source") else ""))
        return _curves(points)
    if not isinstance(data, dict) or not isinstance(data.get("curves"), list):
        raise _bad('expected {"curves": [...]} or a list of points with x, y and label')
    unknown = set(data) - {"curves", "note"}
    if unknown:
        raise _bad(f"unknown top-level key {sorted(unknown)[0]!r} (accepted: curves, note)")
    for i, curve in enumerate(data["curves"]):
        if not isinstance(curve, dict) or not isinstance(curve.get("x"), list) or not isinstance(curve.get("y"), list):
            raise _bad(f"curve {i}: expected an object with label, x (a list) and y (a list)")
        label = _text(curve.get("label"), f"curve {i} label")
        if len(curve["x"]) != len(curve["y"]):
            raise _bad(f"curve {label!r}: {len(curve['x'])} x values but {len(curve['y'])} y values")
        source = _text(curve["source"], f"curve {label!r} source", MAX_TEXT * 4) if curve.get("source") else ""
        if len(points) + len(curve["x"]) > MAX_POINTS:
            raise _bad(f"more than {MAX_POINTS} points")
        points += [(label, _number(x, f"curve {label!r} x[{j}]"), _number(y, f"curve {label!r} y[{j}]"), source)
                   for j, (x, y) in enumerate(zip(curve["x"], curve["y"]))]
    return _curves(points)


def parse_reference(text: str) -> list[ReferenceCurve]:
    """Curves from a CSV or JSON text (see the module docstring); ConfigError naming what is wrong."""
    stripped = text.lstrip("\ufeff \t\r\n")
    return _from_json(stripped) if stripped[:1] in ("{", "[") else _from_csv(stripped)


def load_reference(path: str | Path) -> list[ReferenceCurve]:
    """Read and check a reference file (never more than MAX_BYTES)."""
    path = Path(path)
    try:
        text = read_bounded_text(path, MAX_BYTES)  # a FIFO, a folder or /dev/zero: one error, never a hang
    except FileNotFoundError:
        raise _bad(f"{path}: no such file") from None
    except InputFileError as exc:
        raise _bad(str(exc)) from None
    except OSError as exc:
        raise _bad(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_reference(text)


def curve_error(curve: ReferenceCurve, x: np.ndarray, y: np.ndarray) -> CurveError:
    """The reference curve against a run's curve x [P] (> 0), y [P]: MAE_DEFINITION. NaN when the
    run has no finite point."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0)
    if not keep.any():
        return CurveError(curve.label, float("nan"), len(curve.x), float("nan"))
    log_run, run_y = np.log(x[keep]), y[keep]
    nearest = np.argmin(np.abs(np.log(curve.x)[:, None] - log_run[None, :]), axis=1)  # [N]
    mae = float(np.mean(np.abs(curve.y - run_y[nearest])))
    worst = float(np.exp(np.max(np.abs(np.log(curve.x) - log_run[nearest]))))
    return CurveError(curve.label, mae, len(curve.x), worst)


def matching(curves: list[ReferenceCurve], label: str) -> list[ReferenceCurve]:
    """The reference curves held against a run curve called `label` (an activation), case-insensitive."""
    return [c for c in curves if c.label.lower() == label.lower()]
