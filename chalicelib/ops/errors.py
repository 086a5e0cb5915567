"""Operator-facing failures, each with the HTTP status the API answers with.

Invariant: a message names what was wrong and what to do (the parameter, the job, the
allowed values) and never echoes a secret or a stack trace. The CLI prints the same
message and exits 2 (bad input: 4xx but 409) or 1 (the platform refused: 409, 5xx).
`status` is the API's name for `http_status`; both are set on each class.
"""

from __future__ import annotations

from chalicelib.core.errors import JobctlError


class OpsError(JobctlError):
    status = http_status = 400
    code = "BadRequest"
    exit_status = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def body(self) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidRequest(OpsError):
    status = http_status = 400
    code, exit_status = "BadRequest", 2


class Unauthorized(OpsError):
    """The request names no caller (no SigV4 identity): nothing is done on its behalf."""

    status = http_status = 401
    code, exit_status = "Unauthorized", 2


class Forbidden(OpsError):
    """AWS denied what the request needs (a policy to extend, not bad input)."""

    status = http_status = 403
    code, exit_status = "Forbidden", 1


class NotFound(OpsError):
    status = http_status = 404
    code, exit_status = "NotFound", 2


class Conflict(OpsError):
    # The request was valid; the job's state refused it (paused): not bad input.
    status = http_status = 409
    code, exit_status = "Conflict", 1


class TooLarge(OpsError):
    status = http_status = 413
    code, exit_status = "PayloadTooLarge", 2


class Unavailable(OpsError):
    """AWS refused for now (limits, throttling after retries): the caller may retry."""

    status = http_status = 503
    code, exit_status = "ServiceUnavailable", 1
