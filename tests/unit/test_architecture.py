"""The package boundaries: what Chalice zips is the Lambda runtime and nothing else.

`chalicelib/` (with app.py) is what runs in Lambda; `jobctl/` is the CLI's tooling and
imports the runtime, never the reverse. These tests read the import graph from the source
(every import, including the lazy ones inside functions) and import app.py in a fresh
interpreter, so a tooling import that creeps into the runtime fails here, not in a cold
start on AWS.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME, TOOLING = "chalicelib", "jobctl"
# What the Lambda's code must never import: the tooling, the AWS emulator, terminal and
# YAML libraries, process spawning.
FORBIDDEN_IN_RUNTIME = ("jobctl", "moto", "rich", "ruamel", "subprocess", "multiprocessing", "pty")
# What must not be loaded at all in the Lambda (stdlib modules may import subprocess
# themselves, so the check of sys.modules names only what the project would bring in).
NEVER_LOADED = ("jobctl", "moto", "rich", "ruamel", "jsonata", "cronsim", "statelint")
SPAWNING_CALLS = {
    ("os", name)
    for name in ("system", "popen", "fork", "forkpty", "spawnl", "spawnv", "execv", "execvp")
}


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, absolute, wherever in the file the import stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {**_modules(RUNTIME), **_modules(TOOLING)}
    return {
        name: {target for target in _imports(name, path) if target in modules}
        for name, path in modules.items()
    }


def _group(module: str) -> str:
    """The unit whose cycles matter: `chalicelib.history`, `jobctl.deploy`, ..."""
    return ".".join(module.split(".")[:2])


def test_the_runtime_imports_no_tooling_emulator_or_process_module() -> None:
    offenders = []
    for name, path in _modules(RUNTIME).items():
        for target in _imports(name, path):
            if target.split(".")[0] in FORBIDDEN_IN_RUNTIME:
                offenders.append(f"{name} imports {target}")
    assert offenders == []


def test_the_runtime_spawns_no_processes() -> None:
    offenders = []
    for name, path in _modules(RUNTIME).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in SPAWNING_CALLS
            ):
                offenders.append(f"{name}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert offenders == []


def test_the_core_depends_on_nothing_else_of_jobctls() -> None:
    graph = _graph()
    leaks = {
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("chalicelib.core")
        for target in targets
        if not target.startswith("chalicelib.core")
    }
    assert leaks == set()


def find_cycles(edges: dict[str, set[str]]) -> list[str]:
    """Each cycle of a directed graph once, as `a -> b -> a` (depth-first search)."""
    cycles: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1  # on the current path
        for following in sorted(edges.get(node, set())):
            if state.get(following) == 1:
                cycles.append(" -> ".join([*trail[trail.index(following) :], following]))
            elif following not in state:
                visit(following, [*trail, following])
        state[node] = 2  # done

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_there_is_no_import_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, targets in _graph().items():
        for target in targets:
            if _group(target) != _group(name):
                edges[_group(name)].add(_group(target))
    assert "chalicelib.core" in {_group(name) for name in _graph()}
    assert find_cycles(edges) == []


def test_the_cycle_check_finds_planted_cycles_and_lazy_imports(tmp_path: Path) -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    # An import inside a function counts: it is a dependency all the same.
    (tmp_path / "y.py").write_text("def f():\n    from pkg.a import x\n")
    assert "pkg.a.x" in _imports("pkg.b.y", tmp_path / "y.py")


APP_PROBE = textwrap.dedent(
    """
    import json, sys
    import app
    from chalicelib import services
    built = services.services()
    # Every handler's service graph, as the handlers build it on first use.
    for name in services.HANDLER_SERVICES:
        getattr(built, name)
    app.app  # the Chalice app with every route and event handler registered
    heavy = sorted(
        name for name in sys.modules
        if name.split(".")[0] in {forbidden!r}
    )
    print(json.dumps(heavy))
    """
)


def test_importing_app_and_building_every_service_loads_no_tooling() -> None:
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "JOBCTL_HISTORY_TABLE": "coin-production-history",
        "JOBCTL_PREFIX": "coin-production",
        "JOBCTL_ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:coin-production-alerts",
        "JOBCTL_SLACK_WEBHOOKS": "secretsmanager:jobctl/slack-webhooks",
        "JOBCTL_SLACK_SIGNING_SECRET": "secretsmanager:jobctl/slack-signing-secret",
        "JOBCTL_SLACK_ALLOWED_USERS": "U1",
        # Building services must not call AWS; if one does, it fails fast here.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    probe = APP_PROBE.format(forbidden=set(NEVER_LOADED))
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
