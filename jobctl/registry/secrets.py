"""Detection of secrets written into any text of jobs.yaml that leaves the registry.

Every text of a job ends up somewhere readable: environment and command in the committed
`statemachines/*.asl.json` and in every ECS task and execution, tags on AWS resources,
descriptions in the API and run history. Credentials belong in the task definition's
`secrets` (Secrets Manager / SSM `valueFrom`). Two kinds of evidence:

- a name (environment variable, parameter, tag key) whose words say "secret"
  (`PGPASSWORD`, `MYSQL_PWD`, `SECRET_KEY_BASE`, `SENTRY_DSN`...), unless its last word
  says it only refers to one (`DB_SECRET_ARN`, `TOKEN_URL`, `PASSWORD_FILE`);
- a value shaped like a credential: jobctl's own shapes, then every regex plugin of
  detect-secrets (pinned; a maintained list of token formats).

Invariants: every pattern runs on RE2, so detection is linear in the text (Python's `re`
took 18 s on a 100 KB value for the URL-with-password shape); a finding names why (the
name, or the shape) and never echoes the value.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import re2  # type: ignore[import-untyped]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False

# Words of a name that mean its value is a secret. `PWD` alone is the working directory;
# `PASS` and `KEY` count only as the last word (`DB_PASS`, `API_KEY`, not `KEY_PREFIX`).
_SECRET_WORDS = {
    "PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "APIKEY", "CREDENTIAL",
    "CREDENTIALS", "DSN", "PRIVATE", "PWD", "AUTHTOKEN", "SESSIONKEY", "SIGNINGKEY",
}  # fmt: skip
_SECRET_LAST_WORDS = {"PASS", "KEY", "PAT", "PSK"}
# A last word that makes the name a reference to a secret, not the secret itself.
_REFERENCE_WORDS = {
    "ARN", "NAME", "ID", "FILE", "PATH", "URL", "URI", "ENDPOINT", "HEADER", "PARAM",
    "PARAMETER", "REGION", "TTL", "LENGTH", "EXPIRY", "VERSION", "ENABLED", "FIELD", "KIND",
    "STDIN", "PROMPT", "ENV", "VAR",  # --password-stdin, --token-env NAME
}  # fmt: skip
# Words glued without `_` (PGPASSWORD, APITOKEN, AWSSECRETKEY).
_GLUED = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY", "SECRETKEY")

# jobctl's own shapes (kept first: their wording is in the README and the corpus). Linear
# on RE2: each class excludes the delimiter that ends it.
_OWN_SHAPES: tuple[tuple[str, str], ...] = (
    ("an AWS access key id", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("a private key", r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY"),
    ("a Slack token", r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    ("a Slack webhook URL", r"hooks\.slack\.com/services/"),
    ("a GitHub token", r"\b(gh[pousr]_[0-9A-Za-z]{30,}|github_pat_[0-9A-Za-z_]{30,})"),
    ("a Stripe secret key", r"\b[rs]k_live_[0-9A-Za-z]{16,}"),
    ("a JSON Web Token", r"\beyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\."),
    ("a URL with a password", r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
    ("a Sentry DSN", r"://[0-9a-f]{32}(:[0-9a-f]{32})?@"),
)

# detect-secrets plugins left out: IP addresses are not secrets; the keyword plugins
# (Cloudant/IBM/SoftLayer `name = value` forms) need lookbehind, and the name check covers
# them; entropy plugins flag hashes and ids (too many false positives for plain text).
_SKIPPED_PLUGINS = {"IPPublicDetector", "KeywordDetector"}


def _re2_source(pattern: re.Pattern[str]) -> str | None:
    """`pattern` rewritten for RE2 (same matches when searching), or None if RE2 cannot."""
    source = pattern.pattern
    if pattern.flags & re.VERBOSE and re.search(r"\s|#", source):
        return None  # RE2 has no verbose mode
    # `X(?!\w)` at the end (GitLab tokens): for a search, "then no word character" is
    # "then a non-word character or the end".
    source = re.sub(r"\(\?!\\w\)$", r"(?:\\W|$)", source)
    source = re.sub(r"\{(\d+),(\d{4,})\}", lambda m: "{" + m[1] + ",}", source)
    if pattern.flags & re.IGNORECASE:
        source = f"(?i:{source})"
    try:
        re2.compile(source, _OPTIONS)
    except re2.error:
        return None
    return source


SHAPES_FILE = Path(__file__).with_name("secret_shapes.json")


def detect_secrets_shapes() -> list[dict[str, str]]:
    """Every detect-secrets regex plugin's patterns, as RE2 sources (what SHAPES_FILE holds).

    detect-secrets imports `requests` and walks its plugins (about 0.15 s CPU), so
    `jobctl validate` reads the committed SHAPES_FILE instead; tests/unit/test_registry_limits.py
    fails when the file is not what the pinned detect-secrets gives
    (`python -m jobctl.registry.secrets` rewrites it).
    """
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    plugins: dict[str, Any] = dict(get_mapping_from_secret_type_to_class())
    shapes: list[dict[str, str]] = []
    for secret_type, plugin in sorted(plugins.items()):
        if plugin.__name__ in _SKIPPED_PLUGINS or not issubclass(plugin, RegexBasedDetector):
            continue
        # Every regex plugin takes no arguments (its class is abstract to a type checker).
        for pattern in plugin().denylist:
            source = _re2_source(pattern)
            if source is not None:
                shapes.append({"secret_type": secret_type, "re2": source})
    return shapes


def render_shapes(shapes: list[dict[str, str]]) -> str:
    return json.dumps(shapes, indent=1, sort_keys=True) + "\n"


@cache
def _detectors() -> tuple[tuple[str, Any], ...]:
    """(what it looks like, RE2 regex) for every shape, jobctl's first."""
    found = [(why, re2.compile(source, _OPTIONS)) for why, source in _OWN_SHAPES]
    for shape in json.loads(SHAPES_FILE.read_text(encoding="utf-8")):
        why = f"a credential ({shape['secret_type']}, by detect-secrets)"
        found.append((why, re2.compile(shape["re2"], _OPTIONS)))
    return tuple(found)


