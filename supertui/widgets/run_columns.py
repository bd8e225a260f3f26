"""The columns the runs table can show, and how they share the terminal's width.

Each column says how to draw a run's cell, how to sort by it, how wide it may be and how readily
it gives its room away. `fit_columns` keeps the columns a person chose in their order and, when
they do not fit, drops the most dispensable ones first (the sparkline, the date, …): a number is
never cut, text that must shorten ends in `…`. `v` on the runs screen (the column chooser) picks
the columns; the choice is kept between sessions (supertui.settings)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Callable

from rich.text import Text

from engine.store.names import LISTED_CONFIG_FIELDS
from supertui.formatting import format_headline
from supertui.widgets.palette import activation_color
from supertui.widgets.sparkline import sparkline_text

SPARK_WIDTH = 10
CELL_PADDING = 2  # a DataTable cell has one space each side
ELLIPSIS = "…"
STATUS_STYLES = {
    "queued": "blue",
    "running": "bold cyan",
    "completed": "green",
    "cancelled": "yellow",
    "interrupted": "magenta",
    "failed": "bold red",
}


def format_created(created: str) -> str:
    """ISO time (UTC, as saved) shown in local time, minutes precision."""
    try:
        return dt.datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return created or "?"


def format_loss(value: float | None) -> str:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return f"{value:.4g}"


def format_field(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def clip(text: str, width: int) -> str:
    """Text no wider than `width`, ending in … when shortened (a number is never passed here)."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    cell: Callable[[Any], str]  # the run's (RunRecord or listing row) text in this column
    sort: Callable[[Any], Any] | None = None  # None: sorts by the cell's text
    width: int | None = None  # most characters it takes (text beyond ends in …); None: as wide as its widest cell
    number: bool = False  # right-aligned and never cut: its width comes from its widest value
    give_way: int = 0  # which columns leave first when the terminal is narrow: highest first, 0 never
    default: bool = False
    style: Callable[[Any], str] | None = None

    def sort_value(self, record) -> Any:
        return (self.sort or self.cell)(record)


def _loss(record) -> float | None:
    loss = record.final_loss
    return loss if isinstance(loss, (int, float)) and math.isfinite(loss) else None


def _headline_value(record) -> float | None:
    headline = getattr(record, "headline", None)  # None: saved before runs kept it, or not finished
    return headline["value"] if headline else None


def _config_column(key: str) -> Column:
    def value(record):
        return (getattr(record, "config_fields", None) or {}).get(key)

    return Column(key=f"config.{key}", label=key.replace("_", " "), cell=lambda r: format_field(value(r)),
                  sort=value, number=True, give_way=50)


COLUMNS: dict[str, Column] = {c.key: c for c in [
    Column("name", "name", lambda r: r.name, width=30, give_way=0, default=True),
    Column("id", "id", lambda r: r.id, width=40, give_way=60),
    Column("preset", "preset", lambda r: r.preset, width=11, give_way=55),
    Column("activation", "activation", lambda r: r.activation, width=16, give_way=30, default=True,
           style=lambda r: activation_color(r.activation)),
    Column("status", "status", lambda r: r.status, width=13, give_way=0, default=True,
           style=lambda r: STATUS_STYLES.get(r.status, "")),
    Column("created", "created", lambda r: format_created(r.created), sort=lambda r: r.created, width=16,
           give_way=40, default=True),
    Column("spark", "loss curve", lambda r: sparkline_text(r.summary.get("loss_sparkline") or [], SPARK_WIDTH),
           sort=_loss, width=SPARK_WIDTH, give_way=45, default=True, style=lambda r: "cyan"),
    Column("loss", "final loss", lambda r: format_loss(r.final_loss), sort=_loss, number=True, give_way=0,
           default=True),
    Column("headline", "headline", lambda r: format_headline(getattr(r, "headline", None)), sort=_headline_value, number=True, give_way=15),
    Column("tags", "tags", lambda r: ", ".join(r.tags) + (" ✎" if r.note else ""),
           sort=lambda r: ",".join(r.tags), width=40, give_way=20, default=True),
    Column("note", "note", lambda r: r.note.splitlines()[0] if r.note else "", width=40, give_way=35),
    Column("device", "device", lambda r: r.device or "–", width=12, give_way=50),
    Column("host", "host", lambda r: r.host or "–", width=16, give_way=50),
    *[_config_column(key) for key in LISTED_CONFIG_FIELDS if key != "device"],
]}
DEFAULT_COLUMNS = [key for key, column in COLUMNS.items() if column.default]
SORTABLE = [key for key in COLUMNS]


def cell_width(column: Column, texts: list[str]) -> int:
    widest = max([len(column.label) + 2, *(len(t) for t in texts)])  # + 2: the sort arrow
    return widest if column.width is None or column.number else min(widest, column.width)


def fit_columns(chosen: list[str], widths: dict[str, int], room: int) -> list[str]:
    """The chosen columns that fit in `room` characters, in the chosen order: the columns that give
    way most readily leave first (never one whose give_way is 0)."""
    shown = [key for key in chosen if key in COLUMNS]

    def total() -> int:
        return sum(widths[key] + CELL_PADDING for key in shown)

    for key in sorted(shown, key=lambda k: -COLUMNS[k].give_way):
        if total() <= room or COLUMNS[key].give_way == 0:
            break
        shown.remove(key)
    return shown


def styled(column: Column, record, width: int, text: str | None = None) -> Text:
    text = column.cell(record) if text is None else text
    style = column.style(record) if column.style else ""
    if column.number:
        return Text(text, style=style, justify="right")
    return Text(clip(text, width), style=style)
