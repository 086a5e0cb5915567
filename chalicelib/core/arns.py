"""ARN templates with deploy-time placeholders.

Compiled output never contains an account, region or partition: it uses `${AccountId}`,
`${Region}` and `${Partition}`, which deploy fills from the caller's identity. Invariant:
`fill_placeholders` replaces exactly these names and fails on any other `${...}` left over.
"""

from __future__ import annotations

import json
import re
from typing import Any

PARTITION = "${Partition}"
REGION = "${Region}"
ACCOUNT = "${AccountId}"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")


def arn(service: str, resource: str, *, regional: bool = True) -> str:
    region = REGION if regional else ""
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def state_machine_arn(name: str) -> str:
    return arn("states", f"stateMachine:{name}")


# Every role jobctl creates lives under this IAM path, so deploy can list exactly its own.
ROLE_PATH = "/jobctl/"


def role_arn(name: str) -> str:
    return arn("iam", f"role{ROLE_PATH}{name}", regional=False)


def fill_placeholders(document: Any, values: dict[str, str]) -> Any:
    """`document` with every `${Name}` in its strings replaced from `values`."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for placeholder ${{{name}}}")
        return values[name]

    text = json.dumps(document)
    return json.loads(_PLACEHOLDER.sub(replace, text))
