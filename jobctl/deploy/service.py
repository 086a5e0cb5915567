"""Deploy use cases: plan, apply and destroy one project environment.

Owns wiring (the gateway registry, from a client factory), the environment's
account/region pin, and the lookup of task definition roles. Invariant: one plan is
computed per command, and apply executes that plan and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from chalicelib.aws.clients import AwsContext, AwsSetupError, ClientFactory, describe_error
from chalicelib.core.errors import JobctlError
from jobctl.deploy.apply import ApplyResult, apply_plan
from jobctl.deploy.desired import TaskDefinitionInfo, desired_resources
from jobctl.deploy.gateways import Gateway, build_gateways
from jobctl.deploy.plan import Action, Plan, compute_plan
from jobctl.deploy.resources import ResourceKind
from jobctl.registry.loader import Registry


class TaskDefinitionError(JobctlError):
    """A job names a task definition that cannot be found (one line for users)."""


class DeployService:
    def __init__(self, factory: ClientFactory, registry: Registry, env: str | None) -> None:
        self.factory = factory
        self.registry = registry
        self.env = env
        self._context: AwsContext | None = None

    @property
    def context(self) -> AwsContext:
        if self._context is None:
            self._context = self.factory.context()
            self._check_pin(self._context)
        return self._context

    def _check_pin(self, context: AwsContext) -> None:
        account, region = self.registry.pins.get(self.env or "", (None, None))
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

    def plan(self, *, prune: bool = False, destroy: bool = False) -> Plan:
        desired = (
            []
            if destroy
            else desired_resources(self.registry, self.env, self.context, self.task_info())
        )
        return compute_plan(
            desired,
            self.gateways(),
            self.registry.project,
            self.env,
            self.context,
            prune=prune,
            destroy=destroy,
        )

    def apply(
        self,
        plan: Plan,
        *,
        workers: int = 8,
        on_done: Callable[[Action, str | None], None] | None = None,
    ) -> ApplyResult:
        return apply_plan(plan, self.gateways(), workers=workers, on_done=on_done)