@cache
def _any_shape() -> Any:
    """One RE2 alternation of every shape: one linear pass decides most texts."""
    sources = [source for _, source in _OWN_SHAPES]
    for _, compiled in _detectors()[len(_OWN_SHAPES) :]:
        sources.append(compiled.pattern)
    return re2.compile("|".join(f"(?:{source})" for source in sources), _OPTIONS)


def detector_names() -> list[str]:
    """What the value check recognises (for tests and docs)."""
    return [why for why, _ in _detectors()]


def _words(name: str) -> Iterator[str]:
    yield from (word for word in re.split(r"[^A-Za-z0-9]+", name.upper()) if word)


def secret_name(name: str) -> bool:
    """Whether `name` (an environment variable, parameter or tag key) names a secret."""
    words = list(_words(name))
    if not words or words[-1] in _REFERENCE_WORDS:
        return False
    if words == ["PWD"]:
        return False
    if words[-1] in _SECRET_LAST_WORDS or any(word in _SECRET_WORDS for word in words):
        return True
    return any(word.endswith(_GLUED) for word in words)


def secret_shape(text: str) -> str | None:
    """What `text` looks like (e.g. 'a URL with a password'), or None."""
    if not _any_shape().search(text):
        return None
    return next((why for why, regex in _detectors() if regex.search(text)), "a secret")


def find_secret(name: str, value: str) -> str | None:
    """Why `name=value` looks like a secret, or None when it does not."""
    if secret_name(name):
        return f"the name '{name}' looks like a secret"
    shape = secret_shape(value)
    return f"the value of '{name}' looks like {shape}" if shape else None


def find_secret_in(what: str, text: str) -> str | None:
    """Why `text` (described as `what`, e.g. 'the description') looks like a secret."""
    shape = secret_shape(text)
    return f"{what} looks like it contains {shape}" if shape else None


if __name__ == "__main__":
    # Rewrite SHAPES_FILE from the installed detect-secrets (after changing its pin).
    SHAPES_FILE.write_text(render_shapes(detect_secrets_shapes()), encoding="utf-8")
    sys.exit(0)
