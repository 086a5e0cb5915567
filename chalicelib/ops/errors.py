"""Operator-facing failures, each with the HTTP status the API answers with.

Invariant: a message names what was wrong and what to do (the parameter, the job, the
allowed values) and never echoes a secret or a stack trace. The CLI prints the same
message and exits 2 (bad input) or 1 (the platform refused).
"""

from __future__ import annotations


class OpsError(Exception):
    status = 400
    code = "BadRequest"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidRequest(OpsError):
    status, code = 400, "BadRequest"


class NotFound(OpsError):
    status, code = 404, "NotFound"


class Conflict(OpsError):
    status, code = 409, "Conflict"


class TooLarge(OpsError):
    status, code = 413, "PayloadTooLarge"


class Unavailable(OpsError):
    """AWS refused for now (limits, throttling after retries): the caller may retry."""

    status, code = 503, "ServiceUnavailable"
