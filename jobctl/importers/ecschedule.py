"""ecschedule configurations (rendered, or `ecschedule dump` output) -> imported jobs.

Owns the ecschedule field map. Each rule is an EventBridge rule (UTC) that runs an existing
task definition, so the schedule is kept as written (and proven against croniter), the job
references the same task definition (no new one is generated) and its container overrides
become the job's `command`/`environment`. EventBridge runs a task per trigger with no
concurrency control, no retry of a failed task and no time limit: `allow`, 0 retries and
jobctl's maximum timeout are written.
"""

from __future__ import annotations

import re
from typing import Any

from jobctl.importers.equivalence import SourceScheduleError, prove
from jobctl.importers.model import ImportedJob, ImportOptions
from jobctl.importers.report import Entry, JobReport, Ledger
from jobctl.importers.schedules import NotASchedule, eventbridge
from jobctl.importers.source import PathT, SourceDoc, refuse_templates

SYSTEM = "EventBridge"
_TOP_DROPPED = {
    "region": "the deploy's region comes from the AWS profile (pin it with "
    "environments.<env>.region)",
    "role": "jobctl creates each trigger's role",
    "plugins": "template plugins: the configuration is already rendered",
    "tracking_id": "ecschedule bookkeeping; jobctl tags what it owns",
}
_RULE_DROPPED = {
    "role": "jobctl creates each trigger's role",
    "target_id": "jobctl names each trigger's target",
    "targetId": "jobctl names each trigger's target",
    "group": "ECS task groups: jobctl tags runs by job",
    "propagateTags": "jobctl tags each run's task by job",
    "dead_letter_config": "every run is recorded and a failure alerts (jobctl's alerts)",
}


def import_documents(
    docs: list[tuple[SourceDoc, str]], options: ImportOptions
) -> tuple[list[ImportedJob], list[Entry]]:
    jobs: list[ImportedJob] = []
    for doc, text in docs:
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("rules"), list):
            refuse_templates(doc, text)  # a template is the likelier reason
            raise doc.fail((), "not an ecschedule configuration: no 'rules' list")
        refuse_templates(doc, text)
        cluster = doc.data.get("cluster")
        for index in range(len(doc.data["rules"])):
            jobs.append(_rule(doc, ("rules", index), cluster))
        top = Ledger(doc)
        if jobs and cluster is not None:
            top.mapped(("cluster",), "defaults.cluster")
        for key, why in _TOP_DROPPED.items():
            if doc.get((key,)) is not None:
                top.dropped((key,), why)
        top_entries = [e for e in top.entries() if not e.field.startswith("rules")]
        if jobs:
            jobs[0].report.entries = top_entries + jobs[0].report.entries
    return jobs, []


def _rule(doc: SourceDoc, root: PathT, cluster: Any) -> ImportedJob:
    ledger = Ledger(doc, root)
    raw = ledger.get("name")
    if not isinstance(raw, str) or not raw:
        raise doc.fail(root, "a rule needs a name")
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "job"
    ledger.mapped(("name",), f"jobs.{name}", "" if name == raw else f"'{raw}' made a job name")
    settings: dict[str, Any] = {}
    description = ledger.get("description")
    settings["description"] = (
        str(description) if description else f"Imported from ecschedule rule {raw}"
    )
    if description:
        ledger.mapped(("description",), "description")
    text = ledger.get("scheduleExpression")
    if not isinstance(text, str):
        raise doc.fail(root, "a rule needs scheduleExpression")
    try:
        source, candidates = eventbridge(text)
        source.check()
    except (NotASchedule, SourceScheduleError) as exc:
        raise doc.fail((*root, "scheduleExpression"), f"scheduleExpression: {exc}") from None
    check, chosen = prove(source, candidates, SYSTEM)
    ledger.mapped(
        ("scheduleExpression",), "schedule", "equivalence proven" if chosen else "refused"
    )
    if chosen:
        settings["schedule"] = chosen[0]
    task = ledger.get("taskDefinition")
    if not isinstance(task, str) or not task:
        raise doc.fail(root, "a rule needs taskDefinition")
    settings["task_definition"] = task
    ledger.mapped(("taskDefinition",), "task_definition", "the existing task definition")
    overrides = ledger.get("containerOverrides") or []
    if overrides:
        first = overrides[0]
        settings["container"] = str(first.get("name"))
        ledger.mapped(("containerOverrides", 0, "name"), "container")
        if first.get("command") is not None:
            settings["command"] = [str(word) for word in first["command"]]
            ledger.mapped(("containerOverrides", 0, "command"), "command")
        if first.get("environment"):
            settings["environment"] = {
                str(k): "" if v is None else str(v) for k, v in first["environment"].items()
            }
            ledger.mapped(("containerOverrides", 0, "environment"), "environment")
        for key in ("cpu", "memory", "memoryReservation"):
            if first.get(key) is not None:
                ledger.unsupported(
                    ("containerOverrides", 0, key),
                    "a container-level size override: set it in the task definition",
                )
        ledger.unsupported_items(("containerOverrides",), "jobctl overrides one container", start=1)
    else:
        settings["container"] = "app"
        ledger.defaulted(
            ("containerOverrides",),
            "container: app",
            "no override: name the task definition's container here (placeholder 'app')",
        )
    settings["concurrency"] = "allow"
    ledger.defaulted(
        ("concurrency",), "concurrency: allow", "EventBridge starts a task at every trigger"
    )
    settings["retry"] = {"retries": 0}
    ledger.defaulted(("retries",), "retry.retries: 0", "EventBridge does not rerun a failed task")
    settings["timeout"] = "364d"
    ledger.defaulted(
        ("timeout",), "timeout: 364d", "no time limit on an ECS task; jobctl's default is 1h"
    )
    count = ledger.get("count")
    if count is not None:
        if count == 1:
            ledger.mapped(("count",), "one task per run")
        else:
            ledger.unsupported(("count",), f"{count} tasks per run: jobctl runs one")
    if ledger.get("launch_type") is not None:
        settings["launch_type"] = str(ledger.get("launch_type"))
        ledger.mapped(("launch_type",), "launch_type")
    if ledger.get("platform_version") is not None:
        settings["platform_version"] = str(ledger.get("platform_version"))
        ledger.mapped(("platform_version",), "platform_version")
    vpc = ledger.get("network_configuration", "aws_vpc_configuration")
    if isinstance(vpc, dict):
        network: dict[str, Any] = {}
        for key, value in vpc.items():
            at = ("network_configuration", "aws_vpc_configuration", key)
            if key in ("subnets", "security_groups") and isinstance(value, list):
                network[key] = [str(v) for v in value]
                ledger.mapped(at, f"network.{key}")
            elif key == "assign_public_ip":
                network["assign_public_ip"] = value == "ENABLED"
                ledger.mapped(at, "network.assign_public_ip")
        settings["network"] = network
    if ledger.get("disabled") is True:
        settings["enabled"] = False
        ledger.mapped(("disabled",), "enabled: false")
    elif ledger.get("disabled") is False:
        ledger.mapped(("disabled",), "enabled (the default)")
    for key, why in _RULE_DROPPED.items():
        if ledger.get(key) is not None:
            ledger.dropped((key,), why)
    report = JobReport(
        name=name,
        file=doc.file,
        line=doc.line_of(root),
        source=f"ecschedule rule {raw}",
        imported=chosen is not None,
        schedules=[check],
    )
    report.entries = ledger.entries()
    defaults = {"cluster": str(cluster)} if cluster else {}
    return ImportedJob(name, settings if chosen else {}, report, None, defaults=defaults)
