"""The caller API Gateway would put in each request of chalice's test client.

API Gateway puts the SigV4-verified caller in `requestContext.identity` and a request id
in `requestContext.requestId`; chalice's local gateway does neither, so tests that drive
app.py through `chalice.test.Client` add them where API Gateway would.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from chalice.local import LambdaEventConverter


def sign_requests_as(patch: pytest.MonkeyPatch, user_arn: str) -> None:
    """Every request the test client makes from now on (until `patch` is undone) comes from
    `user_arn`, with its own request id."""
    create_event = LambdaEventConverter.create_lambda_event
    request_ids = itertools.count(1)

    def with_identity(self: Any, *args: Any, **kwargs: Any) -> Any:
        event = create_event(self, *args, **kwargs)
        event["requestContext"]["identity"]["userArn"] = user_arn
        event["requestContext"]["requestId"] = f"request-{next(request_ids)}"
        return event

    patch.setattr(LambdaEventConverter, "create_lambda_event", with_identity)
