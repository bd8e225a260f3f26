"""A one-line scrubber over a run's W snapshots: where in training the panes are showing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget


class Scrubber(Widget, can_focus=True):
    """`set_steps(snapshot_steps)` then `position` (None: the final / live weights)."""

    DEFAULT_CSS = """
    Scrubber { height: 1; width: 1fr; }
    Scrubber:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("left,h", "move(-1)", "Earlier", show=False),
        Binding("right,l", "move(1)", "Later", show=False),
    ]

    @dataclass
    class Moved(Message):
        position: int | None  # snapshot index, None for the latest weights

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = np.zeros(0, dtype=np.int64)
        self.total_steps = 0
        self.position: int | None = None
        self.live = False

    def set_steps(self, snapshot_steps: np.ndarray, total_steps: int, live: bool = False) -> None:
        self.steps = np.asarray(snapshot_steps)
        self.total_steps = total_steps
        self.live = live
        if self.position is not None and self.position >= len(self.steps):
            self.position = None
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.move(delta)

    def move(self, delta: int) -> None:
        """Step through the snapshots; past the last one is the final (or live) W."""
        count = len(self.steps)
        if count == 0:
            return
        current = count if self.position is None else self.position
        new = max(0, min(count, current + delta))
        self.position = None if new == count else new
        self.refresh()
        self.post_message(self.Moved(self.position))

    def latest(self) -> None:
        if self.position is not None:
            self.position = None
            self.refresh()
            self.post_message(self.Moved(None))

    def render(self) -> Text:
        count = len(self.steps)
        final = "live" if self.live else "final"
        if count == 0:
            return Text(f"replay: no W snapshots ({final} weights shown)", style="dim")
        width = max(8, min(40, self.size.width - 40))
        index = count if self.position is None else self.position
        filled = round(width * index / count)
        bar = Text("◀ ", style="bold")
        bar.append("━" * filled, style="bold magenta")
        bar.append("●" if self.position is not None else "", style="bold white")
        bar.append("─" * (width - filled), style="dim")
        bar.append(" ▶  ", style="bold")
        if self.position is None:
            bar.append(f"{final} weights", style="bold")
        else:
            bar.append(f"step {int(self.steps[self.position]):,} of {self.total_steps:,}  (snapshot {self.position + 1}/{count})")
        bar.append("   , . scrub", style="dim")
        return bar
