"""`supertui serve`: bad input is one line and exit 2; the real server, opened in a real headless
Chromium, draws the runs table and a run, gives each tab its own app process over the same data
directory, and stops on SIGINT within a second with no process left behind."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from supertui.cli import main
from tests.app.fixtures import make_fixture_runs

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
# A data directory whose name a shell would split and run: the per-tab command must quote it.
AWKWARD_NAME = "my runs; $(touch pwned) 'quoted' & more"
CHROMIUM_ARGS = [
    "--no-sandbox",  # Chromium refuses to run as root without it
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1200, "height": 760}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


BAD_INPUTS = [
    (["--port", "abc"], "port: cannot read 'abc' (accepted: a whole number from 1 to 65535)"),
    (["--port", "0"], "port: 0 is out of range (accepted: a whole number from 1 to 65535)"),
    (["--port", "65536"], "port: 65536 is out of range"),
    (["--port", "-1"], "port: -1 is out of range"),
    (["--host", ""], "host: must not be empty"),
    # TEST-NET-1 (RFC 5737): never an address of this machine; binding to it sends nothing.
    (["--host", "192.0.2.1"], "host: 192.0.2.1 is not an address of this machine"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_port_or_host_is_one_line_exit_2(argv, message, capsys, isolated_data_dir):
    assert main(["serve", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("supertui: error: ") and message in captured.err, captured.err
    assert captured.out == ""
    assert list(isolated_data_dir.iterdir()) == []


def test_port_in_use_is_one_line_exit_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err == f"supertui: error: port: {port} is already in use on 127.0.0.1 (accepted: a free port, a whole number from 1 to 65535)\n"


def test_without_textual_serve_says_how_to_install_it(capsys, monkeypatch):
    for name in ("textual_serve", "textual_serve.server", "textual_serve.app_service"):
        monkeypatch.setitem(sys.modules, name, None)  # what an install without the extra looks like
    assert main(["serve", "--port", str(free_port())]) == 2
    assert capsys.readouterr().err == (
        "supertui: error: serve: needs textual-serve; install it with: pip install 'supertui[serve]'\n")


def test_help_imports_nothing_but_its_own_module_and_the_standard_library():
    """`serve --help` loads its own module (the CLI loads only the command typed) and what it
    needs from the standard library: no textual-serve, no web server, no app, no torch, no numpy."""
    code = (
        "import sys, contextlib, io\n"
        "import supertui.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    supertui.cli.main(['--help'])  # what printing any help imports (argparse: locale)\n"
        "before = set(sys.modules)\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    supertui.cli.main(['serve', '--help'])\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    added = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "supertui.cli.serve" in added
    others = {name.split(".")[0].lstrip("_") for name in added if name != "supertui.cli.serve"}
    assert others <= set(sys.stdlib_module_names), f"serve --help imported {sorted(others - set(sys.stdlib_module_names))}"


# --- the real server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def awkward_data_dir(tmp_path_factory) -> Path:
    """Two tiny real runs (fixed ids and times, so the screenshots are stable) in a folder whose name
    holds spaces, quotes and shell metacharacters."""
    data_dir = tmp_path_factory.mktemp("serve") / AWKWARD_NAME
    make_fixture_runs(data_dir, ["sparsity-relu", "phase-relu"])
    return data_dir


class Server:
    """`supertui serve` as a user starts it, its output collected as it comes."""

    def __init__(self, *args: str, cwd: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supertui", "serve", *args], cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=lambda s=stream, l=lines: l.extend(s), daemon=True).start()

    def wait_for_output(self, text: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            joined = "".join(self.out + self.err)
            if text in joined:
                return joined
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never printed; got:\n{''.join(self.out + self.err)}")

    def interrupt(self) -> tuple[int, float]:
        """SIGINT, as Ctrl+C sends it: the exit status and the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        return code, time.monotonic() - started

    def kill_tree(self) -> None:
        """After a failed test: nothing of it may outlive the test."""
        for pid in [*descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited; only its parent's reaping is left


def argv_of(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_loopback_is_the_default_and_another_host_warns(tmp_path):
    port = free_port()
    server = Server("--host", "0.0.0.0", "--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    try:
        server.wait_for_output("Ctrl+C stops the server")
        assert server.err == [f"supertui: warning: listening on 0.0.0.0 port {port}: anyone who can reach this "
                              "port can drive the app (no login; it can train and delete runs)\n"]
        assert not any("ssh -L" in line for line in server.out)
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
        code, seconds = server.interrupt()
        assert code == 0 and seconds < 1.0, (code, seconds)
    finally:
        if server.process.poll() is None:
            server.kill_tree()


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


WEBSOCKET_UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_a_loopback_server_answers_tunnels_and_refuses_other_sites(tmp_path):
    port = free_port()
    server = Server("--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    try:
        server.wait_for_output("Ctrl+C stops the server")
        # Through `ssh -L 9000:127.0.0.1:PORT` the browser asks for localhost:9000: the page must
        # send its websocket back through the tunnel, not to PORT.
        status, page = http_get(port, "/", {"Host": "localhost:9000"})
        assert status == 200 and 'data-session-websocket-url="ws://localhost:9000/ws"' in page
        # keys reach the app before any click: the page focuses the terminal when it loads (24.16)
        assert page.count("<script>") >= 1 and 'querySelector(".xterm-helper-textarea")' in page
        assert page.index("xterm-helper-textarea") < page.index("</body>")
        # DNS rebinding: another site's name made to resolve to 127.0.0.1.
        status, body = http_get(port, "/", {"Host": f"rebound.example:{port}"})
        assert status == 403 and "rebound.example" in body
        # Any page may open a websocket to localhost; one from another site must not start an app.
        status, body = http_get(port, "/ws", {**WEBSOCKET_UPGRADE, "Origin": "https://elsewhere.example"})
        assert status == 403 and "elsewhere.example" in body
        assert descendants(server.process.pid) == []
        code, seconds = server.interrupt()
        assert code == 0 and seconds < 1.0, (code, seconds)
        assert [line.split(": refused")[0] for line in server.err] == ["supertui serve"] * 2
    finally:
        if server.process.poll() is None:
            server.kill_tree()


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class Tab:
    """One browser tab on the server; keeps what the app sent it, as text, to know what it drew."""

    def __init__(self, context, url: str):
        self.frames: list[bytes] = []
        self.page = context.new_page()
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._received))
        self.page.goto(url)

    def _received(self, payload) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode())

    def text(self, since: int = 0) -> str:
        raw = b"".join(self.frames[since:]).decode("utf-8", "replace")
        return re.sub(r"\x1b(\[[0-9;?$<>=]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78])", "", raw)

    def press(self, key: str) -> None:
        """A key as a person types it: into the terminal, which gets focus first, as after a click."""
        self.page.focus(".xterm-helper-textarea")
        self.page.keyboard.press(key)

    def wait_until_drawn(self, *texts: str, since: int = 0, timeout: float = 120.0) -> None:
        """Until the app has sent every text (in frames from `since` on), then its output has paused
        (no frame for half a second, polled), then the browser has painted twice: the terminal shows
        what was sent."""
        deadline = time.monotonic() + timeout
        while not all(text in self.text(since) for text in texts):
            if time.monotonic() > deadline or self.ended():
                missing = [t for t in texts if t not in self.text(since)]
                raise AssertionError(f"never drawn: {missing}; the app sent:\n{self.text(since)[-3000:]}")
            self.page.wait_for_timeout(100)
        count, quiet_since = len(self.frames), time.monotonic()
        while time.monotonic() - quiet_since < 0.5 and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            if len(self.frames) != count:
                count, quiet_since = len(self.frames), time.monotonic()
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def ended(self) -> bool:
        """The page says "Session ended": its app has exited (or never started)."""
        return self.page.evaluate("() => document.body.classList.contains('-closed')")

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path))
        assert_not_blank(path)


