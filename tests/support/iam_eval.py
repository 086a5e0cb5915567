"""An IAM request evaluator jobctl does not write: principalmapper's local policy simulation.

moto enforces no IAM, so what a generated policy allows is checked here against AWS's
documented evaluation rules (explicit Deny wins; otherwise some Allow statement must match
the action, the resource and every condition). The engine is principalmapper 1.1.5
(`principalmapper.querying.local_policy_simulation`, pinned in the `dev` extra, AGPL-3.0:
a test-only dependency, never shipped). It was chosen over moto's own
`moto.iam.access_control`, which evaluates only `StringEquals` conditions and lets
`ArnEquals`/`ArnLike` pass silently, so it could not tell the `ecs:cluster` or
`aws:SourceArn` guards from their absence; principalmapper evaluates `Arn*`, `String*`,
`ForAllValues:` conditions, wildcards per ARN and service principals in trust policies.
Known gaps (see the shared oracle notes): `StringNotLike` on an absent key and resource
case-insensitivity; no policy written here relies on either.
"""

from __future__ import annotations

import collections
import collections.abc
from typing import Any

# principalmapper 1.1.5 (unmaintained since 2022) imports `collections.Mapping`, which
# Python 3.10 removed: give it the abc names before importing it.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.querying.local_policy_simulation import (  # noqa: E402
    ResourcePolicyEvalResult,
    policy_has_matching_statement,
    resource_policy_authorization,
)
from principalmapper.util.case_insensitive_dict import CaseInsensitiveDict  # noqa: E402


def allows(policy: dict[str, Any], action: str, resource: str, **context: str | list[str]) -> bool:
    """Whether an identity policy alone allows the request (no explicit Deny, some Allow).

    `context` is the request context by condition key, e.g.
    `allows(policy, "ecs:RunTask", arn, **{"ecs:cluster": cluster_arn})`.
    """
    keys = CaseInsensitiveDict(context)
    if policy_has_matching_statement(policy, "Deny", action, resource, keys):
        return False
    return bool(policy_has_matching_statement(policy, "Allow", action, resource, keys))


def trusts(trust_policy: dict[str, Any], service: str, account: str, **context: str) -> bool:
    """Whether a role's trust policy lets `service` assume the role for a request with
    `context` (e.g. `aws:SourceAccount`, `aws:SourceArn`), in the role's `account`."""
    result = resource_policy_authorization(
        service, account, trust_policy, "sts:AssumeRole", "*", CaseInsensitiveDict(context)
    )
    return bool(result == ResourcePolicyEvalResult.SERVICE_MATCH)
