"""Detection of secrets written into a job's plain `environment`.

Plain environment values are readable by anyone who can describe the ECS task or the
Step Functions execution, so credentials belong in the task definition's `secrets`
(Secrets Manager / SSM `valueFrom`). Invariant: a finding names why (the variable name or
the value's shape) without ever echoing the value.
"""

from __future__ import annotations

import re

_SECRET_NAME = re.compile(
    r"(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY|APIKEY|CREDENTIALS?|PRIVATE_KEY)$",
    re.IGNORECASE,
)

_SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/services/")),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[0-9A-Za-z]{30,}|github_pat_[0-9A-Za-z_]{30,})")),
    ("a Stripe secret key", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.")),
    ("a URL with a password", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)


def find_secret(name: str, value: str) -> str | None:
    """Why `name=value` looks like a secret, or None when it does not."""
    if _SECRET_NAME.search(name):
        return f"the name '{name}' looks like a secret"
    for description, pattern in _SECRET_VALUES:
        if pattern.search(value):
            return f"the value of '{name}' looks like {description}"
    return None
