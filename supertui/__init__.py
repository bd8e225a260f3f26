"""supertui: a terminal experiment explorer for superposition in toy models."""

from engine import __version__

__all__ = ["__version__"]
