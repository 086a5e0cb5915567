"""Capturing jobctl's own log lines whatever the logging setup.

Powertools (chalicelib/observability.py) may stop the `jobctl` logger from propagating to
the root logger, where pytest's caplog listens; this fixture listens on `jobctl` itself.
Import `jobctl_log_fixture` into a test module to get the `jobctl_log` fixture.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(name="jobctl_log")
def jobctl_log_fixture(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("jobctl")
    caplog.set_level(logging.DEBUG, logger="jobctl")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
