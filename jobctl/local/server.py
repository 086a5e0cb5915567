"""A moto server on 127.0.0.1: for `jobctl local`, the demo, tests and benchmarks.

Invariants: it listens on loopback only, on a free port; it starts from an empty account
(moto's backends live in the process, so earlier state is reset); it logs no line per
request; it is stopped when the block ends, whatever happens inside.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto server; yields its endpoint URL (for AWS_ENDPOINT_URL)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
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
