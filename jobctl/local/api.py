"""The operator API (app.py's Chalice app) on localhost, as `chalice local` would serve it.

Chalice's local gateway does not enforce IAM (SigV4) authorizers: it admits the request
with a warning. Locally that is acceptable only because of what this module adds:
* it listens on loopback only and answers only requests whose Host is that loopback
  address or `localhost` (a DNS-rebinding page cannot reach it) and that carry no
  cross-site browser marker (`Origin`, `Sec-Fetch-Site: cross-site`): no web page can
  trigger or rerun a job through it;
* every request gets the identity API Gateway puts in `requestContext.identity` for an IAM
  caller (`userArn`, `user`, `caller`, `accountId`, `accessKey`), naming the local OS user,
  so the app records `triggered_by` the same way in both places;
* it sets the app's local-mode flag (`chalicelib.ops.http.LOCAL_MODE`), the only thing
  that lets the app fall back to `JOBCTL_LOCAL_CALLER` for a request without an identity
  (a deployed function never has the flag and refuses such a request with a 401).
The app's configuration is what every stage shares (the top-level `environment_variables`
of .chalice/config.json; a stage's own values describe a real deployment: its table, its
Slack secrets), then `JOBCTL_*` values for the local deployment; they are set in this
process's environment before app.py is imported (it reads them at first use).
The operator console (`jobctl.console`) is served at the same address: `/` and
`/console/...` go to it, with its own guard (same-origin form posts with a CSRF token),
every other path to the API.
Invariant: `stop()` shuts the server down and closes its socket.
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobctl.console.app import ConsoleApp

ROOT = Path(__file__).resolve().parent.parent.parent
APP_FILE = ROOT / "app.py"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
STAGE = "local"
# On Lambda the app's request logs and metrics go to CloudWatch; on the local console they
# would drown the platform's own lines. Set these variables to see them.
LOCAL_DEFAULTS = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def caller_identity(user: str, account: str) -> dict[str, str]:
    """What API Gateway passes for an IAM-authorised caller, naming the local user."""
    return {
        "accountId": account,
        "caller": user,
        "user": user,
        "userArn": f"arn:aws:iam::{account}:user/{user}",
        "accessKey": "local",
    }


def shared_environment() -> dict[str, str]:
    """The top-level environment_variables of .chalice/config.json (every stage has them)."""
    try:
        config = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    values = config.get("environment_variables") or {}
    return {str(k): str(v) for k, v in values.items()}


def load_app(path: Path = APP_FILE) -> Any:
    """Import app.py (it is not part of the installed package) and return its `app`."""
    if not path.is_file():
        raise ImportError(f"{path} is missing: jobctl local serves the API from a source checkout")
    spec = importlib.util.spec_from_file_location("app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module.app


class LocalApi:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        identity: dict[str, str],
        console: Callable[[], ConsoleApp] | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.identity = identity
        self.console_factory = console
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server.server_address[1]) if self._server else self.requested_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, environment: dict[str, str]) -> None:
        """Set the app's environment, import it, bind and serve (OSError if the port is busy)."""
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, LocalGateway, create_local_server

        for name, value in LOCAL_DEFAULTS.items():
            os.environ.setdefault(name, value)
        os.environ.update(shared_environment())
        os.environ.update(environment)
        from chalicelib.ops.http import LOCAL_MODE

        os.environ[LOCAL_MODE] = "1"
        # Chalice warns once per process that IAM auth is not enforced; this module says so
        # at start-up and guards the loopback server instead.
        warnings.filterwarnings("ignore", message=".*not a supported in local mode.*")
        app = load_app()
        identity = dict(self.identity)
        hosts = {f"{self.host}", "localhost"}
        console = self.console_factory() if self.console_factory else None
        local_api = self

        class Gateway(LocalGateway):
            def _generate_lambda_event(self, *args: Any, **kwargs: Any) -> Any:
                event = super()._generate_lambda_event(*args, **kwargs)
                caller = event["requestContext"]["identity"]
                caller.update(identity)
                caller["userAgent"] = event["headers"].get("user-agent", "")
                return event

        class Handler(ChaliceRequestHandler):
            def __init__(
                self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any
            ) -> None:
                self.local_gateway = Gateway(app_object, config)
                BaseHTTPRequestHandler.__init__(self, request, client_address, server)

            def _generic_handle(self) -> None:
                if console is not None and _is_console_path(self.path):
                    from jobctl.console.server import respond

                    respond(self, console, local_api.port)
                    return
                refusal = _refusal(dict(self.headers), hosts)
                if refusal is not None:
                    body = json.dumps({"message": refusal}).encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super()._generic_handle()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = (
                _generic_handle
            )

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no access log line per request on the console

        config = Config.create(
            chalice_stage=STAGE, app_name="jobctl", lambda_timeout=60, lambda_memory_size=128
        )
        server = create_local_server(app, config, self.host, self.requested_port)
        server.server.RequestHandlerClass = _bind(Handler, app, config)
        self._server = server
        self._thread = threading.Thread(
            target=server.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="jobctl-api",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.server.shutdown()
        self._server.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None


def _bind(handler: type[Any], app: Any, config: Any) -> Any:
    def make(request: Any, client_address: Any, server: Any) -> Any:
        return handler(request, client_address, server, app_object=app, config=config)

    return make


def _is_console_path(path: str) -> bool:
    route = path.split("?", 1)[0]
    return route == "/" or route == "/console" or route.startswith("/console/")


def _refusal(headers: dict[str, str], hosts: set[str]) -> str | None:
    """Why a request is refused (browser cross-site or foreign Host), None to serve it."""
    lowered = {key.lower(): value for key, value in headers.items()}
    host = lowered.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    if name not in hosts:
        return f"the local API answers only {' or '.join(sorted(hosts))}, not {host!r}"
    if "origin" in lowered or lowered.get("sec-fetch-site") == "cross-site":
        return "the local API refuses browser cross-origin requests"
    return None
