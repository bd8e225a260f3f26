"""`?`: every key, read from the bindings themselves so it never goes stale. It opens at the screen
it was pressed on: that screen's keys first (with those of the widgets it holds: the phase grid's
`b`, the seed grid's `v`), then which keys move in its lists, then the keys of everywhere else."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

_KEY_NAMES = {
    "question_mark": "?", "slash": "/", "space": "space", "left_square_bracket": "[", "right_square_bracket": "]",
    "left_curly_bracket": "{", "right_curly_bracket": "}", "comma": ",", "full_stop": ".", "less_than_sign": "<",
    "greater_than_sign": ">", "escape": "esc", "enter": "enter", "up": "↑", "down": "↓", "left": "←", "right": "→",
    "pageup": "pgup", "pagedown": "pgdn",
}
# Actions that move a cursor or a view: listed apart, under "Moving", per widget.
MOVING = ("cursor_", "move", "scroll_", "page_", "next_button", "previous_button", "first", "last")


def key_label(keys: str) -> str:
    return " ".join(_KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def _bindings(owner) -> list[Binding]:
    return [b for b in getattr(owner, "BINDINGS", []) if isinstance(b, Binding)]


def _inherited_bindings(cls, ours_only: bool = False) -> list[Binding]:
    """A widget class's bindings with those of its bases (a DataTable subclass keeps the arrows);
    with ours_only, those that supertui's own classes define."""
    by_key: dict[str, Binding] = {}  # as Textual resolves them: a subclass's key replaces its base's
    for klass in reversed(cls.__mro__):
        for binding in klass.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding):
                for key in binding.key.split(","):
                    by_key[key.strip()] = binding
    out: list[Binding] = []
    for key, binding in by_key.items():
        owner = next(k for k in cls.__mro__ if binding in k.__dict__.get("BINDINGS", []))
        if not ours_only or owner.__module__.startswith("supertui"):
            out.append(Binding(key, binding.action, binding.description, show=binding.show,
                               key_display=binding.key_display if "," not in binding.key else None))
    return out


def is_moving(binding: Binding) -> bool:
    return binding.action.startswith(MOVING)


def screen_classes() -> list[tuple[str, type]]:
    from supertui.screens.columns import ColumnsScreen
    from supertui.screens.compare import CompareScreen
    from supertui.screens.confirm import ConfirmScreen
    from supertui.screens.edit_meta import EditMetaScreen
    from supertui.screens.launch import LaunchScreen
    from supertui.screens.reference_path import ReferencePathScreen
    from supertui.screens.run_view import RunViewScreen
    from supertui.screens.runs import RunsScreen
    from supertui.screens.sweep import SweepScreen
    from supertui.widgets.phase_grid import PhaseGrid
    from supertui.widgets.seed_grid import SeedGrid

    return [("Runs (home)", RunsScreen), ("Launch", LaunchScreen), ("Run view", RunViewScreen),
            ("Compare", CompareScreen), ("Sweep summary", SweepScreen), ("Columns", ColumnsScreen),
            ("Tags, note and name", EditMetaScreen), ("Confirm", ConfirmScreen), ("Reference file", ReferencePathScreen),
            ("Phase grid pane", PhaseGrid), ("Seed grid pane", SeedGrid)]


def everywhere(app_bindings: list[Binding]) -> list[Binding]:
    extra = [Binding("ctrl+p", "command_palette", "Command palette: new run, compare, open a run, data directory, theme"),
             Binding("tab", "focus_next", "Next pane or field"), Binding("shift+tab", "focus_previous", "Previous pane or field")]
    return [*app_bindings, *extra]


