"""The HTTP edge of the operator API: request bodies, query strings, caller identity, errors.

Invariants: every failure leaves as a JSON body `{"error", "message"[, "field"]}` with a 4xx
status for anything the caller can fix (malformed JSON 400, JSON nested deeper than
MAX_DEPTH 400, unknown field 400, body over MAX_BODY 413, no caller identity 401, unknown
job or run 404, paused job 409; a 400 or 413 names its `field`, `body` for the body as a
whole) and 5xx only for our or AWS's faults. The caller's identity comes from the IAM
(SigV4) request context, never from the request body; a request without one is refused
(401) before anything is done, except under `jobctl local`, whose server sets
LOCAL_MODE (a variable no deployed function has: `.chalice/config.json` never sets it, and
it is ignored inside Lambda) and names the local user in JOBCTL_LOCAL_CALLER.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Request, Response

from chalicelib.ops.errors import InvalidRequest, OpsError, TooLarge, Unauthorized

if TYPE_CHECKING:
    # pydantic loads with the first request that needs it, not with the cold start of
    # every function (the recorder and the watchdog never parse a request body).
    from pydantic import BaseModel, ValidationError

LOG = logging.getLogger("jobctl.api")
MAX_BODY = 16 * 1024
# The request models are two levels deep; json.loads would recurse once per level (8,000
# nested `[` fit in MAX_BODY and raise RecursionError).
MAX_DEPTH = 16
# Set by `jobctl local`'s API server (jobctl.local.api) and by nothing that deploys.
LOCAL_MODE = "JOBCTL_LOCAL_MODE"
LOCAL_CALLER = "JOBCTL_LOCAL_CALLER"
Model = TypeVar("Model", bound="BaseModel")


def caller(request: Request) -> str:
    """Who is calling: the IAM principal API Gateway verified (SigV4); Unauthorized if none."""
    identity = (request.context or {}).get("identity") or {}
    for key in ("userArn", "caller", "user"):
        if identity.get(key):
            return str(identity[key])
    local = os.environ.get(LOCAL_CALLER)
    # `jobctl local` serves the API on loopback without SigV4 and names the local user.
    # Inside Lambda (AWS_LAMBDA_FUNCTION_NAME is set by the runtime) never.
    if local and os.environ.get(LOCAL_MODE) == "1" and "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return local
    raise Unauthorized("the request carries no caller identity: sign it with SigV4 (IAM)")


def body(request: Request, model: type[Model]) -> Model:
    given = request.raw_body or b""
    raw = given if isinstance(given, bytes) else given.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY:
        raise TooLarge(f"the request body is over {MAX_BODY} bytes", field="body")
    if _depth(raw) > MAX_DEPTH:
        raise InvalidRequest(f"the request body nests deeper than {MAX_DEPTH} levels", field="body")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest("the request body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object", field="body")
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


def _depth(raw: bytes) -> int:
    """How deep the JSON text's arrays and objects nest (brackets inside strings ignored);
    one pass, no parsing, so any MAX_BODY input is measured in microseconds."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


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
