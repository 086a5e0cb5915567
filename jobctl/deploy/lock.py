"""The deploy lock and the registry revision of one project environment.

Owns two items of the environment's history table (keys in `chalicelib.core.history`):
the lock, a lease taken with a conditional PutItem (free, or its lease expired) for the
whole plan-and-apply, and the revision last applied (git commit of jobs.yaml's checkout,
a digest of the file, a sequence that grows by one per apply). The history table is the
place because DynamoDB has conditional writes (SSM parameters have no compare-and-set, so
a lease there cannot be taken over safely) and the table is already the environment's
own, tagged, least-privilege-scoped store. The first apply of an environment (no table
yet: nothing deployed to revert) runs unlocked and records its revision once the table
exists.
Invariants: an apply holds the lock from before its plan until after its last write, and
releases only its own lock (conditional on its token); a held lock is refused with its
holder and expiry, a lock past its lease is taken over; an apply whose commit does not
contain the deployed commit (an older checkout, or another branch) is refused unless
the caller allows it explicitly.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import botocore.exceptions

from chalicelib.aws.clients import ClientFactory, error_code
from chalicelib.core.errors import JobctlError
from chalicelib.core.history import PK, deploy_lock_key, deploy_revision_key

# Long enough for an apply that builds indexes; a crashed apply blocks others this long.
LEASE_SECONDS = 3600


class DeployLocked(JobctlError):
    """Another plan-and-apply holds the environment's lock (exit 1)."""


class OlderRevision(JobctlError):
    """The registry being applied is older than (or diverged from) the deployed one."""


@dataclass(frozen=True)
class Revision:
    """What identifies a registry's version: its checkout's commit (None outside git),
    whether the file differs from that commit, and the file's digest."""

    commit: str | None
    dirty: bool
    digest: str

    def describe(self) -> str:
        commit = self.commit[:12] if self.commit else "no git commit"
        return f"{commit}{' (modified)' if self.dirty else ''}, jobs.yaml sha256 {self.digest[:12]}"


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False
    )


def registry_revision(path: Path) -> Revision:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        head = _git(path.parent, "rev-parse", "HEAD")
    except OSError:  # no git on this machine
        return Revision(None, False, digest)
    if head.returncode != 0:
        return Revision(None, False, digest)
    status = _git(path.parent, "status", "--porcelain", "--", path.name)
    return Revision(head.stdout.strip(), bool(status.stdout.strip()), digest)


def holder() -> str:
    """Who takes the lock, for the message another deployer sees."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DynamoDBItems(Protocol):
    def put_item(self, **kwargs: Any) -> object: ...

    def get_item(self, **kwargs: Any) -> dict[str, Any]: ...

    def delete_item(self, **kwargs: Any) -> object: ...


class DeployLock:
    """The lock and revision items of one environment's history table."""

    def __init__(
        self,
        factory: ClientFactory,
        table: str,
        *,
        lease_seconds: int = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.client = cast(DynamoDBItems, factory.client("dynamodb"))
        self.lease_seconds = lease_seconds
        self.clock = clock
        # Whether this process holds the lock now (`held`): only then is there a deployed
        # revision to compare with (no table yet, or one plan will refuse, has none).
        self.holding = False

    @contextmanager
    def held(self, revision: Revision, who: str | None = None) -> Iterator[None]:
        token = self.acquire(revision, who or holder())
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            self.release(token)

    def acquire(self, revision: Revision, who: str) -> str:
        now = self.clock()
        token = uuid.uuid4().hex
        item = {
            **deploy_lock_key(),
            "holder": {"S": who},
            "token": {"S": token},
            "revision": {"S": revision.describe()},
            "acquired_at": {"S": _iso(now)},
            "expires_at": {"N": str(int(now + self.lease_seconds))},
        }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                # Free, or its holder's lease ran out (a crashed or killed apply).
                ConditionExpression=f"attribute_not_exists({PK}) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            raise self._locked() from None
        return token

    def _locked(self) -> DeployLocked:
        found = self.client.get_item(
            TableName=self.table, Key=deploy_lock_key(), ConsistentRead=True
        ).get("Item", {})
        who = found.get("holder", {}).get("S", "another deploy")
        since = found.get("acquired_at", {}).get("S", "?")
        expires = _iso(float(found.get("expires_at", {}).get("N", "0")))
        return DeployLocked(
            f"{self.table}: the deploy lock is held by {who} since {since} "
            f"(applying {found.get('revision', {}).get('S', '?')}); it expires at {expires}: "
            "wait for that apply to finish, or until then if it died"
        )

    def release(self, token: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=deploy_lock_key(),
                # Only our own: after a lease ran out, another apply may hold it now.
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except botocore.exceptions.ClientError as exc:
            # Taken over after our lease, or the table is gone (destroy): not ours to free.
            if error_code(exc) not in {
                "ConditionalCheckFailedException",
                "ResourceNotFoundException",
            }:
                raise

    def deployed(self) -> dict[str, Any] | None:
        """The revision last applied; None before the first apply (no table, or no item)."""
        try:
            found = self.client.get_item(
                TableName=self.table, Key=deploy_revision_key(), ConsistentRead=True
            )
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return None
        item = found.get("Item")
        if item is None:
            return None
        return {
            "commit": item.get("commit", {}).get("S"),
            "digest": item.get("digest", {}).get("S"),
            "sequence": int(item.get("sequence", {}).get("N", "0")),
            "deployed_at": item.get("deployed_at", {}).get("S"),
            "by": item.get("by", {}).get("S"),
        }

    def check(self, revision: Revision, checkout: Path, *, allow_older: bool) -> None:
        """Refuses `revision` when it does not contain the deployed commit."""
        if not self.holding:
            return  # the environment's first apply, or one its plan refuses
        deployed = self.deployed()
        if allow_older or deployed is None or not deployed["commit"]:
            return  # nothing recorded to go back from (or told to)
        older = _not_containing(checkout, deployed["commit"], revision)
        if older:
            raise OlderRevision(
                f"{self.table}: deployed is revision {deployed['sequence']}, commit "
                f"{deployed['commit'][:12]} (by {deployed['by']} at {deployed['deployed_at']}); "
                f"this checkout ({revision.describe()}) {older}: applying it would revert "
                "that deploy. Update this checkout, or pass --allow-older to deploy it anyway"
            )

    def record(self, revision: Revision, who: str | None = None) -> None:
        deployed = self.deployed()
        sequence = (deployed["sequence"] if deployed else 0) + 1
        item = {
            **deploy_revision_key(),
            "sequence": {"N": str(sequence)},
            "digest": {"S": revision.digest},
            "dirty": {"BOOL": revision.dirty},
            "deployed_at": {"S": _iso(self.clock())},
            "by": {"S": who or holder()},
        }
        if revision.commit:
            item["commit"] = {"S": revision.commit}
        self.client.put_item(TableName=self.table, Item=item)


def _not_containing(checkout: Path, deployed: str, revision: Revision) -> str | None:
    """Why `revision` is not at or after the deployed commit; None when it is."""
    if revision.commit is None:
        return "is not a git checkout, so it cannot be shown to contain the deployed commit"
    if revision.commit == deployed:
        return None
    known = _git(checkout, "cat-file", "-e", f"{deployed}^{{commit}}")
    if known.returncode != 0:
        return "does not have the deployed commit (fetch it?)"
    ancestor = _git(checkout, "merge-base", "--is-ancestor", deployed, revision.commit)
    if ancestor.returncode == 0:
        return None
    return "does not contain the deployed commit (it is older, or on another branch)"
