"""A form with one field for every RunConfig parameter (preset and activation are picked apart).

Text is turned into values leniently and then judged by `RunConfig.validate()` itself, so the
form accepts exactly what the engine and the CLI accept and shows the very same messages: a
field that cannot be read as a number is passed through as text and validate() names it.

Picking a profile (engine.profiles) fills in the fields it bundles, as `--profile` does on the
command line; editing one of them afterwards overrides the profile, as a flag after it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from engine.config import INITS, LOSS_REDUCTIONS, OPTIMIZERS, SCHEDULES, RunConfig
from engine.errors import ConfigError
from engine.profiles import PROFILE_NAMES, get_profile
from supertui.widgets.toggles import TickBox


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
    FieldSpec("loss_reduction", "choice", "the loss over the features of a sample: sum (the blog) or mean (Anthropic)",
              LOSS_REDUCTIONS),
    FieldSpec("profile", "choice", "a bundle of reference choices; picking one fills in its fields", PROFILE_NAMES),
    FieldSpec("device", "text", "auto, cpu, cuda, cuda:N, mps"),
    FieldSpec("snapshots", "int", "W snapshots kept for the scrubber"),
    FieldSpec("compile", "bool", "torch.compile the training step"),
    FieldSpec("phase_threshold", "float", "|w| needed to count a feature as represented"),
    FieldSpec("activation_params", "params", "name=value, … (e.g. eps=0.1 for stretched_sigmoid, axis=instance for solu)"),
)
FIELD_NAMES = tuple(spec.name for spec in FIELDS)
SPEC = {spec.name: spec for spec in FIELDS}


def format_value(kind: str, value: Any) -> str:
    if kind in ("floats", "optional_floats"):
        return "" if value is None else ", ".join(f"{v:.6g}" for v in value)
    if kind == "float":
        return f"{value:.6g}"
    if kind == "params":
        return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in value.items())
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
        # A value that is not a number stays a name (axis=instance): the activation checks it.
        params: dict[str, float | str] = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            name, eq, value = item.partition("=")
            if not eq or not name.strip() or not value.strip():
                raise ConfigError(spec.name, f"expected name=value pairs, got {item!r}")
            params[name.strip()] = _number(value)
        return params
    return text


class ConfigForm(Vertical):
    """`fill(config)` sets every field; `read()` returns the RunConfig keyword arguments and the
    errors of fields that could not even be parsed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._exact: dict[str, tuple[str, Any]] = {}  # untouched text keeps the exact preset value
        self._profile: str | None = None  # the profile the fields were last filled from

    def compose(self) -> ComposeResult:
        for spec in FIELDS:
            with Horizontal(classes="field", id=f"row-{spec.name}"):
                yield Label(spec.name.replace("_", " "))
                widget_id = f"field-{spec.name}"
                if spec.kind == "choice":
                    yield Select([(c, c) for c in spec.choices], allow_blank=False, id=widget_id, tooltip=spec.help, compact=True)
                elif spec.kind == "bool":
                    yield TickBox(spec.help, id=widget_id, compact=True)
                else:
                    yield Input(id=widget_id, placeholder=spec.help, tooltip=spec.help, select_on_focus=False, compact=True)
            yield Static("", classes="field-error", id=f"error-{spec.name}")

    def on_mount(self) -> None:
        for spec in FIELDS:
            self.query_one(f"#error-{spec.name}", Static).display = False

    def fill(self, config: RunConfig) -> None:
        self._exact.clear()
        self._profile = config.profile  # filling the select is not the user picking a profile
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

    def on_select_changed(self, event: Select.Changed) -> None:
        """A profile picked by the user: fill in its fields (the event still reaches the screen)."""
        if event.select.id != "field-profile" or event.value == self._profile or not isinstance(event.value, str):
            return
        self._profile = event.value
        for name, value in get_profile(event.value).fields.items():
            widget = self.query_one(f"#field-{name}")
            if SPEC[name].kind == "choice":
                widget.value = value
            else:
                widget.value = format_value(SPEC[name].kind, value)

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

    def texts(self) -> dict[str, str | bool]:
        """Every field as shown (text, choice or tick): what the launch form keeps for next time."""
        return {spec.name: self.query_one(f"#field-{spec.name}").value for spec in FIELDS}

    def set_texts(self, texts: dict) -> None:
        """Put back fields kept from last time (those that still exist, with a value of their kind)."""
        if texts.get("profile") in PROFILE_NAMES:
            self._profile = texts["profile"]  # as it was: its fields are the kept ones, not the profile's
        for spec in FIELDS:
            value = texts.get(spec.name)
            widget = self.query_one(f"#field-{spec.name}")
            if spec.kind == "bool" and isinstance(value, bool):
                widget.value = value
            elif spec.kind == "choice" and value in spec.choices:
                widget.value = value
            elif spec.kind not in ("bool", "choice") and isinstance(value, str):
                widget.value = value

    def hide_fields(self, names: tuple[str, ...]) -> None:
        """Hide the fields the experiment never reads (their values stay the preset's)."""
        for spec in FIELDS:
            self.query_one(f"#row-{spec.name}").display = spec.name not in names
            if spec.name in names:
                self.query_one(f"#error-{spec.name}", Static).display = False

    def show_errors(self, errors: dict[str, str]) -> None:
        for spec in FIELDS:
            box = self.query_one(f"#error-{spec.name}", Static)
            message = errors.get(spec.name)
            box.display = message is not None
            if message is not None:
                box.update(Text(f"✗ {message}"))
            self.query_one(f"#row-{spec.name}").set_class(message is not None, "invalid")
