"""IAM roles under the /jobctl/ path, each with one inline policy: job roles and the trigger role.

Spec: `{"path", "trust": policy document, "policy": the inline policy document | None,
"other_inline": names of other inline policies, "attached": ARNs of attached managed
policies, "boundary": the permissions boundary's ARN | None}`. jobctl's roles have exactly
one inline policy and nothing else, so what anyone added by hand (an extra inline policy,
an attached `AdministratorAccess`, a permissions boundary) is drift: read here, shown by
plan as a change, removed by apply (and by delete, which IAM requires before DeleteRole).
A job's role (`<prefix>-<job>-sfn`, what its state machine runs as) is discovered for
prune; the environment's shared trigger role (what EventBridge and Scheduler assume) is
found by name only and deleted only by destroy. Invariants: the inline policy is always
named `jobctl`; documents are compared decoded (IAM returns them URL-encoded); lists are
sorted, so an unchanged role plans to nothing.
A cheap plan glances at every role with one paginated GetAccountAuthorizationDetails (all
of the account's roles, each with its trust, inline policies with their documents, attached
policies, boundary and tags): the whole spec, so role drift costs no per-role read.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Literal, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import error_code
from chalicelib.core.arns import ROLE_PATH
from chalicelib.core.names import JOB_ROLE_SUFFIX
from jobctl.deploy.gateways.base import Gateway, Page, read_or_none, sync_tags
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list

INLINE_POLICY = "jobctl"


class RolePages(Protocol):
    def paginate(self, *, PathPrefix: str) -> Iterable[Page]: ...


class IamRoles(Protocol):
    """The IAM calls the role gateways make."""

    def get_paginator(self, operation_name: Literal["list_roles"]) -> RolePages: ...

    def get_role(self, *, RoleName: str) -> dict[str, Any]: ...

    def get_role_policy(self, *, RoleName: str, PolicyName: str) -> dict[str, Any]: ...

    def list_role_policies(self, **kwargs: str) -> dict[str, Any]: ...

    def list_attached_role_policies(self, **kwargs: str) -> dict[str, Any]: ...

    def detach_role_policy(self, *, RoleName: str, PolicyArn: str) -> object: ...

    def delete_role_permissions_boundary(self, *, RoleName: str) -> object: ...

    def create_role(
        self,
        *,
        RoleName: str,
        Path: str,
        AssumeRolePolicyDocument: str,
        Description: str,
        Tags: list[dict[str, str]],
    ) -> object: ...

    def put_role_policy(self, *, RoleName: str, PolicyName: str, PolicyDocument: str) -> object: ...

    def update_assume_role_policy(self, *, RoleName: str, PolicyDocument: str) -> object: ...

    def tag_role(self, *, RoleName: str, Tags: list[dict[str, str]]) -> object: ...

    def untag_role(self, *, RoleName: str, TagKeys: list[str]) -> object: ...

    def delete_role_policy(self, *, RoleName: str, PolicyName: str) -> object: ...

    def delete_role(self, *, RoleName: str) -> object: ...


class DetailPages(Protocol):
    def paginate(self, *, Filter: list[str]) -> Iterable[Page]: ...


class IamDetails(Protocol):
    """The one IAM call of the cheap read."""

    def get_paginator(
        self, operation_name: Literal["get_account_authorization_details"]
    ) -> DetailPages: ...


def _policy(document: Any) -> Any:
    """IAM returns policy documents URL-encoded (or already decoded by some SDKs)."""
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return document


class RoleGateway(Gateway):
    """Reads and writes one role and its inline policy; the subclasses say which roles."""

    @property
    def client(self) -> IamRoles:
        return cast(IamRoles, self.factory.client("iam"))

    def read(self, name: str) -> Resource | None:
        found = read_or_none(lambda: self.client.get_role(RoleName=name))
        if found is None:
            return None
        role = found["Role"]
        inline_names = self._pages(self.client.list_role_policies, name, "PolicyNames")
        inline = (
            read_or_none(
                lambda: self.client.get_role_policy(RoleName=name, PolicyName=INLINE_POLICY)
            )
            if INLINE_POLICY in inline_names
            else None
        )
        attached = self._pages(self.client.list_attached_role_policies, name, "AttachedPolicies")
        return self._resource(
            role,
            inline_names,
            inline["PolicyDocument"] if inline else None,
            [policy["PolicyArn"] for policy in attached],
        )

    def _resource(
        self, role: dict[str, Any], inline_names: list[str], policy: Any, attached: list[str]
    ) -> Resource:
        """The role's spec from what IAM returned (GetRole and its lists, or a RoleDetail)."""
        boundary = role.get("PermissionsBoundary") or {}
        spec = {
            "path": role["Path"],
            "trust": _policy(role["AssumeRolePolicyDocument"]),
            "policy": _policy(policy) if policy is not None else None,
            "other_inline": sorted(n for n in inline_names if n != INLINE_POLICY),
            "attached": sorted(attached),
            "boundary": boundary.get("PermissionsBoundaryArn"),
        }
        name = role["RoleName"]
        return Resource(self.kind, name, spec, tag_dict(role.get("Tags", [])), arn=role["Arn"])

    def glance(self, names: Sequence[str], workers: int) -> dict[str, Resource]:
        wanted = set(names)
        if not wanted:
            return {}
        client = cast(IamDetails, self.factory.client("iam"))
        found = {}
        pages = client.get_paginator("get_account_authorization_details").paginate(Filter=["Role"])
        for page in pages:
            for role in page.get("RoleDetailList", []):
                if role["RoleName"] not in wanted:
                    continue
                inline = {
                    p["PolicyName"]: p["PolicyDocument"] for p in role.get("RolePolicyList", [])
                }
                attached = [p["PolicyArn"] for p in role.get("AttachedManagedPolicies", [])]
                found[role["RoleName"]] = self._resource(
                    role, sorted(inline), inline.get(INLINE_POLICY), attached
                )
        return found

    @staticmethod
    def _pages(call: Callable[..., dict[str, Any]], role: str, key: str) -> list[Any]:
        """Every item of a Marker-paginated IAM list (a role may have many added by hand)."""
        items: list[Any] = []
        marker: dict[str, str] = {}
        while True:
            page = call(RoleName=role, **marker)
            items += page.get(key, [])
            if not page.get("IsTruncated"):
                return items
            marker = {"Marker": page["Marker"]}

    def _remove_drift(self, old: Resource) -> None:
        """Removes what jobctl's roles never have: other inline policies, attached managed
        policies, a permissions boundary (each already gone is not an error)."""
        name = old.name
        for policy in old.spec.get("other_inline", []):
            read_or_none(partial(self.client.delete_role_policy, RoleName=name, PolicyName=policy))
        for arn in old.spec.get("attached", []):
            read_or_none(partial(self.client.detach_role_policy, RoleName=name, PolicyArn=arn))
        if old.spec.get("boundary"):
            read_or_none(lambda: self.client.delete_role_permissions_boundary(RoleName=name))

    def create(self, resource: Resource) -> None:
        try:
            self.client.create_role(
                RoleName=resource.name,
                Path=resource.spec["path"],
                AssumeRolePolicyDocument=json.dumps(resource.spec["trust"]),
                Description="managed by jobctl",
                Tags=tag_list(resource.tags),
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
        self._put_policy(resource)

    def _put_policy(self, resource: Resource) -> None:
        self.client.put_role_policy(
            RoleName=resource.name,
            PolicyName=INLINE_POLICY,
            PolicyDocument=json.dumps(resource.spec["policy"]),
        )

    def update(self, old: Resource, new: Resource) -> None:
        self._remove_drift(old)
        if old.spec["trust"] != new.spec["trust"]:
            self.client.update_assume_role_policy(
                RoleName=new.name, PolicyDocument=json.dumps(new.spec["trust"])
            )
        if old.spec["policy"] != new.spec["policy"]:
            self._put_policy(new)
        sync_tags(
            old,
            new,
            lambda tags: self.client.tag_role(RoleName=new.name, Tags=tag_list(tags)),
            lambda keys: self.client.untag_role(RoleName=new.name, TagKeys=keys),
        )

    def delete(self, resource: Resource) -> None:
        # IAM refuses DeleteRole while any policy is attached or inline (DeleteConflict).
        self._remove_drift(resource)
        read_or_none(
            lambda: self.client.delete_role_policy(RoleName=resource.name, PolicyName=INLINE_POLICY)
        )
        read_or_none(lambda: self.client.delete_role(RoleName=resource.name))


class JobRoleGateway(RoleGateway):
    """A job's execution role: what its state machine runs as."""

    kind = ResourceKind.JOB_ROLE

    def discover(self) -> list[str]:
        names = []
        for page in self.client.get_paginator("list_roles").paginate(PathPrefix=ROLE_PATH):
            names += [
                r["RoleName"]
                for r in page["Roles"]
                # Job roles only: the shared trigger role has the same prefix.
                if r["RoleName"].startswith(f"{self.prefix}-")
                and r["RoleName"].endswith(JOB_ROLE_SUFFIX)
            ]
        return names


class TriggerRoleGateway(RoleGateway):
    """The environment's role for EventBridge rules and Scheduler schedules."""

    kind = ResourceKind.TRIGGER_ROLE
    # discover() lists nothing: the role is shared, found by name, deleted only by destroy.
