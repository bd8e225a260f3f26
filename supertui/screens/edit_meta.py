"""Edit a run's short name, tags and note (the only parts of a saved run that may change)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class EditMetaScreen(ModalScreen[tuple[list[str], str, str] | None]):
    """Returns (tags, note, name), or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="edit.save"),
        Binding("escape", "cancel", "Cancel", id="edit.cancel"),
    ]

    DEFAULT_CSS = """
    EditMetaScreen #error { color: $error; height: 1; display: none; }
    """

    def __init__(self, run_id: str, tags: list[str], note: str, name: str = ""):
        super().__init__()
        self.run_id, self.tags, self.note, self.run_name = run_id, tags, note, name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(Text(self.run_id, style="bold"), id="title")  # from a run folder: never markup
            yield Label("Name (short; accepted wherever a run id is)")
            yield Input(self.run_name, id="name", placeholder="phase-relu-40x40", max_length=48)
            yield Label("Tags (comma separated)")
            yield Input(", ".join(self.tags), id="tags", placeholder="baseline, lr-sweep")
            yield Label("Note")
            yield Input(self.note, id="note", placeholder="what this run is for")
            yield Static("", id="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(Text("Save [ctrl+s]"), id="save", variant="primary")
                yield Button(Text("Cancel [esc]"), id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("name", "tags"):
            self.query_one("#tags" if event.input.id == "name" else "#note", Input).focus()
        else:
            self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        from engine.errors import ConfigError
        from engine.store.manifest import check_meta
        from engine.store.names import validate_run_name

        tags = [t.strip() for t in self.query_one("#tags", Input).value.split(",") if t.strip()]
        note = self.query_one("#note", Input).value.strip()
        name = self.query_one("#name", Input).value.strip()
        try:
            check_meta(tags, note)  # what the store could not read back is never saved: say so here
            if name:
                validate_run_name(name)
        except ConfigError as exc:
            error = self.query_one("#error", Static)
            error.update(Text(str(exc), no_wrap=True, overflow="ellipsis"))
            error.display = True
            return
        self.dismiss((tags, note, name))

    def action_cancel(self) -> None:
        self.dismiss(None)
