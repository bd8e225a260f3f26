"""supertui's screens, one per file."""
