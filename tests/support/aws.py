"""Test environment for moto: no endpoint, profile or region from the developer's shell."""

from __future__ import annotations

import pytest


def offline_aws(monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
