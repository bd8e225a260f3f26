"""Widgets that draw with colour fall back to ASCII under NO_COLOR (https://no-color.org), and in
a terminal without colours (TERM=dumb: the console's colour system is None), where a picture
made only of coloured cells would be blank."""

from __future__ import annotations

import os


class NoColorAware:
    """Mixin: `ascii` is what the widget was told (`ascii=True/False`), else whether the app has
    NO_COLOR set or a terminal without colours."""

    _ascii: bool | None = None

    @property
    def ascii(self) -> bool:
        if self._ascii is not None:
            return self._ascii
        try:
            return bool(self.app.no_color) or self.app.console.color_system is None
        except Exception:  # not mounted yet
            return "NO_COLOR" in os.environ

    @ascii.setter
    def ascii(self, value: bool | None) -> None:
        self._ascii = value
        self.refresh()