def screen_groups(current: Screen | None = None, app_bindings: list[Binding] = ()) -> list[tuple[str, list[Binding]]]:
    """(title, bindings) in the order help shows them: the current screen (and the widgets on it)
    first, how to move in its lists, everywhere (the app's own keys, handed in by the app, which
    imports this module), then every other screen."""
    classes = screen_classes()
    groups: list[tuple[str, list[Binding]]] = []
    shown: set[type] = set()
    if current is not None:
        title = next((t for t, cls in classes if isinstance(current, cls)), type(current).__name__)
        own = [b for b in _bindings(current) if not is_moving(b)]
        moving: list[Binding] = []
        for widget_cls in _widget_classes(current):
            own += [b for b in _inherited_bindings(widget_cls, ours_only=True) if not is_moving(b)]
            moving += [Binding(b.key, b.action, f"{_widget_name(widget_cls)}: {_move_text(b)}")
                       for b in _inherited_bindings(widget_cls) if is_moving(b)]
            shown.add(widget_cls)
        groups.append((f"{title} (this screen)", own))
        if moving:
            groups.append(("Moving (in the focused list, grid or pane)", moving))
        shown.add(type(current))
    groups.append(("Everywhere", everywhere(list(app_bindings))))
    groups += [(title, _bindings(cls)) for title, cls in classes if cls not in shown and not any(
        issubclass(s, cls) for s in shown)]
    return groups


def _move_text(binding: Binding) -> str:
    # A grid's four arrows each say "cursor" or "point": one row, "move the cursor", says it once.
    return "move the cursor" if binding.action.startswith("move_cursor") else binding.description.lower()


def _widget_name(cls: type) -> str:
    """`RunsTable` -> `runs table`: which list or pane a moving key moves in."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()


def _widget_classes(screen: Screen) -> list[type]:
    """Classes of the focusable widgets on `screen` that have keys of their own, in screen order."""
    seen: list[type] = []
    from textual.widgets import Input

    for widget in screen.query(Widget):
        cls = type(widget)
        if (widget.can_focus and widget.display and not isinstance(widget, Input) and cls not in seen
                and _inherited_bindings(cls)):
            seen.append(cls)
    return seen


def _rows(bindings: list[Binding]) -> list[tuple[str, str]]:
    """(keys, description) once each: bindings of one action (↓ and j) share a row."""
    described: dict[tuple, str] = {}  # (action, whose) -> the description its first binding gave
    rows: dict[str, list[str]] = {}  # description -> keys: one row however many actions share it
    for binding in bindings:
        description = binding.description.strip()
        if not description:
            continue
        whose = description.split(":")[0] if ":" in description else ""
        description = described.setdefault((binding.action, whose), description[0].upper() + description[1:])
        keys = rows.setdefault(description, [])
        for key in (binding.key_display or key_label(binding.key)).split(" "):
            if key not in keys:
                keys.append(key)
    return [(" ".join(keys), description) for description, keys in rows.items()]


def help_tables(groups: list[tuple[str, list[Binding]]]) -> list[tuple[str, Table]]:
    """A table per group, every key column as wide as the widest key of all, so they line up."""
    rows = [(title, _rows(bindings)) for title, bindings in groups]
    width = max(len(keys) for _, group in rows for keys, _ in group) + 2
    tables = []
    for title, group in rows:
        table = Table(title=Text(title, style="bold"), title_justify="left", show_header=False, box=None,
                      padding=(0, 1), expand=True)
        table.add_column("key", style="bold cyan", no_wrap=True, width=width)
        table.add_column("action", ratio=1)
        for keys, description in group:
            table.add_row("  " + keys, description)
        tables.append((title, table))
    return tables


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, current: Screen | None = None):
        super().__init__()
        self.groups = screen_groups(current, type(self.app).BINDINGS)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Static(Text("supertui keys   (esc closes; ↑↓ pgup pgdn scroll)", style="bold"), id="help-title")
            for title, table in help_tables(self.groups):
                yield Static(table, classes="help-group", name=title)

    @property
    def titles(self) -> list[str]:
        return [title for title, _ in self.groups]

    async def action_dismiss(self, result=None) -> None:
        self.dismiss(None)
