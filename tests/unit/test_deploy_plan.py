"""Plan without AWS: resource kinds, the gateway registry, and in-place refusals at plan time.

In-memory gateways stand in for AWS: reads answer from a dict, every write fails the test,
so a plan that refuses provably wrote nothing (apply never ran).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.core.names import resource_tags
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.gateways import Gateway, build_gateways
from jobctl.deploy.plan import ConflictError, compute_plan
from jobctl.deploy.render import plan_json, plan_text
from jobctl.deploy.resources import LEVELS, Resource, ResourceKind

CONTEXT = AwsContext("123456789012", "eu-west-1", "aws")


class Memory(Gateway):
    """A gateway over a dict of deployed resources; reads are logged, writes fail the test."""

    def __init__(
        self, deployed: dict[tuple[ResourceKind, str], Resource], reads: list[str]
    ) -> None:
        super().__init__(ClientFactory(region="eu-west-1"), CONTEXT, "demo-prod")
        self.deployed = deployed
        self.reads = reads

    def read(self, name: str) -> Resource | None:
        self.reads.append(f"{self.kind} {name}")
        return self.deployed.get((self.kind, name))

    def create(self, resource: Resource) -> None:
        raise AssertionError(f"create {resource.label}")

    def update(self, old: Resource, new: Resource) -> None:
        raise AssertionError(f"update {new.label}")

    def delete(self, resource: Resource) -> None:
        raise AssertionError(f"delete {resource.label}")


def memory(deployed: list[Resource], reads: list[str] | None = None) -> dict[ResourceKind, Gateway]:
    """One in-memory gateway per kind, over the same deployed resources."""
    by_key = {r.key: r for r in deployed}
    log = [] if reads is None else reads
    return {
        kind: type(f"Memory{kind.name}", (Memory,), {"kind": kind})(by_key, log)
        for kind in ResourceKind
    }


def history_table() -> Resource:
    return next(
        r
        for r in shared_resources("demo", "prod", CONTEXT.placeholders())
        if r.kind is ResourceKind.TABLE
    )


def with_spec(resource: Resource, **spec: object) -> Resource:
    return dataclasses.replace(resource, spec={**resource.spec, **spec})


def test_every_kind_has_a_level_and_exactly_one_gateway() -> None:
    assert set(LEVELS) == set(ResourceKind)
    gateways = build_gateways(ClientFactory(region="eu-west-1"), CONTEXT, "demo", "prod")
    assert set(gateways) == set(ResourceKind)
    assert all(gateway.kind is kind for kind, gateway in gateways.items())
    assert len({id(gateway) for gateway in gateways.values()}) == len(ResourceKind)


def test_a_kind_is_its_word_in_text_and_json() -> None:
    kind = ResourceKind.LOG_GROUP
    assert kind == "log-group" and f"{kind}" == str(kind) == "log-group"
    assert json.dumps({"kind": kind}) == '{"kind": "log-group"}'
    assert Resource(kind, "/aws/x", {}).label == "log-group /aws/x"


def test_an_unchanged_table_plans_nothing_and_a_new_index_is_an_update() -> None:
    table = history_table()
    assert compute_plan([table], memory([table]), "demo", "prod", CONTEXT).actions == []
    older = with_spec(table, indexes={"by_job": table.spec["indexes"]["by_job"]})
    plan = compute_plan([table], memory([older]), "demo", "prod", CONTEXT)
    assert [(a.verb, a.resource.kind) for a in plan.actions] == [("update", ResourceKind.TABLE)]
    assert plan.conflicts == []


def test_an_index_no_longer_declared_is_kept_not_refused() -> None:
    table = history_table()
    newer = with_spec(table, indexes={**table.spec["indexes"], "by_owner": ["owner"]})
    plan = compute_plan([table], memory([newer]), "demo", "prod", CONTEXT)
    assert [a.verb for a in plan.actions] == ["update"] and plan.conflicts == []


def _brackets(parts: list[str]) -> str:
    return f"[{', '.join(parts)}]"


@pytest.mark.parametrize("changed", ["hash key only", "another key", "an index key"])
def test_a_changed_key_or_index_key_is_a_conflict_before_anything_is_applied(
    changed: str,
) -> None:
    table = history_table()
    key = table.spec["key"]
    index, parts = sorted(table.spec["indexes"].items())[-1]
    if changed == "hash key only":
        deployed = with_spec(table, key=key[:1])
        change = f"key {_brackets(key[:1])} -> {_brackets(key)}"
    elif changed == "another key":
        deployed = with_spec(table, key=["id", *key[1:]])
        change = f"key {_brackets(['id', *key[1:]])} -> {_brackets(key)}"
    else:
        deployed = with_spec(table, indexes={**table.spec["indexes"], index: ["other"]})
        change = f"index {index} key [other] -> {_brackets(parts)}"
    meta = Resource(ResourceKind.JOB_META, "sync", {"config": {}, "entity": "job"}, job="sync")
    reads: list[str] = []

    with pytest.raises(ConflictError) as refused:
        compute_plan([table, meta], memory([deployed], reads), "demo", "prod", CONTEXT)
    assert str(refused.value) == (
        f"{table.label} cannot change in place: {change}. jobctl never replaces the "
        "history table (it holds the run history): deploy with the jobctl version that "
        "created it, or back the history up, delete the table and apply again"
    )
    # Only the table was read: not the META item inside it (a foreign key schema refuses the
    # read), nor anything prune would look for once the plan is refused.
    assert reads == [table.label]


def test_conflicts_of_both_kinds_are_all_listed_one_per_line() -> None:
    table = history_table()
    foreign_topic = Resource(ResourceKind.TOPIC, "demo-prod-alerts", {}, {"owner": "someone"})
    wanted = [table, dataclasses.replace(foreign_topic, tags=resource_tags("demo", "prod"))]
    gateways = memory([with_spec(table, key=["other"]), foreign_topic])
    with pytest.raises(ConflictError) as refused:
        compute_plan(wanted, gateways, "demo", "prod", CONTEXT)
    lines = str(refused.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{table.label} cannot change in place: key [other] -> ")
    assert lines[1].startswith("topic demo-prod-alerts exists but is not tagged as demo-prod's")


def test_plan_output_names_kinds_by_their_words() -> None:
    table = history_table()
    older = with_spec(table, indexes={"by_job": table.spec["indexes"]["by_job"]})
    plan = compute_plan([table], memory([older]), "demo", "prod", CONTEXT)
    assert f"  ~ {table.label}" in plan_text(plan).splitlines()
    described = json.loads(json.dumps(plan_json(plan)))["actions"][0]
    assert (described["action"], described["kind"]) == ("update", "table")