def assert_not_blank(path: Path) -> None:
    """A drawn terminal has text in many colours; a blank or loading page has a handful."""
    from PIL import Image

    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, f"{path} looks blank ({len(colours or [])} colours)"


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_app_in_a_browser_tabs_and_a_clean_stop(awkward_data_dir, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = Server("--port", str(port), "--data-dir", str(awkward_data_dir), cwd=tmp_path)
    try:
        started = server.wait_for_output("Ctrl+C stops the server")
        assert f"supertui serve: http://127.0.0.1:{port} (runs in {awkward_data_dir})" in started
        assert f"ssh -L {port}:127.0.0.1:{port} " in started and f"open http://localhost:{port}" in started
        assert server.err == []

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_ARGS, viewport=VIEWPORT)
            try:
                first = Tab(browser, f"http://127.0.0.1:{port}/")
                # No click: the page focuses the terminal itself, so the footer shows the keys and
                # keys work at once (issue 24.16).
                first.wait_until_drawn("phase-relu-5x5", "sparsity-relu-n10m5", "completed", "Filter", "Compare")
                (first_app,) = descendants(server.process.pid)
                assert first.page.evaluate("() => document.activeElement.className").find("xterm-helper-textarea") >= 0
                first.screenshot(SCREENSHOTS / "browser-runs.png")

                before_enter = len(first.frames)
                first.page.keyboard.press("Enter")  # opens the run under the cursor: the newest
                first.wait_until_drawn("run-phase-relu — phase", "loss (log)", "phase of the winning seed",
                                       since=before_enter)
                first.screenshot(SCREENSHOTS / "browser-run-view.png")

                second = Tab(browser, f"http://127.0.0.1:{port}/")
                second.wait_until_drawn("phase-relu-5x5", "sparsity-relu-n10m5")
                (second_app,) = set(descendants(server.process.pid)) - {first_app}
                for pid in (first_app, second_app):  # the data directory arrived whole, as one argument
                    assert argv_of(pid)[1:] == ["-m", "supertui", "--data-dir", str(awkward_data_dir)]
                assert not (tmp_path / "pwned").exists()

                second.page.close()  # closing a tab ends its app
                wait_for(lambda: not alive(second_app), "the closed tab's app to end")
                assert [pid for pid in descendants(server.process.pid) if alive(pid)] == [first_app]

                code, seconds = server.interrupt()
                assert code == 0, "".join(server.out + server.err)
                assert seconds < 1.0, f"SIGINT took {seconds:.2f}s to stop the server"
                assert not alive(first_app), argv_of(first_app)
            finally:
                browser.close()
    finally:
        if server.process.poll() is None:
            server.kill_tree()
