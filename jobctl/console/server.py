"""Serving the console over HTTP on loopback: standalone, or inside `jobctl local`'s API.

`respond(handler, app, port)` turns one request of a `BaseHTTPRequestHandler` into a
ConsoleRequest and writes the ConsoleResponse; `ConsoleServer` is the standalone server
`jobctl console` runs. Invariants: it binds only a loopback address (refused otherwise);
a request body over MAX_BODY bytes is refused before it is read; a form field repeated
keeps its first value; no request is logged (query strings hold run ids, reasons are
people's text).
"""

from __future__ import annotations

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jobctl.console.app import ConsoleApp, ConsoleRequest, ConsoleResponse

MAX_BODY = 64 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _first(values: dict[str, list[str]]) -> dict[str, str]:
    return {key: items[0] for key, items in values.items() if items}


def read_request(handler: BaseHTTPRequestHandler) -> ConsoleRequest | ConsoleResponse:
    """The request `handler` is serving, or a refusal when its body is too large."""
    parts = urlsplit(handler.path)
    form: dict[str, str] = {}
    if handler.command == "POST":
        try:
            length = int(handler.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return ConsoleResponse(413, b"request body too large", "text/plain; charset=utf-8")
        raw = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        kind = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", ""):
            return ConsoleResponse(415, b"send a form", "text/plain; charset=utf-8")
        form = _first(parse_qs(raw, keep_blank_values=True))
    return ConsoleRequest(
        method=handler.command,
        path=parts.path,
        query=_first(parse_qs(parts.query, keep_blank_values=True)),
        form=form,
        headers={key: value for key, value in handler.headers.items()},
    )


def respond(handler: BaseHTTPRequestHandler, app: ConsoleApp, port: int) -> None:
    request = read_request(handler)
    response = request if isinstance(request, ConsoleResponse) else app.handle(request, port)
    handler.send_response(response.status)
    handler.send_header("Content-Type", response.content_type)
    handler.send_header("Content-Length", str(len(response.body)))
    for name, value in response.headers:
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(response.body)


class ConsoleServer:
    """`jobctl console`: the console alone, on a loopback port (0: any free one)."""

    def __init__(self, app: ConsoleApp, *, host: str, port: int) -> None:
        if not is_loopback(host):
            raise ValueError(f"the console listens on loopback only, not {host}")
        console = app
        bound: list[int] = []

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                respond(self, console, bound[0])

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.host = host
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        bound.append(self.port)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/console/"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="jobctl-console", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
