"""`v` on the runs screen: which columns the runs table shows. Returns the chosen column keys in
the catalogue's order (supertui.widgets.run_columns), or None when cancelled; the runs screen keeps
the choice for the next session."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from supertui.widgets.run_columns import COLUMNS, DEFAULT_COLUMNS
from supertui.widgets.toggles import TickList, hint_hidden, watch_hidden


class ColumnList(TickList):
    pass


class ColumnsScreen(ModalScreen[list[str] | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Use these columns", id="columns.save"),
        Binding("ctrl+r", "defaults", "Default columns", id="columns.defaults"),
        Binding("escape", "cancel", "Cancel", id="columns.cancel"),
    ]

    def __init__(self, chosen: list[str]):
        super().__init__()
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-dialog", classes="dialog"):
            yield Static(Text("Columns of the runs table   (space shows or hides, enter uses them)", style="bold"))
            yield ColumnList(*[(self._label(key), key, key in self.chosen) for key in COLUMNS], id="columns")
            with Horizontal(classes="buttons"):
                yield Button(Text("Defaults [ctrl+r]"), id="defaults")
                yield Button(Text("Use [enter]"), id="save", variant="primary")
                yield Button(Text("Cancel [esc]"), id="cancel")

    @staticmethod
    def _label(key: str) -> str:
        label = COLUMNS[key].label
        if key == "headline":
            return f"{label}  (each experiment's own number)"
        return f"{label}  (config field)" if key.startswith("config.") else label

    def on_mount(self) -> None:
        columns = self.query_one(ColumnList)
        columns.border_title = "j k ↑ ↓ move"
        watch_hidden(self, columns)
        self.call_after_refresh(hint_hidden, columns)
        columns.focus()

    def selected(self) -> list[str]:
        picked = set(self.query_one(ColumnList).selected)
        return [key for key in COLUMNS if key in picked]

    def on_key(self, event) -> None:
        if event.key == "enter" and isinstance(self.focused, ColumnList):
            event.stop()
            event.prevent_default()
            self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"save": self.action_save, "defaults": self.action_defaults}.get(event.button.id, self.action_cancel)()

    def action_save(self) -> None:
        self.dismiss(self.selected() or list(DEFAULT_COLUMNS))

    def action_defaults(self) -> None:
        columns = self.query_one(ColumnList)
        columns.deselect_all()
        for key in DEFAULT_COLUMNS:
            columns.select(key)

    def action_cancel(self) -> None:
        self.dismiss(None)
