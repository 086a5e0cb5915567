"""`jobctl console`: the operator console on 127.0.0.1, with the operator's credentials.

Like `kubectl proxy`: it adds no cloud resource and no login; whoever can run jobctl with
these credentials can already do everything the console does, and the console records
them (their IAM principal) on every change, exactly as the CLI does. Invariant:
importing this module imports only the standard library (the parser imports it).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

from chalicelib.core.errors import UsageError
from jobctl.cli.verbs import EXIT_OK, Verbs, registry_of

if TYPE_CHECKING:
    from rich.console import Console


def register(verbs: Verbs) -> None:
    console = verbs.add(
        "console",
        "serve the operator console (jobs, runs, timeline, actions) on 127.0.0.1",
        _console,
        aws=True,
    )
    console.add_argument("--port", type=int, default=8765, help="port (0: any free; default 8765)")
    console.add_argument(
        "--read-only",
        action="store_true",
        help="no Run now, Re-run, Stop or Pause (a shared screen)",
    )


def _console(args: argparse.Namespace, out: Console) -> int:
    from chalicelib.aws.clients import ClientFactory
    from chalicelib.core.names import shared_names
    from chalicelib.ops.service import OpsService
    from jobctl.console.app import ConsoleApp
    from jobctl.console.security import Guard
    from jobctl.console.server import ConsoleServer

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port (0-65535)")
    registry = registry_of(args)
    factory = ClientFactory(profile=args.profile)
    ops = OpsService.create(factory, shared_names(registry.project, args.env).history_table)
    who = factory.caller()  # fails here, not on the first click, without credentials
    title = registry.project + (f" / {args.env}" if args.env else "")
    app = ConsoleApp(
        ops, guard=Guard(host="127.0.0.1", read_only=args.read_only), who=lambda: who, title=title
    )
    try:
        server = ConsoleServer(app, host="127.0.0.1", port=args.port)
    except OSError as exc:
        raise UsageError(
            f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc} (choose --port)"
        ) from None
    out.print(
        f"jobctl console: {server.url} (as {who}; Ctrl-C to stop)", markup=False, highlight=False
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the console stops
        server.serve_forever()
    return EXIT_OK
