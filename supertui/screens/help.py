"""`?`: every key of every screen, read from the screens' own bindings so it never goes stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

_KEY_NAMES = {
    "question_mark": "?", "slash": "/", "space": "space", "left_square_bracket": "[", "right_square_bracket": "]",
    "left_curly_bracket": "{", "right_curly_bracket": "}", "comma": ",", "full_stop": ".", "less_than_sign": "<",
    "greater_than_sign": ">", "escape": "esc", "enter": "enter",
}


def key_label(keys: str) -> str:
    return " ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def screen_groups() -> list[tuple[str, list[Binding]]]:
    from supertui.app import SupertuiApp
    from supertui.screens.compare import CompareScreen
    from supertui.screens.confirm import ConfirmScreen
    from supertui.screens.edit_meta import EditMetaScreen
    from supertui.screens.launch import LaunchScreen
    from supertui.screens.reference_path import ReferencePathScreen
    from supertui.screens.run_view import RunViewScreen
    from supertui.screens.runs import RunsScreen

    extra = [Binding("ctrl+p", "command_palette", "Command palette: new run, compare, open a run, data directory"),
             Binding("tab", "focus_next", "Next pane or field"), Binding("shift+tab", "focus_previous", "Previous pane or field")]
    return [
        ("Everywhere", [*SupertuiApp.BINDINGS, *extra]),
        ("Runs (home)", RunsScreen.BINDINGS),
        ("Launch", LaunchScreen.BINDINGS),
        ("Run view", RunViewScreen.BINDINGS),
        ("Compare", CompareScreen.BINDINGS),
        ("Dialogs", [*ConfirmScreen.BINDINGS, *EditMetaScreen.BINDINGS, *ReferencePathScreen.BINDINGS]),
    ]


def bindings_table(title: str, bindings: list[Binding]) -> Table:
    table = Table(title=Text(title, style="bold"), title_justify="left", show_header=False, box=None, padding=(0, 1), expand=True)
    table.add_column("key", style="bold cyan", no_wrap=True, width=14)
    table.add_column("action")
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            table.add_row(binding.key_display or key_label(binding.key), binding.description)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Static(Text("supertui keys   (esc closes)", style="bold"), id="help-title")
            for title, bindings in screen_groups():
                yield Static(bindings_table(title, bindings), classes="help-group", name=title)

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
