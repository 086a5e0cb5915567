"""`jobctl local` as a subprocess, the way the e2e modules drive it.

Owns starting it (its output collected line by line by a thread, the `ready` line awaited),
and stopping it (Ctrl-C, then a kill if it hangs), so every module that needs a platform
spawns and stops it the same way. Tests synchronise on the lines it prints, never on sleeps.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"jobctl local: ready: api (\S+) aws (\S+)")
TERMINAL = "SUCCEEDED|FAILED|TIMED_OUT|ABORTED|SKIPPED"


class Output:
    """The process's output lines, collected by a thread; waits are woken by each line."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for raw in stream:
            with self._cond:
                self.lines.append(raw.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first line (printed so far or later) matching `pattern`."""
        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        scanned = 0
        with self._cond:
            while True:
                for line in self.lines[scanned:]:
                    match = wanted.search(line)
                    if match:
                        return match
                scanned = len(self.lines)
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    why = "exited" if self.closed else f"printed nothing like it in {timeout}s"
                    tail = "\n".join(self.lines[-40:])
                    raise AssertionError(f"waiting for {pattern!r}: jobctl local {why}:\n{tail}")
                self._cond.wait(remaining)


def local_environment() -> dict[str, str]:
    """This process's environment without AWS settings or proxies: the platform is its AWS."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key.lower() not in ("http_proxy", "https_proxy")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def running_local(
    registry: Path,
    *args: str,
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    stop_timeout: float = 20.0,
) -> Iterator[tuple[subprocess.Popen[str], Output, re.Match[str]]]:
    """`jobctl local -f REGISTRY --port 0 ARGS...` until the block ends: the process, its
    output and its `ready` line (group 1 the API URL, group 2 the AWS endpoint)."""
    argv = [sys.executable, "-m", "jobctl.cli.main", "local", "-f", str(registry), "--port", "0"]
    process = subprocess.Popen(
        [*argv, *args],
        cwd=ROOT,
        env=local_environment() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process.stdout)
    try:
        yield process, output, output.wait_line(READY.pattern, timeout=ready_timeout)
    finally:
        interrupt(process, stop_timeout)


def interrupt(process: subprocess.Popen[str], timeout: float) -> None:
    """Stop it as a user would (Ctrl-C), unless a test already did; kill it if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
