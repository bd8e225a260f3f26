"""Sweeps: one run per combination of config values, kept together under one sweep id (plan.py),
and what a sweep found (summary.py)."""
