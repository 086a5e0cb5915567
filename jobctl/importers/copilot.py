"""AWS Copilot `type: Scheduled Job` manifests -> imported jobs.

Owns the Copilot field map. Copilot's semantics are kept: `on.schedule` is UTC (its @
shortcuts, `@every <duration>`, 5-field cron, or `none` for manual-only); `retries` is the
number of retries after the first attempt (jobctl's `retry.retries`); `timeout` bounds an
attempt; Copilot has no concurrency control (every trigger starts a run: `allow`).
`environments:` overrides are merged as Copilot merges them (mappings key by key, lists and
scalars replace) and become the job's per-environment overlay, with a task definition of its
own when the container differs.
"""

from __future__ import annotations

import shlex
from typing import Any

from chalicelib.core.durations import format_duration
from jobctl.importers.equivalence import SourceScheduleError, prove
from jobctl.importers.model import ImportedJob, ImportOptions, longest_timeout, minutes_up
from jobctl.importers.report import Entry, JobReport, Ledger, ScheduleCheck
from jobctl.importers.schedules import NotASchedule, eventbridge, go_duration, robfig
from jobctl.importers.source import PathT, SourceDoc, refuse_templates
from jobctl.importers.taskdef import ContainerSpec, fargate_size

SYSTEM = "Copilot"
NEVER = "cron(0 0 1 1 ? 1970)"  # a year in the past: EventBridge never fires it
_UNSUPPORTED = {
    "storage": "volumes/EFS: add the volume to the task definition by hand",
    "logging": "a FireLens sidecar: the task definition logs to CloudWatch Logs (awslogs)",
    "sidecars": "sidecars: add them to the task definition as non-essential containers",
    "taskdef_overrides": "apply these overrides to the generated task definition by hand",
    "env_file": "an S3 env file: add environmentFiles to the task definition",
    "exec": "ECS Exec: enable it on the cluster and task role by hand",
    "publish": "SNS topics Copilot creates: create them and pass their ARNs as environment",
}


def import_documents(
    docs: list[tuple[SourceDoc, str]], options: ImportOptions, env: str | None
) -> tuple[list[ImportedJob], list[Entry]]:
    jobs: list[ImportedJob] = []
    ignored: list[Entry] = []
    for doc, text in docs:
        data = doc.data
        if not isinstance(data, dict) or "type" not in data:
            refuse_templates(doc, text)  # a template is the likelier reason
            raise doc.fail((), "not a Copilot manifest: no 'type'")
        if data.get("type") != "Scheduled Job":
            ignored.append(
                Entry(
                    field=f"{doc.file}:{doc.line}: {data.get('type')} '{data.get('name')}'",
                    line=doc.line,
                    status="dropped",
                    note="not a Scheduled Job",
                )
            )
            continue
        refuse_templates(doc, text)
        jobs.append(_manifest(doc, options, env))
    return jobs, ignored


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


def _manifest(doc: SourceDoc, options: ImportOptions, only_env: str | None) -> ImportedJob:
    name = doc.data.get("name")
    if not isinstance(name, str) or not name:
        raise doc.fail((), "a Copilot manifest needs a name")
    ledger = Ledger(doc)
    ledger.mapped(("name",), f"jobs.{name}")
    ledger.mapped(("type",), "jobs.yaml job")
    base = _Mapper(doc, ledger, name, options)
    settings, container, check = base.run()
    overlays: dict[str, dict[str, Any]] = {}
    overlay_containers: dict[str, ContainerSpec] = {}
    checks = [check]
    imported = check.equivalent
    environments = doc.data.get("environments") or {}
    if not isinstance(environments, dict):
        raise doc.fail(("environments",), "expected a mapping of environment overrides")
    for env, override in environments.items():
        at: PathT = ("environments", env)
        if only_env is not None and env != only_env:
            ledger.dropped(at, f"not imported: --env {only_env}")
            continue
        if not isinstance(override, dict):
            ledger.dropped(at, "an empty override")
            continue
        merged = {k: v for k, v in _merge(doc.data, override).items() if k != "environments"}
        positions = dict(doc.positions)
        for path, line in doc.positions.items():
            if path[:2] == at and len(path) > 2:
                positions[path[2:]] = line
        env_doc = SourceDoc(merged, doc.file, doc.line, doc.end_line, positions)
        env_ledger = Ledger(env_doc)
        env_settings, env_container, env_check = _Mapper(env_doc, env_ledger, name, options).run()
        env_check.source = f"{env_check.source} [environments.{env}]"
        for entry in env_ledger.entries():
            shown = entry.field
            if any(
                leaf == shown or shown.startswith((leaf + ".", leaf + "["))
                for leaf in _override_fields(override)
            ):
                entry.field = f"environments.{env}.{shown}"
                if entry.target:
                    entry.target = f"environments.{env}: {entry.target}"
                ledger_entry_add(ledger, entry)
        if "on" in override:
            checks.append(env_check)
            imported = imported and env_check.equivalent
        overlay = {
            key: value
            for key, value in env_settings.items()
            if key != "description" and settings.get(key) != value
        }
        if env_container != container:
            overlay_containers[env] = env_container
        overlays[str(env)] = overlay
    report = JobReport(
        name=name,
        file=doc.file,
        line=doc.line,
        source=f"Copilot Scheduled Job {name}",
        imported=imported,
        schedules=checks,
    )
    report.entries = ledger.entries()
    return ImportedJob(
        name, settings if imported else {}, report, container, overlays, overlay_containers
    )


