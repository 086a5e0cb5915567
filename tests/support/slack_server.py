"""A real HTTP server standing in for Slack (incoming webhooks and response_url).

Listens on 127.0.0.1 on an ephemeral port, in a thread; records every request (path,
headers, body) and answers from a script: `server.script(Reply(500), Reply(429,
headers={"Retry-After": "2"}), Reply(200))`, then the default (200 "ok"). A `delay`
makes an answer slow (the client's timeout fires first).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class SlackServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.default = Reply()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with server._lock:
                    server.requests.append(
                        Recorded("POST", self.path, dict(self.headers.items()), body)
                    )
                    reply = server._script.popleft() if server._script else server.default
                if reply.delay:
                    server._released.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    data = reply.body.encode()
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for it (0.5 s by default, every test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str = "/services/T000/B000/XXXXSECRETXXXX") -> str:
        return self.base_url + path

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def bodies(self, path: str | None = None) -> list[Any]:
        return [r.json() for r in self.requests if path is None or r.path == path]

    def start(self) -> SlackServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._released.set()  # slow answers stop waiting
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(name="slack_server")
def slack_server_fixture() -> Iterator[SlackServer]:
    """Import `slack_server_fixture` into a test module to get the `slack_server` fixture."""
    server = SlackServer().start()
    try:
        yield server
    finally:
        server.close()
