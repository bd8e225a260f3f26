"""Ctrl+C while the compiled step is built alongside: how long until `supertui train` returns,
and how long until its run reads `cancelled` (never `failed`).

    python benchmarks/ctrl_c.py [twice]

Trains a phase run with a fresh compile cache in a throwaway data directory, presses Ctrl+C (twice
with `twice`) as soon as the progress says the compiler is working, and prints both times
(target: under one second to the prompt).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
data = tempfile.mkdtemp(prefix="cc-data-")
env = {**os.environ, "SUPERTUI_DATA_DIR": data, "TORCHINDUCTOR_CACHE_DIR": tempfile.mkdtemp(prefix="cc-ind-")}
twice = len(sys.argv) > 1 and sys.argv[1] == "twice"
p = subprocess.Popen([sys.executable, "-m", "supertui", "train", "phase", "-a", "relu", "--steps", "200000"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
started = time.monotonic()
for line in p.stdout:
    if "compiling alongside" in line:
        break
print(f"compiling alongside after {time.monotonic() - started:.1f} s: {line.strip()}")
t0 = time.monotonic()
p.send_signal(signal.SIGINT)
if twice:
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
rest = p.stdout.read()
p.wait()
print(f"exit {p.returncode} {time.monotonic() - t0:.2f} s after Ctrl+C{' (twice)' if twice else ''}")
print(rest.strip()[-400:])
for _ in range(100):
    rows = json.loads(subprocess.run([sys.executable, "-m", "supertui", "runs", "--json"], env=env, capture_output=True, text=True).stdout)
    if rows and rows[0]["status"] not in ("running", "queued"):
        break
    time.sleep(0.2)
print(f"status {rows[0]['status']} {time.monotonic() - t0:.2f} s after Ctrl+C")
subprocess.run(["pkill", "-f", data])
