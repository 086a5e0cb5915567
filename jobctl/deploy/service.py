"""Deploy use cases: plan, apply and destroy one project environment.

Owns wiring (the gateway registry, from a client factory), the environment's
account/region pin, the lookup of task definition roles, and where the deploy lock is
held (`jobctl.deploy.lock`). Invariant: one plan is computed per command, and apply
executes that plan and nothing else, under the lock taken before it was planned.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache

from chalicelib.aws.clients import AwsContext, AwsSetupError, ClientFactory, describe_error
from chalicelib.core.errors import JobctlError
from chalicelib.core.history import KEY
from chalicelib.core.names import shared_names
from jobctl.deploy.apply import ApplyResult, apply_plan
from jobctl.deploy.desired import TaskDefinitionInfo, desired_resources
from jobctl.deploy.gateways import Gateway, build_gateways
from jobctl.deploy.lock import DeployLock, Revision
from jobctl.deploy.plan import Action, Plan, compute_plan
from jobctl.deploy.references import ReferenceResolver, Resolution
from jobctl.deploy.resources import ResourceKind, owned_by
from jobctl.registry.loader import Registry


class TaskDefinitionError(JobctlError):
    """A job names a task definition that cannot be found (one line for users)."""


class DeployService:
    def __init__(
        self,
        factory: ClientFactory,
        registry: Registry,
        env: str | None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.factory = factory
        self.registry = registry
        self.env = env
        # Plans read every resource in full (`--refresh`) instead of glancing first.
        self.refresh = False
        self._context: AwsContext | None = None
        # jobs.yaml's references (`${env:...}` reads `environ`), resolved at plan time.
        self.resolver = ReferenceResolver(
            registry, env, factory, os.environ if environ is None else environ
        )

    @property
    def references(self) -> list[Resolution]:
        """What the last plan resolved each reference to, in file order."""
        return self.resolver.all

    @property
    def context(self) -> AwsContext:
        if self._context is None:
            self._context = self.factory.context()
            self._check_pin(self._context)
        return self._context

    def _check_pin(self, context: AwsContext) -> None:
        _, region = self.registry.pins.get(self.env or "", (None, None))
        account = self.resolver.account()
        where = f"environment '{self.env}'"
        if account and account != context.account:
            raise AwsSetupError(
                f"{where} deploys to account {account}, but these credentials are for "
                f"account {context.account}"
            )
        if region and region != context.region:
            raise AwsSetupError(
                f"{where} deploys to region {region}, but the region is {context.region}"
            )

    def gateways(self) -> dict[ResourceKind, Gateway]:
        return build_gateways(self.factory, self.context, self.registry.project, self.env)

    def task_info(self) -> Callable[[str], TaskDefinitionInfo]:
        ecs = self.factory.client("ecs")

        @cache
        def lookup(task_definition: str) -> TaskDefinitionInfo:
            try:
                found = ecs.describe_task_definition(taskDefinition=task_definition)
            except Exception as exc:
                raise TaskDefinitionError(
                    f"task definition '{task_definition}' not found in {self.context.region}: "
                    f"{describe_error(exc)} (register it before deploying jobs that use it)"
                ) from None
            definition = found["taskDefinition"]
            logs = {}
            secrets = {}
            for container in definition.get("containerDefinitions", []):
                secrets[container["name"]] = sorted(
                    secret["name"] for secret in container.get("secrets") or []
                )
                config = container.get("logConfiguration") or {}
                options = config.get("options") or {}
                if config.get("logDriver") == "awslogs" and "awslogs-group" in options:
                    logs[container["name"]] = {
                        "group": options["awslogs-group"],
                        "stream_prefix": options.get("awslogs-stream-prefix", ""),
                        "region": options.get("awslogs-region", self.context.region),
                    }
            return TaskDefinitionInfo(
                definition.get("taskRoleArn"), definition.get("executionRoleArn"), logs, secrets
            )

        return lookup

    def plan(
        self, *, prune: bool = False, destroy: bool = False, refresh: bool | None = None
    ) -> Plan:
        context = self.context  # the account pin is checked before any lookup
        desired = (
            []
            if destroy
            else desired_resources(self.resolver.resolve(), self.env, context, self.task_info())
        )
        return compute_plan(
            desired,
            self.gateways(),
            self.registry.project,
            self.env,
            context,
            prune=prune,
            destroy=destroy,
            refresh=self.refresh if refresh is None else refresh,
        )

    @contextmanager
    def locked(self, revision: Revision) -> Iterator[DeployLock]:
        """Holds the environment's deploy lock (in its history table) for plan-and-apply.

        Without a history table (the environment's first apply, or after destroy) there is
        nothing deployed to revert or delete and nowhere to lock: the apply runs unlocked
        and creates the table. A table with jobctl's name but not this environment's tags,
        or with another key, is not written: plan refuses it as a conflict before any write.
        """
        names = shared_names(self.registry.project, self.env)
        table = self.gateways()[ResourceKind.TABLE].read(names.history_table)
        lock = DeployLock(self.factory, names.history_table)
        ours = table is not None and owned_by(table.tags, self.registry.project, self.env)
        if table is None or not ours or table.spec["key"] != list(KEY):
            yield lock
            return
        with lock.held(revision):
            yield lock

    def apply(
        self,
        plan: Plan,
        *,
        workers: int = 8,
        on_done: Callable[[Action, str | None], None] | None = None,
    ) -> ApplyResult:
        return apply_plan(plan, self.gateways(), workers=workers, on_done=on_done)
