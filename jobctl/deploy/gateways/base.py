"""What every deploy gateway shares: the `Gateway` contract and the read, retry and tag helpers.

A gateway is the thin AWS adapter for one `ResourceKind`: it reads a resource into the
normalized `Resource` shape that compile produces (so plan compares like with like), lists
the names it may own (for prune), and creates, updates or deletes one resource. Gateways
never decide anything: plan decides (ownership, and what cannot change in place, are
plan-time conflicts), apply calls. Each gateway types its client with a narrow `Protocol`
of exactly the calls it makes; the clients themselves come from `chalicelib.aws.clients`.
Invariants: reads never mutate; `read` returns None for a resource that does not exist;
writes are idempotent where AWS allows (a retried create of an existing resource converges).

`glance` is the cheap read a plan without `--refresh` makes first: many resources of a kind
through batch and list calls (a few calls for all of them, not a few each). A glanced
resource may lack spec keys those calls do not return; its tags are complete. Plan believes
a glance only where it agrees exactly with the desired resource and reads everything else in
full with `read`, so what a plan changes is always planned from a full read.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Protocol, TypeVar, cast

import botocore.exceptions

from chalicelib.aws.clients import AwsContext, ClientFactory, error_code
from jobctl.deploy.resources import Resource, ResourceKind, tag_dict, tag_list

T = TypeVar("T")
NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NotFound",
    "StateMachineDoesNotExist",
    "NotFoundException",
}
# IAM is eventually consistent: a new role may not be assumable for a few seconds.
ROLE_PROPAGATION_ERRORS = {
    "AccessDeniedException",
    "InvalidParameterValueException",
    "ValidationException",
}
Page = dict[str, Any]  # one page of a paginated List* answer, as boto3 returns it


def missing(exc: BaseException) -> bool:
    """Whether an AWS error says the resource does not exist (each service words it its way)."""
    return error_code(exc) in NOT_FOUND


def read_or_none(call: Callable[[], T]) -> T | None:
    """The call's answer, or None when AWS says the resource does not exist.

    Also what makes deletes converge: deleting what is already gone is not an error.
    """
    try:
        return call()
    except botocore.exceptions.ClientError as exc:
        if missing(exc):
            return None
        raise


def retry_while_role_propagates(
    action: Callable[[], T], *, wait: float = 2.0, tries: int = 15
) -> T:
    """Retries a call that names a role created moments ago, until IAM lets it be assumed."""
    for attempt in range(tries):
        try:
            return action()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in ROLE_PROPAGATION_ERRORS or "role" not in str(exc).lower():
                raise
            if attempt == tries - 1:
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")


def sync_tags(
    old: Resource,
    new: Resource,
    add: Callable[[dict[str, str]], object],
    remove: Callable[[list[str]], object],
) -> None:
    """Adds changed or new tags and removes dropped ones; no call when nothing changed."""
    changed = {k: v for k, v in new.tags.items() if old.tags.get(k) != v}
    gone = sorted(set(old.tags) - set(new.tags))
    if changed:
        add(changed)
    if gone:
        remove(gone)


class TagsByArn(Protocol):
    """Tagging for services whose TagResource/UntagResource take ResourceArn, Tags, TagKeys
    (DynamoDB, SNS, EventBridge Scheduler)."""

    def tag_resource(self, *, ResourceArn: str, Tags: list[dict[str, str]]) -> object: ...

    def untag_resource(self, *, ResourceArn: str, TagKeys: list[str]) -> object: ...


def sync_tags_by_arn(client: TagsByArn, old: Resource, new: Resource) -> None:
    """`sync_tags` on the ARN of `old`, the resource as read (reads always record it)."""

    def arn() -> str:
        if old.arn is None:
            raise ValueError(f"{old.label}: tags change on a resource as read, with its ARN")
        return old.arn

    sync_tags(
        old,
        new,
        lambda tags: client.tag_resource(ResourceArn=arn(), Tags=tag_list(tags)),
        lambda keys: client.untag_resource(ResourceArn=arn(), TagKeys=keys),
    )


# GetResources takes at most 100 ARNs per request.
TAGGING_ARNS_PER_CALL = 100


class TaggingPages(Protocol):
    def paginate(self, *, ResourceARNList: list[str]) -> Iterable[Page]: ...


class Tagging(Protocol):
    """The Resource Groups Tagging API call the cheap reads make."""

    def get_paginator(self, operation_name: str) -> TaggingPages: ...


def tags_of(factory: ClientFactory, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    """Tags of many resources by ARN, 100 ARNs per GetResources request (its limit).

    A resource without tags (or that does not exist) is absent from the answer. The
    tagging API is an index that can lag the services' own tags by a little: callers only
    believe what it says when it agrees with the desired tags (a lagging answer then costs a
    full read, never a wrong "unchanged").
    """
    client = cast(Tagging, factory.client("resourcegroupstaggingapi"))
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), TAGGING_ARNS_PER_CALL):
        chunk = list(arns[start : start + TAGGING_ARNS_PER_CALL])
        for page in client.get_paginator("get_resources").paginate(ResourceARNList=chunk):
            for mapping in page.get("ResourceTagMappingList", []):
                found[mapping["ResourceARN"]] = tag_dict(mapping.get("Tags", []))
    return found


def each(call: Callable[[str], T], names: Sequence[str], workers: int) -> list[T]:
    """`call` on every name, `workers` at a time, answers in the order of `names`."""
    if not names:
        return []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, names))


def normalize_target(target: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge rule's or Scheduler schedule's target, as compile writes it.

    AWS adds fields of its own on read; only the ones jobctl sets are compared.
    """
    keep = ("Id", "Arn", "RoleArn", "Input", "InputTransformer", "RetryPolicy")
    normalized = {key: target[key] for key in keep if key in target}
    if "RetryPolicy" in normalized:
        normalized["RetryPolicy"] = dict(sorted(normalized["RetryPolicy"].items()))
    return normalized


class Gateway(ABC):
    """The adapter for one resource kind; subclasses add a typed `client` property."""

    kind: ClassVar[ResourceKind]

    def __init__(self, factory: ClientFactory, context: AwsContext, prefix: str) -> None:
        self.factory = factory
        self.context = context
        self.prefix = prefix  # "<project>[-<env>]": every name jobctl gives starts with it

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.context.region if regional else ""
        return f"arn:{self.context.partition}:{service}:{region}:{self.context.account}:{resource}"

    def discover(self) -> list[str]:
        """Names of this kind that may be a removed job's (prune); shared kinds list none."""
        return []

    @abstractmethod
    def read(self, name: str) -> Resource | None: ...

    def glance(self, names: Sequence[str], workers: int) -> dict[str, Resource]:
        """The resources of `names` a cheap read finds (see the module docstring), by name.

        Kinds without batch reads glance nothing: plan reads each of them in full.
        """
        return {}

    @abstractmethod
    def create(self, resource: Resource) -> None: ...

    @abstractmethod
    def update(self, old: Resource, new: Resource) -> None:
        """Makes `old` (as read) into `new` (as desired); plan has refused what cannot be."""

    @abstractmethod
    def delete(self, resource: Resource) -> None: ...
