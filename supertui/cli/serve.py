"""`supertui serve [--host 127.0.0.1] [--port 8000]`: the unchanged app in a browser, through textual-serve.

Each browser tab starts its own `supertui --data-dir DIR` process over the same data directory;
the page is a terminal (xterm.js) that textual-serve connects to that process. Nothing here draws.

textual-serve is an optional extra (`pip install 'supertui[serve]'`), not a base dependency: it
brings a web server stack (aiohttp, jinja2 and their compiled helpers) that a terminal user over
SSH never needs, and a network listener is something to opt into. Without it, this command says
how to install it in one line. It is imported only when serving, so `--help` stays light.

The socket is bound here, before anything is served, so a bad port, a port in use or a host that
cannot be bound is one line and exit status 2; the bound socket is then handed to the server.
Any web page open in the same browser could otherwise reach a server on localhost: the app's
websocket accepts only a page served by this server itself (its Origin), and a loopback server
answers only requests addressed to a loopback name (its Host), which defeats DNS rebinding.

Ctrl+C (SIGINT) or SIGTERM asks every tab's app to quit, kills what is left of each process
within a grace period, and exits 0 within a second; closing a tab does the same for its app.
"""

from __future__ import annotations

import gc
import ipaddress
import json
import re
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Callable

from engine.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "8000"
PORTS = "a whole number from 1 to 65535"
HOSTS = "an address or name of this machine, e.g. 127.0.0.1, ::1 or 0.0.0.0"
# Seconds a tab's app gets to quit when the server stops or its tab closes, before it is killed:
# the whole stop must fit in a second.
QUIT_GRACE = 0.4
# The Host header a browser sent, when it looks like a host[:port] and nothing else: the page
# tells the browser to open its websocket there, so an `ssh -L 9000:...` tunnel works too.
SAFE_HOST_HEADER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")
# Query parameters the page and its websocket take: ASCII digits within these bounds, or a 400.
NUMBER_PARAMETERS = {"fontsize": (1, 200), "width": (1, 9_999), "height": (1, 9_999)}
ASCII_NUMBER = re.compile(r"^[0-9]{1,4}$")


