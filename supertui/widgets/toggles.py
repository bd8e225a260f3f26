"""Radio buttons, check boxes and tick lists that read without colour: Textual draws an off button
with the same glyph as an on one, only dimmer, which a monochrome terminal, NO_COLOR or a
colour-blind eye cannot tell apart. Here an off radio button is ○ and an on one ●; an unticked
box is empty and a ticked one X. The lists also move with j/k, as harlequin's and posting's do."""

from __future__ import annotations

from rich.segment import Segment
from textual.binding import Binding
from textual.strip import Strip
from textual.widgets import Checkbox, OptionList, RadioButton, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

EMPTY = " "


class ChoiceButton(RadioButton):
    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "●" if self.value else "○"


class TickBox(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "X" if self.value else EMPTY


class TickList(SelectionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        segments = list(strip)
        if selection.value in self.selected or len(segments) < 2:
            return strip
        text, style, control = segments[1]
        segments[1] = Segment(EMPTY * len(text), style, control)  # the X of an unticked box goes
        return Strip(segments, strip.cell_length)


class MovingOptionList(OptionList):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]


def hint_hidden(box: OptionList) -> None:
    """`↓ 3 more` under a list whose lower items are out of sight (80x24), `↑ 1 more` above: an
    item partly in view counts as hidden."""
    top, height = int(box.scroll_y), box.scrollable_content_region.height
    lines = box._line_cache.lines  # (option index, line of it) per line, as OptionList lays them out
    whole = {index for index, _ in lines[top:top + height]} - {index for index, _ in lines[:top] + lines[top + height:]}
    above = len({index for index, _ in lines[:top]} - whole)
    below = len({index for index, _ in lines[top + height:]} - whole)
    hint = " ".join(([f"↑ {above} more"] if above else []) + ([f"↓ {below} more"] if below else []))
    box.border_subtitle = hint or None


def watch_hidden(screen, box: OptionList) -> None:
    """Keep `box`'s hint current as it scrolls or is laid out."""
    screen.watch(box, "scroll_y", lambda *_: hint_hidden(box), init=False)
    screen.watch(box, "virtual_size", lambda *_: hint_hidden(box), init=False)
