"""A moto server on 127.0.0.1: for `jobctl local`, the demo, tests and benchmarks.

Invariants: it listens on loopback only, on a free port; it starts from an empty account
(moto's backends live in the process, so earlier state is reset); it logs no line per
request, and an error moto raises while handling one is logged as one line (its last:
the exception), never as a traceback on the console; it is stopped when the block ends,
whatever happens inside.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


class OneLineErrors(logging.Filter):
    """werkzeug logs a request that raised as "Error on request:" and the whole traceback;
    keep the exception line (the client gets its 500 either way)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "Traceback (most recent call last)" in text:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            record.msg, record.args = f"moto: error handling a request: {lines[-1]}", None
        return True


_ONE_LINE = OneLineErrors()


@contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto server; yields its endpoint URL (for AWS_ENDPOINT_URL)."""
    from moto.server import ThreadedMotoServer

    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.ERROR)
    if _ONE_LINE not in werkzeug.filters:
        werkzeug.addFilter(_ONE_LINE)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        direct.open(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        yield endpoint
    finally:
        server.stop()
