"""The served page against hostile requests (issue 26 class 2): raw HTTP and websocket requests on
127.0.0.1 to a real `supertui serve` process. Each bad one gets a 400 and one log line, never a
traceback or a 500, and the server goes on; a server killed with SIGKILL leaves no tab app behind."""

from __future__ import annotations

import os
import random
import signal
import socket
import time

import pytest

from tests.test_serve import WEBSOCKET_UPGRADE, Server, alive, descendants, free_port

pytest.importorskip("textual_serve")

RANDOM = random.Random(262)


def raw_request(port: int, path: str, host: str | None, extra: dict[str, str] | None = None) -> int:
    """One GET as bytes on the wire (no client library to tidy the Host up); its HTTP status."""
    lines = [f"GET {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{key}: {value}" for key, value in (extra or {}).items()]
    lines += ["Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode("utf-8", "surrogateescape"))
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def bad_hosts() -> list[str]:
    hosts = ["localhost:99999", "localhost:65536", "127.0.0.1:0", "localhost:123456", "localhost:" + "9" * 5_000,
             "local host", "localhost:80:80", "[::1", "localhost:-1", "localhost:²"]
    hosts += [f"localhost:{RANDOM.randrange(65_536, 100_000)}" for _ in range(4)]
    return hosts


def bad_numbers() -> list[str]:
    values = ["²", "³", "٣", "１６", "9" * 5_000, "1" * 4_301, "-1", "0", "1e3", "16.5", "0x10", "%20", "16%00",
              "99999999999999999999"]
    values += ["".join(RANDOM.choice("0123456789²³¹٣") for _ in range(RANDOM.randrange(1, 40))) + "²" for _ in range(4)]
    return values


def requests(port: int) -> list[tuple[str, str, dict[str, str]]]:
    """(path, Host, other headers) for every generated bad request."""
    good_host = f"127.0.0.1:{port}"
    origin = {"Origin": f"http://{good_host}"}
    cases = [("/", host, {}) for host in bad_hosts()]
    cases += [("/ws", host, {**WEBSOCKET_UPGRADE, **origin}) for host in bad_hosts()[:3]]
    for value in bad_numbers():
        cases.append((f"/?fontsize={value}", good_host, {}))
        cases.append((f"/ws?width={value}", good_host, {**WEBSOCKET_UPGRADE, **origin}))
        cases.append((f"/ws?height={value}", good_host, {**WEBSOCKET_UPGRADE, **origin}))
    return cases


def test_hostile_requests_get_a_400_and_one_log_line_and_the_server_goes_on(tmp_path):
    port = free_port()
    server = Server("--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    try:
        server.wait_for_output("Ctrl+C stops the server")
        cases = requests(port)
        for path, host, headers in cases:
            status = raw_request(port, path, host, headers)
            assert status == 400, (path[:60], host[:60], status)
            assert server.process.poll() is None
        assert descendants(server.process.pid) == []  # no bad websocket started an app
        assert raw_request(port, "/?fontsize=20", f"localhost:{port}") == 200  # and the server goes on
        code, _ = server.interrupt()
        assert code == 0
        log = "".join(server.err)
        assert "Traceback" not in log and " 500" not in log, log[-2_000:]
        lines = log.splitlines()
        assert len(lines) == len(cases) and all(line.startswith("supertui serve: bad request: ") for line in lines)
        assert all(len(line) < 300 for line in lines)
        print(f"{len(cases)} generated bad requests")
    finally:
        if server.process.poll() is None:
            server.kill_tree()


def open_tab(port: int) -> socket.socket:
    """A browser tab's websocket, as the page opens it: the server starts that tab's app."""
    lines = ["GET /ws?width=80&height=24 HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Origin: http://127.0.0.1:{port}",
             *(f"{key}: {value}" for key, value in WEBSOCKET_UPGRADE.items()), "", ""]
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall("\r\n".join(lines).encode())
    assert sock.recv(4096).startswith(b"HTTP/1.1 101"), "the websocket was not accepted"
    return sock


def test_a_killed_server_leaves_no_tab_app_running(tmp_path):
    port = free_port()
    server = Server("--port", str(port), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    tabs, apps = [], []
    try:
        server.wait_for_output("Ctrl+C stops the server")
        tabs = [open_tab(port) for _ in range(3)]
        deadline = time.monotonic() + 60
        while len(descendants(server.process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        apps = descendants(server.process.pid)
        assert len(apps) >= 3, apps
        for tab in tabs:  # each app is up and drawing (as a person would see it) before the server dies
            received, deadline = 0, time.monotonic() + 90
            while received < 2_000 and time.monotonic() < deadline:
                received += len(tab.recv(65_536))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in apps) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in apps), [pid for pid in apps if alive(pid)]
    finally:
        for tab in tabs:
            tab.close()
        if server.process.poll() is None:
            server.kill_tree()
        for pid in apps:  # a failed test leaves nothing behind either
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