def _override_fields(override: dict[str, Any], prefix: str = "") -> list[str]:
    fields = []
    for key, value in override.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            fields.extend(_override_fields(value, path))
        else:
            fields.append(path)
    return fields


def ledger_entry_add(ledger: Ledger, entry: Entry) -> None:
    """Add an entry computed on an environment's merged manifest to the base ledger."""
    ledger._entries.append(((), entry))


class _Mapper:
    def __init__(self, doc: SourceDoc, ledger: Ledger, name: str, options: ImportOptions) -> None:
        self.doc, self.ledger, self.name, self.options = doc, ledger, name, options

    def fail(self, path: PathT, message: str) -> Exception:
        return self.doc.fail(path, message)

    def run(self) -> tuple[dict[str, Any], ContainerSpec, ScheduleCheck]:
        ledger = self.ledger
        settings: dict[str, Any] = {
            "description": f"Imported from Copilot Scheduled Job {self.name}"
        }
        check, value = self._schedule()
        settings["schedule"] = value
        if value == NEVER:
            settings["enabled"] = False
        container = self._container(settings)
        settings["concurrency"] = "allow"
        ledger.defaulted(
            ("concurrency",),
            "concurrency: allow",
            "Copilot starts a run at every trigger; jobctl's default is forbid, so allow is "
            "written",
        )
        retries = self.doc.get(("retries",))
        if retries is None:
            settings["retry"] = {"retries": 0}
            ledger.defaulted(("retries",), "retry.retries: 0", "unset = no retry, as jobctl")
        else:
            if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
                raise self.fail(("retries",), "retries: expected a whole number from 0 to 10")
            settings["retry"] = {"retries": retries}
            ledger.mapped(
                ("retries",), f"retry.retries: {retries}", "retries after the first attempt"
            )
        timeout = self.doc.get(("timeout",))
        longest = longest_timeout(settings["retry"]["retries"])
        if timeout is None:
            settings["timeout"] = format_duration(longest)
            ledger.defaulted(
                ("timeout",),
                f"timeout: {format_duration(longest)}",
                "unset = no limit in Copilot; jobctl's default is 1h, so the longest its "
                "retries allow is written",
            )
        else:
            seconds = go_duration(str(timeout))
            if seconds is None:
                raise self.fail(("timeout",), f"timeout: '{timeout}' is not a duration like 1h30m")
            rounded, changed = minutes_up(int(-(-seconds // 1)), 60, longest)
            settings["timeout"] = format_duration(rounded)
            ledger.mapped(
                ("timeout",),
                f"timeout: {format_duration(rounded)}",
                "rounded up to whole minutes (jobctl allows 1m-365d)" if changed else "per attempt",
            )
        self._network(settings)
        for key, why in _UNSUPPORTED.items():
            if self.doc.get((key,)) is not None:
                ledger.unsupported((key,), why)
        return settings, container, check

    def _schedule(self) -> tuple[ScheduleCheck, str]:
        text = self.doc.get(("on", "schedule"))
        if not isinstance(text, str) or not text.strip():
            raise self.fail(("on",), "a Scheduled Job needs on.schedule")
        if text.strip() == "none":
            self.ledger.mapped(
                ("on", "schedule"),
                "enabled: false",
                "manual-only: the trigger is deployed DISABLED (a schedule in 1970 that never "
                "fires); `jobctl run` starts it",
            )
            check = ScheduleCheck(
                source="none",
                source_zone="UTC",
                generated=NEVER,
                generated_zone="UTC",
                compared=0,
                equivalent=True,
                note="manual-only: no fire times on either side",
            )
            return check, NEVER
        try:
            if text.startswith(("cron(", "rate(")):
                source, candidates = eventbridge(text)
            else:
                source, candidates, _ = robfig(text, "UTC")
            source.check()
        except (NotASchedule, SourceScheduleError) as exc:
            raise self.fail(("on", "schedule"), f"on.schedule: {exc}") from None
        check, chosen = prove(source, candidates[:1], SYSTEM)
        self.ledger.mapped(
            ("on", "schedule"), "schedule", "equivalence proven" if chosen else "refused"
        )
        return check, chosen[0] if chosen else ""

    def _container(self, settings: dict[str, Any]) -> ContainerSpec:
        doc, ledger, options = self.doc, self.ledger, self.options
        image = doc.get(("image",))
        if not isinstance(image, dict):
            raise self.fail(("image",), "a Scheduled Job needs image.location or image.build")
        location = image.get("location")
        if isinstance(location, str) and location:
            ledger.mapped(("image", "location"), "task definition image")
        elif "build" in image:
            location = (
                f"{options.account}.dkr.ecr.{options.region}.amazonaws.com/{self.name}:latest"
            )
            ledger.mapped(
                ("image", "build"),
                "task definition image",
                "build and push the image to ECR, then set its URI (placeholder written)",
            )
        else:
            raise self.fail(("image",), "a Scheduled Job needs image.location or image.build")
        for key in image:
            if key not in ("location", "build"):
                ledger.unsupported(("image", key), "set the equivalent in the task definition")
        spec: dict[str, Any] = {"name": self.name, "image": location}
        for key, target in (("entrypoint", "entry_point"), ("command", "command")):
            value = doc.get((key,))
            if value is None:
                continue
            words = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
            if key == "command":
                settings["command"] = words
                ledger.mapped((key,), "command")
            else:
                spec[target] = tuple(words)
                ledger.mapped((key,), "task definition entryPoint")
        variables = doc.get(("variables",)) or {}
        spec["environment"] = tuple(
            (str(k), "" if v is None else str(v)) for k, v in variables.items()
        )
        for key in variables:
            ledger.mapped(("variables", key), f"task definition environment {key}")
        secrets = []
        for key, value in (doc.get(("secrets",)) or {}).items():
            arn = self._secret(value)
            if arn is None:
                ledger.unsupported(("secrets", key), "from_cfn: put the exported ARN here by hand")
                continue
            secrets.append((str(key), arn))
            note = "" if str(value).startswith("arn:") else "placeholder ARN: check it"
            ledger.mapped(("secrets", key), f"task definition secrets {key}", note)
        spec["secrets"] = tuple(secrets)
        cpu, memory = doc.get(("cpu",)), doc.get(("memory",))
        size_cpu, size_memory, fits = fargate_size(cpu or 256, memory or 512)
        for key, value in (("cpu", cpu), ("memory", memory)):
            if value is None:
                ledger.defaulted((key,), f"task size {size_cpu}/{size_memory}", "Copilot's default")
            elif not fits:
                ledger.unsupported((key,), "exceeds the largest Fargate size")
            else:
                changed = value != (size_cpu if key == "cpu" else size_memory)
                ledger.mapped(
                    (key,),
                    f"task size cpu {size_cpu}, memory {size_memory}",
                    "rounded up to a Fargate size" if changed else "",
                )
        spec["cpu"], spec["memory"] = size_cpu, size_memory
        platform = doc.get(("platform",))
        if platform is not None:
            text = platform if isinstance(platform, str) else str(platform.get("osfamily", ""))
            if text.startswith("linux"):
                spec["arm64"] = text.endswith("arm64")
                ledger.mapped(("platform",), "runtimePlatform")
            else:
                ledger.unsupported(
                    ("platform",), "Windows tasks: write the task definition by hand"
                )
        return ContainerSpec(**spec)

    def _secret(self, value: Any) -> str | None:
        region, account = self.options.region, self.options.account
        if isinstance(value, str):
            if value.startswith("arn:"):
                return value
            return f"arn:aws:ssm:{region}:{account}:parameter/{value.lstrip('/')}"
        if isinstance(value, dict) and "secretsmanager" in value:
            name = str(value["secretsmanager"])
            return (
                name
                if name.startswith("arn:")
                else (f"arn:aws:secretsmanager:{region}:{account}:secret:{name}")
            )
        return None

    def _network(self, settings: dict[str, Any]) -> None:
        vpc = self.doc.get(("network", "vpc"))
        if not isinstance(vpc, dict):
            if self.doc.get(("network",)) is not None:
                self.ledger.unsupported(("network",), "set network in jobs.yaml by hand")
            return
        network: dict[str, Any] = {}
        for key, value in vpc.items():
            at = ("network", "vpc", key)
            if key == "placement" and value in ("public", "private"):
                network["assign_public_ip"] = value == "public"
                self.ledger.mapped(
                    at, f"network.assign_public_ip: {str(value == 'public').lower()}"
                )
            elif (
                key == "security_groups"
                and isinstance(value, list)
                and all(isinstance(v, str) for v in value)
            ):
                network["security_groups"] = value
                self.ledger.mapped(at, "network.security_groups")
            else:
                self.ledger.unsupported(at, "set network in jobs.yaml by hand (subnets, groups)")
        if network:
            settings["network"] = network
