"""The HTTP edge of the operator API: request bodies, query strings, caller identity, errors.

Invariants: every failure leaves as a JSON body `{"error", "message"[, "field"]}` with a 4xx
status for anything the caller can fix (malformed JSON 400, unknown field 400, body over
MAX_BODY 413, unknown job or run 404, paused job 409) and 5xx only for our or AWS's
faults; the caller's identity comes from the IAM (SigV4) request context, never from the
request body.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Request, Response

from chalicelib.ops.errors import InvalidRequest, OpsError, TooLarge

if TYPE_CHECKING:
    # pydantic loads with the first request that needs it, not with the cold start of
    # every function (the recorder and the watchdog never parse a request body).
    from pydantic import BaseModel, ValidationError

LOG = logging.getLogger("jobctl.api")
MAX_BODY = 16 * 1024
Model = TypeVar("Model", bound="BaseModel")


def caller(request: Request) -> str:
    """Who is calling: the IAM principal API Gateway verified (SigV4)."""
    identity = (request.context or {}).get("identity") or {}
    for key in ("userArn", "caller", "user"):
        if identity.get(key):
            return str(identity[key])
    # `jobctl local` serves the API on loopback without SigV4: it names the local user.
    return os.environ.get("JOBCTL_LOCAL_CALLER") or "unknown"


def body(request: Request, model: type[Model]) -> Model:
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY:
        raise TooLarge(f"the request body is over {MAX_BODY} bytes")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def query(request: Request, allowed: set[str]) -> dict[str, str]:
    params = dict(request.query_params or {})
    unknown = sorted(set(params) - allowed)
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise InvalidRequest(
            f"unknown query parameter '{unknown[0][:40]}' (accepted: {accepted})",
            field=unknown[0][:40],
        )
    return params


def respond(
    request: Request,
    call: Callable[[dict[str, str]], BaseModel | dict[str, Any]],
    *,
    accepts: frozenset[str] = frozenset(),
    status: int = 200,
) -> Response:
    """Check the query string against `accepts`, run `call` with it, and answer: the
    result's model is the JSON body, a failure an error body."""
    try:
        result = call(query(request, set(accepts)))
    except OpsError as exc:
        return Response(body=exc.body(), status_code=exc.status)
    except Exception:
        LOG.exception("request failed")
        return Response(
            body={"error": "InternalError", "message": "the request failed; see the API's logs"},
            status_code=500,
        )
    payload = result if isinstance(result, dict) else result.model_dump(mode="json")
    return Response(body=payload, status_code=status)


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    kind = first["type"]
    if kind == "missing":
        message = f"'{where}' is required"
    elif kind == "extra_forbidden":
        message = f"'{where}' is not a field of this request"
    else:
        message = f"'{where}': {first['msg']}"
    return InvalidRequest(message, field=where)
