"""Deploy's AWS adapters, one module per resource kind, and the registry of them by kind.

Owns `build_gateways`: the one gateway of each `ResourceKind` for a project environment,
what plan reads through and apply writes through. The modules: `base` (the `Gateway`
contract and shared read, retry and tag helpers), then `table`, `topic`, `log_group`, `role`
(job roles and the trigger role), `state_machine`, `rule`, `schedule_group`, `schedule` and
`job_meta`. Clients come from `chalicelib.aws.clients.ClientFactory`, the only place boto3
clients are made. Invariant: the registry has exactly one gateway for every kind, so plan
and apply never meet a kind they cannot handle.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.core.names import prefix, shared_names
from jobctl.deploy.gateways.base import Gateway
from jobctl.deploy.gateways.job_meta import JobMetaGateway
from jobctl.deploy.gateways.log_group import LogGroupGateway
from jobctl.deploy.gateways.role import JobRoleGateway, TriggerRoleGateway
from jobctl.deploy.gateways.rule import RuleGateway
from jobctl.deploy.gateways.schedule import ScheduleGateway
from jobctl.deploy.gateways.schedule_group import ScheduleGroupGateway
from jobctl.deploy.gateways.state_machine import StateMachineGateway
from jobctl.deploy.gateways.table import TableGateway
from jobctl.deploy.gateways.topic import TopicGateway
from jobctl.deploy.resources import ResourceKind

__all__ = ["Gateway", "Gateways", "build_gateways"]

Gateways = Mapping[ResourceKind, Gateway]


def build_gateways(
    factory: ClientFactory, context: AwsContext, project: str, env: str | None
) -> dict[ResourceKind, Gateway]:
    """One gateway per kind for `project`/`env`, all sharing `factory`'s clients."""
    base = prefix(project, env)
    gateways: list[Gateway] = [
        TableGateway(factory, context, base),
        TopicGateway(factory, context, base),
        LogGroupGateway(factory, context, base),
        TriggerRoleGateway(factory, context, base),
        ScheduleGroupGateway(factory, context, base),
        JobRoleGateway(factory, context, base),
        StateMachineGateway(factory, context, base),
        RuleGateway(factory, context, base),
        ScheduleGateway(factory, context, base),
        JobMetaGateway(factory, context, base, shared_names(project, env).history_table),
    ]
    by_kind = {gateway.kind: gateway for gateway in gateways}
    if len(by_kind) != len(gateways) or set(by_kind) != set(ResourceKind):
        raise AssertionError(f"one gateway per kind, got {sorted(g.kind for g in gateways)}")
    return by_kind
