"""Ask for a file of published curves to overlay on the D* panes (engine.science.reference_curves).

The file is read and checked here: a bad one is named in one line under the field, and the dialog
stays open. Returns an Overlay, `None` to clear the overlay (an empty path), or nothing (escape).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from engine.errors import ConfigError
from engine.science.reference_curves import load_reference
from supertui.reference_overlay import Overlay, current, remember

CANCELLED = "cancelled"


class ReferencePathScreen(ModalScreen[object]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reference.cancel")]

    def __init__(self, path: str = ""):
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(Text("Overlay published D* curves", style="bold"))
            yield Label(Text("File: CSV (header x,y,label) or JSON {\"curves\": [{\"label\", \"x\", \"y\"}]}; "
                             "a label names the activation it is held against. Empty: no overlay."))
            yield Input(self.path, id="reference-path", placeholder="path/to/curves.csv")
            yield Static("", id="reference-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.dismiss(None)
            return
        try:
            curves = load_reference(Path(value).expanduser())
        except ConfigError as exc:
            self.query_one("#reference-error", Static).update(Text(str(exc), style="red"))
            return
        self.dismiss(Overlay(value, tuple(curves)))

    def action_cancel(self) -> None:
        self.dismiss(CANCELLED)


def ask_reference(screen, redraw) -> None:
    """Open the dialog from `screen`; a chosen file (or none) is remembered for the session and the
    screen redrawn."""
    overlay = current(screen.app)

    def chosen(result) -> None:
        if result == CANCELLED:
            return
        remember(screen.app, result)
        if result is not None:
            screen.notify(f"{len(result.curves)} reference curve(s) from {Path(result.path).name}", timeout=3, markup=False)
        redraw()

    screen.app.push_screen(ReferencePathScreen(overlay.path if overlay else ""), chosen)
