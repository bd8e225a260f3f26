"""supertui's entries in Textual's command palette (ctrl+p)."""

from __future__ import annotations

from functools import partial

from engine.errors import SupertuiError
from textual.command import DiscoveryHit, Hit, Hits, Provider


class SupertuiCommands(Provider):
    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        commands = [
            ("New run", app.action_new_run, "Pick a preset and activations, edit the config, start training"),
            ("Compare marked runs", app.action_compare_marked, "Side by side panes and a config diff of the runs marked with space"),
            ("Open data directory", app.action_show_data_dir, "Show (and copy) where runs are saved"),
            # Not "Keys": Textual's own system command of that name opens its key panel for the
            # focused widget, and two entries of one name cannot be told apart.
            ("Help (?): every key, by screen", app.action_help, "The help screen: every key of every screen"),
        ]
        try:
            runs = app.store.listing()[:200]
        except (SupertuiError, OSError):
            runs = []  # the runs screen names the reason
        for record in runs:
            commands.append((f"Open run {record.id}", partial(app.open_run, record.id), f"{record.preset} {record.activation} {record.status}"))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands()[:4]:
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
