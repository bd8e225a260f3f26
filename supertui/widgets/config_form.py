"""A form with one field for every RunConfig parameter (preset and activation are picked apart).

Text is turned into values leniently and then judged by `RunConfig.validate()` itself, so the
form accepts exactly what the engine and the CLI accept and shows the very same messages: a
field that cannot be read as a number is passed through as text and validate() names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.config import INITS, OPTIMIZERS, SCHEDULES, RunConfig
from engine.errors import ConfigError


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # int | float | floats | optional_floats | choice | bool | text | params
    help: str
    choices: tuple[str, ...] = ()


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("n", "int", "features"),
    FieldSpec("m", "int", "hidden dimensions (m < n)"),
    FieldSpec("densities", "floats", "feature densities 1-S in (0, 1], comma separated"),
    FieldSpec("relative_importances", "optional_floats", "phase preset: importance of feature 2 (blank: none)"),
    FieldSpec("importance_decay", "float", "I_i = decay**i, in (0, 1]"),
    FieldSpec("seeds", "int", "seeds per grid point (the lowest loss wins)"),
    FieldSpec("seed", "int", "first seed"),
    FieldSpec("steps", "int", "training steps"),
    FieldSpec("batch_size", "int", "samples per step"),
    FieldSpec("lr", "float", "learning rate"),
    FieldSpec("optimizer", "choice", "adam or adamw", OPTIMIZERS),
    FieldSpec("weight_decay", "float", ">= 0"),
    FieldSpec("schedule", "choice", "learning-rate schedule", SCHEDULES),
    FieldSpec("init", "choice", "xavier per model, or batched as in Anthropic's notebook", INITS),
    FieldSpec("device", "text", "auto, cpu, cuda, cuda:N, mps"),
    FieldSpec("snapshots", "int", "W snapshots kept for the scrubber"),
    FieldSpec("compile", "bool", "torch.compile the training step"),
    FieldSpec("phase_threshold", "float", "|w| needed to count a feature as represented"),
    FieldSpec("activation_params", "params", "name=value, … (e.g. eps=0.1 for stretched_sigmoid)"),
)
FIELD_NAMES = tuple(spec.name for spec in FIELDS)
SPEC = {spec.name: spec for spec in FIELDS}


def format_value(kind: str, value: Any) -> str:
    if kind in ("floats", "optional_floats"):
        return "" if value is None else ", ".join(f"{v:.6g}" for v in value)
    if kind == "float":
        return f"{value:.6g}"
    if kind == "params":
        return ", ".join(f"{k}={v:g}" for k, v in value.items())
    return str(value)


def _number(token: str, integer: bool = False) -> Any:
    """The number `token` spells, or the text itself so that validate() can name it."""
    token = token.strip()
    try:
        if integer:
            if re.fullmatch(r"[+-]?\d[\d_]*", token):
                return int(token)
            as_float = float(token)  # 1e4 is a fine way to write ten thousand
            return int(as_float) if as_float.is_integer() else token
        return float(token)
    except ValueError:
        return token


def parse_value(spec: FieldSpec, text: str) -> Any:
    """Text of a field -> the value RunConfig gets (possibly still text, for validate to reject)."""
    text = text.strip()
    if spec.kind == "int":
        return _number(text, integer=True)
    if spec.kind == "float":
        return _number(text)
    if spec.kind in ("floats", "optional_floats"):
        if not text and spec.kind == "optional_floats":
            return None
        return tuple(_number(t) for t in re.split(r"[,\s]+", text) if t)
    if spec.kind == "params":
        params: dict[str, float] = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            name, eq, value = item.partition("=")
            number = _number(value)
            if not eq or not name.strip() or not isinstance(number, float):
                raise ConfigError(spec.name, f"expected name=value pairs with numeric values, got {item!r}")
            params[name.strip()] = number
        return params
    return text


class ConfigForm(Vertical):
    """`fill(config)` sets every field; `read()` returns the RunConfig keyword arguments and the
    errors of fields that could not even be parsed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._exact: dict[str, tuple[str, Any]] = {}  # untouched text keeps the exact preset value

    def compose(self) -> ComposeResult:
        for spec in FIELDS:
            with Horizontal(classes="field", id=f"row-{spec.name}"):
                yield Label(spec.name.replace("_", " "))
                widget_id = f"field-{spec.name}"
                if spec.kind == "choice":
                    yield Select([(c, c) for c in spec.choices], allow_blank=False, id=widget_id, tooltip=spec.help, compact=True)
                elif spec.kind == "bool":
                    yield Checkbox(spec.help, id=widget_id, compact=True)
                else:
                    yield Input(id=widget_id, placeholder=spec.help, tooltip=spec.help, select_on_focus=False, compact=True)
            yield Static("", classes="field-error", id=f"error-{spec.name}")

    def on_mount(self) -> None:
        for spec in FIELDS:
            self.query_one(f"#error-{spec.name}", Static).display = False

    def fill(self, config: RunConfig) -> None:
        self._exact.clear()
        for spec in FIELDS:
            value = getattr(config, spec.name)
            widget = self.query_one(f"#field-{spec.name}")
            if spec.kind == "choice":
                widget.value = value
            elif spec.kind == "bool":
                widget.value = bool(value)
            else:
                text = format_value(spec.kind, value)
                self._exact[spec.name] = (text, value)
                widget.value = text

    def read(self) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for spec in FIELDS:
            widget = self.query_one(f"#field-{spec.name}")
            if spec.kind in ("choice", "bool"):
                values[spec.name] = widget.value
                continue
            text = widget.value
            exact = self._exact.get(spec.name)
            if exact is not None and exact[0] == text:
                values[spec.name] = exact[1]
                continue
            try:
                values[spec.name] = parse_value(spec, text)
            except ConfigError as exc:
                errors[spec.name] = str(exc)
        return values, errors

    def show_errors(self, errors: dict[str, str]) -> None:
        for spec in FIELDS:
            box = self.query_one(f"#error-{spec.name}", Static)
            message = errors.get(spec.name)
            box.display = message is not None
            if message is not None:
                box.update(Text(f"✗ {message}"))
            self.query_one(f"#row-{spec.name}").set_class(message is not None, "invalid")
