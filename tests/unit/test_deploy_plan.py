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
from jobctl.deploy.plan import ConflictError, agrees, compute_plan
from jobctl.deploy.render import plan_json, plan_text
from jobctl.deploy.resources import LEVELS, SPEC_HASH_TAG, Resource, ResourceKind, spec_hash

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


# --- the cheap plan: what a glance may stand for ----------------------------------------------


def rule(**spec: object) -> Resource:
    """A desired rule: its spec hash in its tags, as desired.py makes it."""
    full = {"ScheduleExpression": "rate(5 minutes)", "State": "ENABLED", "Targets": [{"Id": "1"}]}
    full |= spec
    tags = resource_tags("demo", "prod", "sync") | {SPEC_HASH_TAG: spec_hash(full)}
    return Resource(ResourceKind.RULE, "demo-prod-sync", full, tags, job="sync")


def listed(desired: Resource, **tags: str) -> Resource:
    """The rule as ListRules and the tagging API show it: no targets."""
    spec = {k: v for k, v in desired.spec.items() if k != "Targets"}
    return dataclasses.replace(desired, spec=spec, tags={**desired.tags, **tags})


def test_a_glance_agrees_only_with_exactly_the_desired_resource() -> None:
    desired = rule()
    assert agrees(listed(desired), desired)
    # A key the glance saw differs; a tag differs; the hash (what apply wrote) differs.
    assert not agrees(with_spec(listed(desired), State="DISABLED"), desired)
    assert not agrees(listed(desired, team="data"), desired)
    assert not agrees(listed(desired, **{SPEC_HASH_TAG: "stale"}), desired)
    # Without a hash tag (an older jobctl's rule), unseen targets are never taken on trust.
    old = dataclasses.replace(
        listed(desired), tags={k: v for k, v in desired.tags.items() if k != SPEC_HASH_TAG}
    )
    assert not agrees(old, desired)
    # A kind without a hash tag must be seen whole.
    role = Resource(ResourceKind.JOB_ROLE, "r", {"path": "/jobctl/", "policy": {}}, {"a": "b"})
    assert agrees(dataclasses.replace(role), role)
    assert not agrees(dataclasses.replace(role, spec={"path": "/jobctl/"}), role)


def test_what_a_glance_does_not_agree_with_is_read_in_full_and_planned_from_that() -> None:
    desired = rule(State="ENABLED")
    deployed = with_spec(desired, State="DISABLED")
    reads: list[str] = []
    gateways = memory([history_table(), deployed], reads)
    glances: list[str] = []

    def glance(self: Gateway, names: object, workers: int) -> dict[str, Resource]:
        glances.append(str(self.kind))
        if self.kind is ResourceKind.RULE:
            return {deployed.name: listed(deployed)}
        return {}

    for gateway in gateways.values():
        gateway.glance = glance.__get__(gateway)  # type: ignore[method-assign]
    table = history_table()
    plan = compute_plan([table, desired], gateways, "demo", "prod", CONTEXT)
    [action] = plan.actions
    assert (action.verb, action.previous) == ("update", deployed)  # the full read, not the glance
    assert [c.path for c in action.changes] == ["State"]
    assert f"rule {desired.name}" in reads and glances == ["rule"]

    # Unchanged: the glance stands for the resource, which is not read at all.
    reads.clear()
    gateways[ResourceKind.RULE].deployed[desired.key] = desired  # type: ignore[attr-defined]
    deployed = desired
    assert compute_plan([table, desired], gateways, "demo", "prod", CONTEXT).actions == []
    assert f"rule {desired.name}" not in reads
    # --refresh glances at nothing and reads everything.
    glances.clear()
    reads.clear()
    assert (
        compute_plan([table, desired], gateways, "demo", "prod", CONTEXT, refresh=True).actions
        == []
    )
    assert glances == [] and f"rule {desired.name}" in reads
