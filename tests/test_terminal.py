"""The real `supertui` binary in a real terminal (tmux), at the two sizes people use over SSH."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from engine import RunConfig, RunStore, run_experiment

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    def __init__(self, command: str, width: int, height: int, env: dict[str, str]):
        self.name = f"supertui-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # The exit status is printed so the test can read it after the app has gone.
        shell = f"env {exports} {command}; echo EXIT=$?; sleep 30"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell],
                       check=True)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def saved_run(tmp_path):
    store = RunStore(tmp_path)
    config = RunConfig(preset="sparsity", activation="relu", n=6, m=3, densities=(1.0, 0.1), steps=30,
                       batch_size=64, compile=False)
    return store, run_experiment(config, store)


@pytest.mark.parametrize("width,height", [(80, 24), (120, 40)])
def test_open_a_saved_run_read_help_and_quit(saved_run, width, height):
    store, record = saved_run
    binary = shutil.which("supertui") or f"{sys.executable} -m supertui"
    env = {"SUPERTUI_DATA_DIR": str(store.data_dir), "TERM": "xterm-256color", "PATH": os.environ.get("PATH", ""),
           "SUPERTUI_CONFIG_DIR": str(store.data_dir.parent / "config"), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    term = Terminal(binary, width, height, env)
    try:
        screen = term.wait_for("relu")
        assert record.name in screen  # the run's short name comes first (`v` shows the id too)
        term.keys("Enter")
        screen = term.wait_for("WᵀW")
        assert "completed" in screen
        term.keys("?")
        term.wait_for("Help")
        term.keys("Escape")
        time.sleep(0.5)
        term.keys("Escape")
        term.wait_for("Runs")
        term.keys("q")
        term.wait_for("EXIT=0")
    finally:
        term.close()


def test_a_bad_flag_in_a_real_terminal_is_one_line_and_exit_2(tmp_path):
    binary = shutil.which("supertui") or f"{sys.executable} -m supertui"
    term = Terminal(f"{binary} train sparsity --densities 2", 80, 24,
                    {"SUPERTUI_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")})
    try:
        screen = term.wait_for("EXIT=2")
        assert "supertui: error: densities: each density must lie in (0, 1], got 2.0" in screen
    finally:
        term.close()
