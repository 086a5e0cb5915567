"""Who may talk to the console, and proof that a state change came from its own page.

The console acts with the operator's AWS credentials, so any page in their browser that
could reach it could act as them. Invariants:
* Host must be the loopback address it listens on or `localhost` (a DNS-rebinding page
  names its own host and is refused);
* a request carrying `Origin` must come from the console's own origin, and one marked
  `Sec-Fetch-Site: cross-site` is refused (no other site can read or drive it);
* every state-changing request (POST) carries the CSRF token of this console process,
  compared in constant time; the token is random per process and only ever written into
  the console's own pages;
* in read-only mode every state-changing request is refused, whatever it carries.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping


class Guard:
    def __init__(self, *, host: str, read_only: bool = False) -> None:
        self.host = host
        self.read_only = read_only
        self.csrf_token = secrets.token_urlsafe(32)

    def refusal(self, headers: Mapping[str, str], port: int) -> str | None:
        """Why this request is refused (None: serve it)."""
        lowered = {key.lower(): value for key, value in headers.items()}
        host = lowered.get("host", "")
        allowed = {f"{self.host}:{port}", f"localhost:{port}"}
        if host not in allowed:
            return f"the console answers only {' or '.join(sorted(allowed))}, not {host!r}"
        origin = lowered.get("origin")
        if origin is not None and origin not in {f"http://{name}" for name in allowed}:
            return "the console refuses requests from other origins"
        if lowered.get("sec-fetch-site") == "cross-site":
            return "the console refuses cross-site requests"
        return None

    def change_refusal(self, token: str | None) -> str | None:
        """Why a state-changing request is refused (None: carry it out)."""
        if self.read_only:
            return "the console is read-only (started with --read-only)"
        if not token or not hmac.compare_digest(token.encode(), self.csrf_token.encode()):
            return "the form is stale or did not come from this console: reload the page"
        return None
