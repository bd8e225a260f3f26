"""The run store: one folder per run under the data directory (runs.py), its manifest read as
untrusted input (manifest.py), its arrays (arrays.py), its live progress while it trains (live.py),
a cheap listing of every run (index.py), and a saved run as plain JSON (run_json.py)."""