# Keys go to the app from the moment the page loads, as in a terminal: the page focuses xterm's
# input (otherwise the first click does, and until then keys do nothing and the footer, drawn only
# for a focused app, stays blank). The page tells the app of a focus only over an open socket, so a
# focus given before the app has drawn is lost: once the first byte is in, focus is given again.
FOCUS_ON_LOAD = """<script>
(function () {
  function terminalInput() { return document.querySelector(".xterm-helper-textarea"); }
  function focusTerminal() {
    var input = terminalInput();
    if (input && document.activeElement !== input) { input.focus(); }
  }
  var tries = 0;
  var timer = setInterval(function () {
    var input = terminalInput();
    if (input && document.body.classList.contains("-first-byte")) {
      clearInterval(timer);
      if (document.activeElement === input) { input.blur(); }
      input.focus();
    } else if (++tries > 600) {
      clearInterval(timer);
    }
  }, 100);
  window.addEventListener("focus", focusTerminal);
})();
</script>
"""


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser(
        "serve",
        description="Serve the app to a web browser: each tab runs its own app over the same data "
        "directory. Listens on localhost only unless --host says otherwise; from another machine, "
        "tunnel with ssh -L. Needs the serve extra: pip install 'supertui[serve]'.",
    )
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only; "
                        "0.0.0.0 lets anyone who can reach the port drive the app)")
    p.add_argument("--port", default=DEFAULT_PORT, help=f"port to listen on, 1-65535 (default: {DEFAULT_PORT})")
    add_data_dir(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import asyncio  # here, not at the top: `supertui --help` should not pay for it

    port = parse_port(args.port)
    sock = bind_socket(args.host, port)
    try:
        server_class = load_server_class()
        data_dir = resolve_data_dir(args)
        loopback = is_loopback(sock)
        server = server_class(tab_command(data_dir), host=args.host, port=port, title="supertui",
                              loopback_only=loopback)
        # Everything loaded so far lives until exit: frozen, the collector skips it, including in the
        # collections at interpreter exit, which took 0.7 s of the one second a Ctrl+C may take.
        gc.freeze()
        asyncio.run(serve_until_stopped(server, sock, lambda: announce(args.host, port, data_dir, loopback)))
    finally:
        sock.close()
    return 0


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigError("port", f"cannot read {text!r} (accepted: {PORTS})") from None
    if not 1 <= port <= 65535:
        raise ConfigError("port", f"{port} is out of range (accepted: {PORTS})")
    return port


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line ConfigError saying which field is wrong."""
    if not host:
        raise ConfigError("host", f"must not be empty (accepted: {HOSTS})")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError):
        raise ConfigError("host", f"cannot resolve {host!r} (accepted: {HOSTS})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise bind_error(host, port, exc) from None
    return sock


def bind_error(host: str, port: int, exc: OSError) -> ConfigError:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return ConfigError("port", f"{port} is already in use on {host} (accepted: a free port, {PORTS})")
    if exc.errno == errno.EACCES:
        return ConfigError("port", f"{port} needs administrator rights here (accepted: a free port from 1024 to 65535)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError("host", f"{host} is not an address of this machine (accepted: {HOSTS})")
    return ConfigError("host", f"cannot listen on {host} port {port}: {exc.strerror} (accepted: {HOSTS})")


def is_loopback(sock: socket.socket) -> bool:
    address = sock.getsockname()[0].split("%")[0]
    return ipaddress.ip_address(address).is_loopback


def is_loopback_name(name: str | None) -> bool:
    """What a browser on this machine, or at the near end of an ssh -L tunnel, calls this server."""
    if name is None:
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_data_dir(args) -> Path:
    from supertui.cli.common import open_store

    return open_store(args).data_dir.resolve()


def tab_command(data_dir: Path) -> str:
    """The shell command textual-serve runs for each tab. Every part is quoted (the data directory
    may hold spaces or shell metacharacters); `exec` makes the app itself the server's child, so
    stopping that child stops the app."""
    parts = [sys.executable, "-m", "supertui", "--data-dir", str(data_dir)]
    return "exec " + " ".join(shlex.quote(part) for part in parts)


def request_problem(host: str | None, query) -> str | None:
    """Why a request cannot be answered (a Host with a port out of range, a fontsize of `²` or of
    5,000 digits), in a few words, or None: such a request gets a 400, never a traceback."""
    match = SAFE_HOST_HEADER.match(host or "")
    if not match:
        return f"Host {shown(host)} is not host[:port]"
    if match.group(2) and not 1 <= int(match.group(2)[1:]) <= 65535:
        return f"Host {shown(host)} has a port out of range (1-65535)"
    for name, (low, high) in NUMBER_PARAMETERS.items():
        for value in query.getall(name, []):
            if not ASCII_NUMBER.match(value) or not low <= int(value) <= high:
                return f"{name}={shown(value)} is not a whole number from {low} to {high}"
    return None


def shown(text: str | None) -> str:
    """Text from a request, for one log line: quoted, escaped, and short."""
    quoted = ascii(text)
    return quoted if len(quoted) <= 60 else quoted[:59] + "…"


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def announce(host: str, port: int, data_dir: Path, loopback: bool) -> None:
    url = f"http://{url_host(host)}:{port}"
    print(f"supertui serve: {url} (runs in {data_dir}); each browser tab runs its own app", flush=True)
    if loopback:
        print(f"Listening on this machine only. From another machine: "
              f"ssh -L {port}:{url_host(host)}:{port} {socket.gethostname()}, then open http://localhost:{port}",
              flush=True)
    else:
        print(f"supertui: warning: listening on {host} port {port}: anyone who can reach this port can "
              "drive the app (no login; it can train and delete runs)", file=sys.stderr, flush=True)
    print("Ctrl+C stops the server and every tab's app.", flush=True)


async def serve_until_stopped(server, sock: socket.socket, on_serving: Callable[[], None]) -> None:
    import asyncio

    """Serve until SIGINT or SIGTERM; `on_serving` runs once the server answers."""
    from aiohttp import web

    log_aiohttp_in_one_line()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(await server.make_web_app(), handle_signals=False, access_log=None,
                           shutdown_timeout=QUIT_GRACE)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    on_serving()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def log_aiohttp_in_one_line() -> None:
    """What aiohttp logs about a request it could not parse (raw bytes in a URL, a broken
    header), as one line on stderr, not a traceback: it answers such a request 400 itself."""
    import logging

    from aiohttp.http_exceptions import HttpProcessingError

    class OneLine(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            exc = record.exc_info[1] if record.exc_info else None
            if isinstance(exc, HttpProcessingError):
                reason = f"bad request: {exc.message or type(exc).__name__}"
            elif exc is not None:
                reason = f"error: {type(exc).__name__}: {exc}"
            else:
                reason = record.getMessage()
            print(f"supertui serve: {' '.join(str(reason).split())[:200]}", file=sys.stderr, flush=True)

    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [OneLine(logging.WARNING)]
        logger.propagate = False


def load_server_class():
    import asyncio

    """textual-serve's Server, taught to remember each tab's app process and stop them all; built
    here because textual-serve is imported only when serving."""
    try:
        import aiohttp_jinja2
        from aiohttp import web
        from textual_serve.app_service import AppService
        from textual_serve.server import Server
    except ImportError:
        raise ConfigError("serve", "needs textual-serve; install it with: pip install 'supertui[serve]'") from None

    class Tab(AppService):
        """One browser tab's app process."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.process: asyncio.subprocess.Process | None = None
            self.said_exit = asyncio.Event()
            self.ending: asyncio.Task | None = None

        async def _open_app_process(self, width: int = 80, height: int = 24):
            """textual-serve's, with the app's life tied to the server's: if the server is killed
            (SIGKILL, no clean-up), the kernel stops the app too instead of leaving an orphan."""
            from engine.system.lifeline import die_with_parent

            environment = self._build_environment(width=width, height=height)
            self._process = self.process = await asyncio.create_subprocess_shell(
                self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=environment, preexec_fn=die_with_parent)
            self._stdin = self.process.stdin
            return self.process

        async def on_meta(self, data: bytes) -> None:
            if json.loads(data).get("type") == "exit":
                self.said_exit.set()
            await super().on_meta(data)

        async def end(self) -> None:
            """Stop this tab's app, whichever side asked first; safe to await from both."""
            if self.ending is None:
                self.ending = asyncio.ensure_future(self._end())
            await asyncio.shield(self.ending)

        async def _end(self) -> None:
            """Ask the app to quit and reap its process. Once it says it has exited (it has left its
            screen) or after QUIT_GRACE it is killed: its unmount and interpreter teardown (torch's
            finalizers alone) take most of a second, and the server has one second to stop. A run
            training in that tab is then kept as interrupted rather than cancelled."""
            process = self.process
            if process is not None and process.returncode is None:
                await self.send_meta({"type": "quit"})
                waits = [asyncio.ensure_future(self.said_exit.wait()), asyncio.ensure_future(process.wait())]
                await asyncio.wait(waits, timeout=QUIT_GRACE, return_when=asyncio.FIRST_COMPLETED)
                for wait in waits:
                    wait.cancel()
                if process.returncode is None:
                    process.kill()
                await process.wait()
            await self.stop()  # ends the relay of the app's output and its downloads

    class TabServer(Server):
        def __init__(self, *args, loopback_only: bool, **kwargs):
            super().__init__(*args, **kwargs)
            self.loopback_only = loopback_only
            self.tabs: dict[Tab, web.WebSocketResponse] = {}

        async def make_web_app(self) -> web.Application:
            app = await self._make_app()
            app.middlewares[:0] = [self.answer_bad_requests, self.only_loopback_names]
            return app

        @web.middleware
        async def answer_bad_requests(self, request: web.Request, handler):
            """A request the server cannot make sense of is a 400 and one log line; the server goes on."""
            problem = request_problem(request.headers.get("Host"), request.query)
            if problem is not None:
                return bad_request(problem)
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except (ValueError, UnicodeError) as exc:  # anything else a crafted request trips in a handler
                return bad_request(f"{shown(request.path_qs)}: {' '.join(str(exc).split())[:120]}")

        @web.middleware
        async def only_loopback_names(self, request: web.Request, handler):
            """On loopback, a Host that is not a loopback name is a page elsewhere that had its own
            name resolve to 127.0.0.1 (DNS rebinding) to read or drive the app: refused."""
            if self.loopback_only and not is_loopback_name(request.url.host):
                return refuse(f"host {request.host!r} is not a name of this machine's loopback; "
                              "open http://localhost:PORT or http://127.0.0.1:PORT")
            return await handler(request)

        async def on_startup(self, app: web.Application) -> None:
            """Quiet: `announce` has said what matters (textual-serve would print its logo)."""

        async def handle_index(self, request: web.Request) -> web.Response:
            """textual-serve's page, with its websocket pointed at the host the browser asked for
            (not the listening address), so tunnels to any local port and 0.0.0.0 both work."""
            base = self.public_url
            if SAFE_HOST_HEADER.match(request.host or ""):
                base = f"{request.scheme}://{request.host}"
            context = {
                "font_size": int(request.query.get("fontsize", "16")),  # checked: answer_bad_requests
                "app_websocket_url": "ws" + base.removeprefix("http") + "/ws",
                "config": {"static": {"url": f"{base}/static/"}},
                "application": {"name": self.title},
            }
            page = aiohttp_jinja2.render_template("app_index.html", request, context)
            return web.Response(text=page.text.replace("</body>", FOCUS_ON_LOAD + "</body>", 1), content_type="text/html")

        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            """One tab: start its app, relay keys and screen until either side closes. Browsers let
            any page open a websocket anywhere, so only this server's own page may (its Origin)."""
            origin = request.headers.get("Origin")
            if origin != f"{request.scheme}://{request.host}":
                return refuse(f"websocket from origin {origin!r}, not a page of this server")
            websocket = web.WebSocketResponse(heartbeat=15)
            width = _size(request.query.get("width"), 80)
            height = _size(request.query.get("height"), 24)
            await websocket.prepare(request)
            tab = Tab(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                      close=websocket.close, download_manager=self.download_manager, debug=self.debug)
            self.tabs[tab] = websocket
            try:
                await tab.start(width, height)
                await self._process_messages(websocket, tab)
            except asyncio.CancelledError:
                pass
            finally:
                await tab.end()
                self.tabs.pop(tab, None)
                await close_quietly(websocket)
            return websocket

        async def on_shutdown(self, app: web.Application) -> None:
            """Stop every tab's app at once, then close the tabs."""
            tabs = dict(self.tabs)
            await asyncio.gather(*(tab.end() for tab in tabs))
            await asyncio.gather(*(close_quietly(websocket) for websocket in tabs.values()))

    def bad_request(reason: str) -> web.Response:
        print(f"supertui serve: bad request: {reason}", file=sys.stderr, flush=True)
        return web.Response(status=400, text=f"supertui serve: bad request: {reason}\n")

    def refuse(reason: str) -> web.Response:
        print(f"supertui serve: refused a request: {reason}", file=sys.stderr, flush=True)
        return web.Response(status=403, text=f"supertui serve: refused: {reason}\n")

    async def close_quietly(websocket: web.WebSocketResponse) -> None:
        try:
            await asyncio.wait_for(websocket.close(), QUIT_GRACE)
        except (asyncio.TimeoutError, ConnectionError):
            pass

    return TabServer


def _size(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 10_000 else default
