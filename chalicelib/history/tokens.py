"""Pagination tokens: opaque, signed, bounded, and bound to the listing that issued them.

A token is `1.<payload>.<mac>`: `payload` the base64url JSON of what the store needs to
resume (DynamoDB start keys and the listing's `since`), `mac` the base64url
HMAC-SHA256 of `1.<payload>` and the listing's name (index, partition, filters) under the
signing key. So a caller can neither alter a token nor use one listing's token for another
(another job, status or since window); either is `BadToken`, which the API answers with a
400 naming `next_token`.

The signing key is 32 random bytes in one history-table item (`API#TOKENS`/`KEY`,
`chalicelib.core.history.token_key`), created on first use by one UpdateItem that sets it
only if absent and returns what the item then holds (two processes racing agree on the
first write; UpdateItem because operators' IAM grants it, not PutItem) and read once per
process. Why
the table rather than a secret in the function's environment or Secrets Manager: every
process that lists runs (the API, the reconciler, the ops CLI with the operator's own
credentials, `jobctl local`, the tests on moto) already reads and writes that table, so
there is no secret to provision, rotate in two places or reach offline. Whoever can read
the key can query the table itself, so a token forged with it reveals nothing more.
Deleting the item rotates the key: outstanding tokens are then refused (start again).

Invariants: `open` measures the token (MAX_TOKEN characters) before decoding anything and
checks the MAC (constant time) before parsing its JSON; every failure is `BadToken`, never
another exception; tokens the store issues stay under MAX_TOKEN (the longest, `/runs`
with one cursor per status, is under 3.4 KB with 80-character job names and run ids).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any, Final

from chalicelib.core import history as schema

VERSION: Final = "1"
MAX_TOKEN: Final = 4096
KEY_BYTES: Final = 32


class BadToken(ValueError):
    """A pagination token this store did not issue for this listing (or that was altered)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TableKey:
    """The signing key kept in the history table, loaded (or created) on first use."""

    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.clock = clock
        self._key: bytes | None = None

    def __call__(self) -> bytes:
        if self._key is None:
            self._key = self._read() or self._create()
        return self._key

    def _read(self) -> bytes | None:
        found = self.dynamodb.get_item(
            TableName=self.table, Key=schema.token_key(), ConsistentRead=True
        )
        secret = found.get("Item", {}).get("secret", {}).get("B")
        return bytes(secret) if secret else None

    def _create(self) -> bytes:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
        written = self.dynamodb.update_item(
            TableName=self.table,
            Key=schema.token_key(),
            # Another process may have created it since _read: keep theirs, return it.
            UpdateExpression=(
                "SET secret = if_not_exists(secret, :secret), "
                "created_at = if_not_exists(created_at, :created)"
            ),
            ExpressionAttributeValues={
                ":secret": {"B": secrets.token_bytes(KEY_BYTES)},
                ":created": {"S": created},
            },
            ReturnValues="ALL_NEW",
        )
        return bytes(written["Attributes"]["secret"]["B"])


class Tokens:
    """Seal and open the tokens of named listings with one key."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def seal(self, listing: str, state: dict[str, Any]) -> str:
        payload = _b64(json.dumps(state, separators=(",", ":"), sort_keys=True).encode())
        signed = f"{VERSION}.{payload}"
        return f"{signed}.{_b64(self._mac(signed, listing))}"

    def open(self, token: str | None, listing: str) -> dict[str, Any] | None:
        """The state sealed in `token` for `listing`; None for no token; BadToken else."""
        if not token:
            return None
        if len(token) > MAX_TOKEN:
            raise BadToken(f"next_token is longer than any token this API issues ({MAX_TOKEN})")
        version, _, rest = token.partition(".")
        payload, _, mac = rest.partition(".")
        if version != VERSION or not payload or not mac or not token.isascii():
            raise BadToken(_NOT_OURS)
        try:
            given = _unb64(mac)
        except (binascii.Error, ValueError):
            raise BadToken(_NOT_OURS) from None
        if not hmac.compare_digest(given, self._mac(f"{version}.{payload}", listing)):
            raise BadToken(_NOT_OURS)
        try:
            state = json.loads(_unb64(payload))
        except (binascii.Error, ValueError, RecursionError):
            raise BadToken(_NOT_OURS) from None
        if not isinstance(state, dict):
            raise BadToken(_NOT_OURS)
        return state

    def _mac(self, signed: str, listing: str) -> bytes:
        message = f"{signed}\n{listing}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).digest()


_NOT_OURS = (
    "next_token is not a token this API issued for this listing: it was altered, or it "
    "continues another listing (repeat the job, status and since of the first page)"
)
