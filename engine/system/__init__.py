"""The operating system's primitives the rest is built from: files written whole (files.py),
advisory locks (locks.py), saves that Ctrl+C cannot cut (interrupts.py)."""
