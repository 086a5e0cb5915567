"""Kubernetes CronJobs (batch/v1, batch/v1beta1) -> imported jobs.

Owns the CronJob field map: which jobs.yaml setting or task definition field each CronJob
field becomes, and why the rest cannot (the README's migration table is its summary). Other
kinds in the same stream (Deployments, ConfigMaps... from `kustomize build` or `helm
template`) are listed as ignored; `kind: List` is read item by item. Invariants: the
source's behaviour is kept where jobctl's default differs (backoffLimit unset = 6 retries,
concurrencyPolicy unset = Allow, activeDeadlineSeconds unset = no limit); every field is
accounted for in the job's ledger.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.core.durations import format_duration
from jobctl.importers.equivalence import SourceScheduleError, prove
from jobctl.importers.model import ImportedJob, ImportOptions, longest_timeout, minutes_up
from jobctl.importers.report import Entry, JobReport, Ledger
from jobctl.importers.schedules import NotASchedule, robfig
from jobctl.importers.source import PathT, SourceDoc, refuse_templates, render_path
from jobctl.importers.taskdef import (
    ContainerSpec,
    Volume,
    cpu_units,
    fargate_size,
    gib_up,
    memory_mib,
)

SYSTEM = "Kubernetes"
API_VERSIONS = ("batch/v1", "batch/v1beta1", "batch/v2alpha1")
# Kubernetes retries a failed pod after 10 s, doubling, capped at 6 minutes.
_K8S_BACKOFF = {"interval": "10s", "backoff_rate": 2.0, "max_interval": "6m"}
_SERVER_SET = "set by the API server, not configuration"
_NO_NODES = "Fargate places every task itself: there are no nodes to choose"
_TAG = re.compile(r"^[\w.:/=+\-@ ]*$")

_METADATA_DROPPED = {
    "annotations": "annotations serve Kubernetes tooling; ECS has no equivalent (labels "
    "become tags)",
    "uid": _SERVER_SET,
    "resourceVersion": _SERVER_SET,
    "generation": _SERVER_SET,
    "creationTimestamp": _SERVER_SET,
    "managedFields": _SERVER_SET,
    "selfLink": _SERVER_SET,
    "ownerReferences": "Kubernetes garbage collection; jobs.yaml owns the job",
    "finalizers": "Kubernetes deletion hooks; `jobctl apply --prune` deletes removed jobs",
    "generateName": "jobs.yaml names every job",
}
_POD_DROPPED = {
    "nodeSelector": _NO_NODES,
    "affinity": _NO_NODES,
    "tolerations": _NO_NODES,
    "topologySpreadConstraints": _NO_NODES,
    "priorityClassName": _NO_NODES,
    "priority": _NO_NODES,
    "preemptionPolicy": _NO_NODES,
    "schedulerName": _NO_NODES,
    "nodeName": _NO_NODES,
    "runtimeClassName": "Fargate runs every task in its own micro-VM",
    "dnsPolicy": "tasks use the VPC's resolver",
    "dnsConfig": "tasks use the VPC's resolver (set DHCP options on the VPC)",
    "enableServiceLinks": "ECS injects no service variables",
    "automountServiceAccountToken": "no Kubernetes API to call; the task role gives AWS access",
    "hostname": "Fargate tasks have no settable hostname",
    "subdomain": "Fargate tasks have no settable hostname",
    "setHostnameAsFQDN": "Fargate tasks have no settable hostname",
    "shareProcessNamespace": "one container per task here",
    "readinessGates": "a job serves no traffic",
    "os": "the task definition's runtimePlatform is Linux",
    "overhead": "Fargate sizes the task as a whole",
}
_CONTAINER_DROPPED = {
    "imagePullPolicy": "Fargate pulls the image for every task",
    "ports": "a job serves no traffic",
    "livenessProbe": "an attempt ends with its process; `timeout` bounds a hung one",
    "readinessProbe": "a job serves no traffic",
    "startupProbe": "a job serves no traffic",
    "terminationMessagePath": "ECS records the exit code and stop reason of every task",
    "terminationMessagePolicy": "ECS records the exit code and stop reason of every task",
    "stdin": "tasks run without a terminal",
    "stdinOnce": "tasks run without a terminal",
    "tty": "tasks run without a terminal",
    "resizePolicy": "Fargate sizes are fixed per task",
}
_SECURITY_DROPPED = (
    "Fargate runs each task in its own micro-VM and has no equivalent setting; "
    "set `user` in the task definition for a non-root process"
)


def import_documents(
    docs: list[tuple[SourceDoc, str]], options: ImportOptions
) -> tuple[list[ImportedJob], list[Entry]]:
    """Every CronJob of `docs` (each with its file's text), and the ignored documents."""
    jobs: list[ImportedJob] = []
    ignored: list[Entry] = []
    for doc, text in docs:
        for root in _objects(doc):
            data = doc.get(root)
            where = f"{doc.file}:{doc.line_of(root)}"
            if not isinstance(data, dict):
                raise doc.fail(root, "expected a Kubernetes object (a mapping)")
            kind = data.get("kind")
            if kind != "CronJob":
                name = (data.get("metadata") or {}).get("name", "?")
                if isinstance(data.get("metadata"), dict) or kind is not None:
                    ignored.append(
                        Entry(
                            field=f"{where}: {kind} '{name}'",
                            line=doc.line_of(root),
                            status="dropped",
                            note="not a CronJob",
                        )
                    )
                    continue
                refuse_templates(doc, text)  # a template is the likelier reason
                raise doc.fail(root, "not a Kubernetes manifest: no 'kind'")
            refuse_templates(doc, text)
            jobs.extend(_cronjob(doc, root, options))
    return jobs, ignored


def _objects(doc: SourceDoc) -> list[PathT]:
    data = doc.data
    if (
        isinstance(data, dict)
        and data.get("kind") == "List"
        and isinstance(data.get("items"), list)
    ):
        return [("items", index) for index in range(len(data["items"]))]
    return [()]


def _cronjob(doc: SourceDoc, root: PathT, options: ImportOptions) -> list[ImportedJob]:
    ledger = Ledger(doc, root)
    api = ledger.get("apiVersion")
    if api not in API_VERSIONS:
        raise doc.fail(
            (*root, "apiVersion"),
            f"CronJob apiVersion '{api}' is not {' or '.join(API_VERSIONS)}",
        )
    name, source_name = _name(doc, root, ledger)
    job = _Mapper(doc, root, ledger, name, options)
    return job.run(source_name)


def _name(doc: SourceDoc, root: PathT, ledger: Ledger) -> tuple[str, str]:
    raw = ledger.get("metadata", "name")
    if not isinstance(raw, str) or not raw:
        raise doc.fail((*root, "metadata"), "a CronJob needs metadata.name")
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-") or "job"
    note = "" if name == raw else f"'{raw}' made a jobctl job name"
    ledger.mapped(("metadata", "name"), f"jobs.{name}", note)
    ledger.mapped(("apiVersion",), "jobs.yaml job", f"read as CronJob {ledger.get('apiVersion')}")
    ledger.mapped(("kind",), "jobs.yaml job")
    return name, raw


class _Mapper:
    """One CronJob -> ImportedJob(s); records every field it reads in the ledger."""

    def __init__(
        self, doc: SourceDoc, root: PathT, ledger: Ledger, name: str, options: ImportOptions
    ) -> None:
        self.doc, self.root, self.ledger, self.name, self.options = (
            doc,
            root,
            ledger,
            name,
            options,
        )
        self.settings: dict[str, Any] = {}

    def fail(self, path: PathT, message: str) -> Exception:
        return self.doc.fail(self.root + path, f"{render_path(path)}: {message}")

    def run(self, source_name: str) -> list[ImportedJob]:
        ledger = self.ledger
        namespace = ledger.get("metadata", "namespace")
        where = f"{namespace}/{source_name}" if namespace else source_name
        self.settings["description"] = f"Imported from Kubernetes CronJob {where}"
        if namespace is not None:
            ledger.mapped(("metadata", "namespace"), "description")
        checks, chosen = self._schedule()
        self._policy()
        template = ("spec", "jobTemplate")
        self._job_spec((*template, "spec"))
        if ledger.get(*template, "metadata") is not None:
            ledger.dropped(
                (*template, "metadata"),
                "metadata of the Jobs the CronJob creates; ECS tasks are tagged by jobctl",
            )
        container = self._pod((*template, "spec", "template"))
        self._metadata()
        if ledger.get("status") is not None:
            ledger.dropped(("status",), "runtime state of the cluster, not configuration")
        report = JobReport(
            name=self.name,
            file=self.doc.file,
            line=self.doc.line_of(self.root),
            source=f"CronJob {where}",
            imported=chosen is not None,
            schedules=checks,
        )
        report.entries = ledger.entries()
        if chosen is None:
            split = checks[0].split if checks else None
            if split and self.options.split:
                return self._split(split, container, report)
            return [ImportedJob(self.name, {}, report, container)]
        value, zone = chosen
        self.settings = _with_schedule(self.settings, value, zone)
        return [ImportedJob(self.name, self.settings, report, container)]

    def _split(
        self, parts: list[str], container: ContainerSpec, report: JobReport
    ) -> list[ImportedJob]:
        jobs = []
        zone = report.schedules[0].source_zone
        for suffix, part in zip(("by-date", "by-weekday"), parts, strict=True):
            name = f"{self.name}-{suffix}"
            piece = report.model_copy(deep=True)
            piece.name, piece.imported = name, True
            piece.schedules[0].generated, piece.schedules[0].generated_zone = part, zone
            piece.schedules[0].equivalent = True
            piece.schedules[0].note = (
                f"split: '{parts[0]}' and '{parts[1]}' together fire when the source does "
                "(on a day matching both, both jobs start at that time)"
            )
            jobs.append(
                ImportedJob(name, _with_schedule(self.settings, part, zone), piece, container)
            )
        return jobs

    # ------------------------------------------------------------------ CronJob spec

    def _schedule(self) -> tuple[list[Any], tuple[str, str] | None]:
        ledger = self.ledger
        text = ledger.get("spec", "schedule")
        if not isinstance(text, str) or not text.strip():
            raise self.fail(("spec", "schedule"), "a CronJob needs a schedule")
        zone = ledger.get("spec", "timeZone")
        if zone is not None:
            if not isinstance(zone, str):
                raise self.fail(("spec", "timeZone"), "expected an IANA time zone name")
            _check_zone(zone, lambda m: self.fail(("spec", "timeZone"), m))
        try:
            source, candidates, effective = robfig(text, zone or "UTC")
            _check_zone(effective, lambda m: self.fail(("spec", "schedule"), m))
            source.check()
        except (NotASchedule, SourceScheduleError) as exc:
            raise self.fail(("spec", "schedule"), str(exc)) from None
        if zone is not None and effective != zone:
            raise self.fail(
                ("spec", "schedule"), "CRON_TZ=/TZ= in the schedule and spec.timeZone conflict"
            )
        check, chosen = prove(source, candidates, SYSTEM)
        target = "schedule" if chosen is None or chosen[1] == "UTC" else "schedule, timezone"
        ledger.mapped(("spec", "schedule"), target, "equivalence proven" if chosen else "refused")
        if zone is not None:
            ledger.mapped(("spec", "timeZone"), "timezone")
        elif effective == "UTC":
            ledger.defaulted(
                ("spec", "timeZone"),
                "UTC",
                "unset: the controller's zone (kube-controller-manager runs in UTC); "
                "jobctl jobs default to UTC too",
            )
        return [check], chosen

    def _policy(self) -> None:
        ledger = self.ledger
        policy = ledger.get("spec", "concurrencyPolicy")
        if policy is None:
            self.settings["concurrency"] = "allow"
            ledger.defaulted(
                ("spec", "concurrencyPolicy"),
                "concurrency: allow",
                "unset = Allow in Kubernetes; jobctl's default is forbid, so allow is written",
            )
        elif policy in ("Allow", "Forbid", "Replace"):
            self.settings["concurrency"] = policy.lower()
            ledger.mapped(("spec", "concurrencyPolicy"), f"concurrency: {policy.lower()}")
        else:
            raise self.fail(("spec", "concurrencyPolicy"), "expected Allow, Forbid or Replace")
        suspend = ledger.get("spec", "suspend")
        if suspend is True:
            self.settings["enabled"] = False
            ledger.mapped(
                ("spec", "suspend"),
                "enabled: false",
                "the trigger is deployed DISABLED; manual runs still work "
                "(or keep it enabled and use `jobctl pause`)",
            )
        elif suspend is False:
            ledger.mapped(("spec", "suspend"), "enabled (the default)")
        elif suspend is not None:
            raise self.fail(("spec", "suspend"), "expected true or false")
        deadline = ledger.get("spec", "startingDeadlineSeconds")
        if deadline is not None:
            seconds = _count(deadline, lambda m: self.fail(("spec", "startingDeadlineSeconds"), m))
            rounded, changed = minutes_up(seconds, 60, 86400)
            self.settings["starting_deadline"] = format_duration(rounded)
            note = f"{seconds}s rounded to {format_duration(rounded)} (jobctl allows 1m-1d)"
            ledger.mapped(
                ("spec", "startingDeadlineSeconds"),
                f"starting_deadline: {format_duration(rounded)}",
                note if changed else "a run that cannot start in time is SKIPPED (late)",
            )
        for limit in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            if ledger.get("spec", limit) is not None:
                ledger.dropped(
                    ("spec", limit),
                    "history retention is time-based: every run is kept for history.retention "
                    "(default 90d), not a count",
                )

    def _job_spec(self, spec: PathT) -> None:
        ledger = self.ledger
        backoff = ledger.get(*spec, "backoffLimit")
        retry: dict[str, Any] = {}
        if backoff is None:
            retry["retries"] = 6
            ledger.defaulted(
                (*spec, "backoffLimit"),
                "retry.retries: 6",
                "unset = 6 in Kubernetes (up to 7 attempts); jobctl's default is 0, so 6 "
                "is written",
            )
        else:
            count = _count(backoff, lambda m: self.fail((*spec, "backoffLimit"), m))
            retry["retries"] = min(count, 10)
            if count > 10:
                ledger.unsupported(
                    (*spec, "backoffLimit"),
                    f"{count} retries: jobctl allows at most 10 (retry.retries: 10 written)",
                )
            else:
                ledger.mapped(
                    (*spec, "backoffLimit"),
                    f"retry.retries: {count}",
                    f"backoffLimit {count} = up to {count + 1} attempts, as retries: {count}",
                )
        if retry["retries"]:
            retry.update(_K8S_BACKOFF)
        self.settings["retry"] = retry
        deadline = ledger.get(*spec, "activeDeadlineSeconds")
        longest = longest_timeout(retry["retries"])
        if deadline is None:
            self.settings["timeout"] = format_duration(longest)
            ledger.defaulted(
                (*spec, "activeDeadlineSeconds"),
                f"timeout: {format_duration(longest)}",
                "unset = no limit in Kubernetes; jobctl's default is 1h, so the longest its "
                "retries allow is written (a Step Functions execution runs at most 365d)",
            )
        else:
            seconds = _count(deadline, lambda m: self.fail((*spec, "activeDeadlineSeconds"), m))
            rounded, changed = minutes_up(seconds, 60, longest)
            self.settings["timeout"] = format_duration(rounded)
            ledger.mapped(
                (*spec, "activeDeadlineSeconds"),
                f"timeout: {format_duration(rounded)}",
                ("rounded up to whole minutes; " if changed else "")
                + "Kubernetes bounds the whole Job, jobctl each attempt; a timed-out attempt "
                "is not retried (retry.on_timeout: false), as in Kubernetes",
            )
        for count_field in ("completions", "parallelism"):
            value = ledger.get(*spec, count_field)
            if value is None:
                continue
            if value == 1:
                ledger.mapped((*spec, count_field), "one task per run")
            else:
                ledger.unsupported(
                    (*spec, count_field),
                    f"{value}: jobctl runs one task per run; split the work into jobs or "
                    "fan out inside the task",
                )
        self._pod_failure_policy((*spec, "podFailurePolicy"))
        dropped = {
            "ttlSecondsAfterFinished": "finished runs are kept for history.retention "
            "(time-based), nothing to clean up",
            "selector": "Kubernetes pod bookkeeping",
            "manualSelector": "Kubernetes pod bookkeeping",
            "completionMode": "one task per run",
            "podReplacementPolicy": "a failed attempt's task has stopped before the retry",
            "suspend": "Jobs created suspended; jobctl runs start immediately",
        }
        for key, why in dropped.items():
            if ledger.get(*spec, key) is not None:
                ledger.dropped((*spec, key), why)

    def _pod_failure_policy(self, path: PathT) -> None:
        rules = self.ledger.get(*path, "rules")
        if not isinstance(rules, list):
            if self.ledger.get(*path) is not None:
                self.ledger.unsupported(path, "expected rules: [...]")
            return
        for index, rule in enumerate(rules):
            at = (*path, "rules", index)
            action = rule.get("action") if isinstance(rule, dict) else None
            conditions = rule.get("onPodConditions") if isinstance(rule, dict) else None
            disruption = isinstance(conditions, list) and all(
                isinstance(c, dict) and c.get("type") == "DisruptionTarget" for c in conditions
            )
            if action == "Count":
                self.ledger.mapped(at, "retry", "every failed attempt counts toward retries")
            elif action == "Ignore" and disruption:
                self.ledger.mapped(
                    at,
                    "retry.capacity",
                    "tasks that cannot be placed or are stopped by AWS are retried by "
                    "retry.capacity without using a retry",
                )
            else:
                self.ledger.unsupported(
                    at,
                    f"{action} on {'pod conditions' if conditions else 'exit codes'}: jobctl "
                    "retries every failed attempt alike; make the command exit 0 when a retry "
                    "is pointless, or set retry.retries: 0",
                )

    # ------------------------------------------------------------------ pod template

    def _pod(self, template: PathT) -> ContainerSpec:
        ledger = self.ledger
        pod = (*template, "spec")
        if ledger.get(*template, "metadata") is not None:
            ledger.dropped((*template, "metadata"), "pod metadata; ECS tasks are tagged by jobctl")
        containers = ledger.get(*pod, "containers")
        if not isinstance(containers, list) or not containers:
            raise self.fail((*pod, "containers"), "a CronJob's pod needs a container")
        ledger.unsupported_items(
            (*pod, "containers"),
            "a sidecar: jobctl overrides one container; add it to the task definition as "
            "a non-essential container (essential: false) by hand",
            start=1,
        )
        ledger.unsupported_items(
            (*pod, "initContainers"),
            "init containers: add it to the task definition and make the job's container "
            "dependsOn it with condition SUCCESS",
        )
        restart = ledger.get(*pod, "restartPolicy")
        if restart in ("OnFailure", "Never"):
            ledger.mapped(
                (*pod, "restartPolicy"),
                "retry",
                "a failed attempt starts a new task, counted like backoffLimit",
            )
        elif restart is not None:
            raise self.fail((*pod, "restartPolicy"), "a Job's pod needs OnFailure or Never")
        for key, why in _POD_DROPPED.items():
            if ledger.get(*pod, key) is not None and key != "nodeSelector":
                ledger.dropped((*pod, key), why)
        arm64 = self._node_selector((*pod, "nodeSelector"))
        account = ledger.get(*pod, "serviceAccountName") or ledger.get(*pod, "serviceAccount")
        for key in ("serviceAccountName", "serviceAccount"):
            if ledger.get(*pod, key) is not None:
                ledger.unsupported(
                    (*pod, key),
                    f"task role placeholder 'role/{account}' in the task definition: create "
                    "an IAM role with what the service account could do (IRSA/Workload "
                    "Identity) and put its ARN in taskRoleArn",
                )
        ledger.unsupported_items(
            (*pod, "imagePullSecrets"),
            "private registry credentials: set repositoryCredentials.credentialsParameter "
            "(a Secrets Manager secret) on the container; ECR needs none",
        )
        for key in ("hostNetwork", "hostPID", "hostIPC", "hostAliases", "hostUsers"):
            if ledger.get(*pod, key) is not None:
                ledger.unsupported((*pod, key), "Fargate tasks cannot share the host's namespaces")
        grace = ledger.get(*pod, "terminationGracePeriodSeconds")
        stop_timeout = None
        if grace is not None:
            seconds = _count(grace, lambda m: self.fail((*pod, "terminationGracePeriodSeconds"), m))
            stop_timeout = max(2, min(seconds, 120))
            note = "" if stop_timeout == seconds else f"{seconds}s clamped to Fargate's 2-120s"
            ledger.mapped(
                (*pod, "terminationGracePeriodSeconds"), f"stopTimeout: {stop_timeout}", note
            )
        if ledger.get(*pod, "activeDeadlineSeconds") is not None:
            ledger.unsupported(
                (*pod, "activeDeadlineSeconds"),
                "a per-pod deadline: jobctl's timeout is per attempt; set timeout by hand",
            )
        pod_security = self._security((*pod, "securityContext"), pod_level=True)
        volumes = self._volumes(pod)
        spec = self._container((*pod, "containers", 0), volumes, pod_security)
        return spec.model_copy(
            update={"arm64": arm64, "stop_timeout": stop_timeout, "task_role": account or None}
        )

    def _node_selector(self, path: PathT) -> bool:
        selector = self.ledger.get(*path)
        arm64 = False
        if not isinstance(selector, dict):
            return arm64
        for key, value in selector.items():
            if key in ("kubernetes.io/arch", "beta.kubernetes.io/arch") and value in (
                "arm64",
                "amd64",
            ):
                arm64 = value == "arm64"
                self.ledger.mapped(
                    (*path, key),
                    f"runtimePlatform.cpuArchitecture: {'ARM64' if arm64 else 'X86_64'}",
                )
            elif key in ("kubernetes.io/os", "beta.kubernetes.io/os") and value == "linux":
                self.ledger.mapped((*path, key), "runtimePlatform.operatingSystemFamily: LINUX")
            else:
                self.ledger.dropped((*path, key), _NO_NODES)
        return arm64

    def _volumes(self, pod: PathT) -> dict[str, str]:
        """Volume name -> its kind; emptyDir volumes map to task (bind mount) volumes."""
        kinds: dict[str, str] = {}
        for index, volume in enumerate(self.ledger.get(*pod, "volumes") or []):
            if not isinstance(volume, dict):
                continue
            name = str(volume.get("name", ""))
            kind = next((key for key in volume if key != "name"), "unknown")
            kinds[name] = kind
            at = (*pod, "volumes", index)
            if kind == "emptyDir" and not (volume.get("emptyDir") or {}).get("medium"):
                self.ledger.mapped(at, f"volumes: [{{name: {name}}}]", "a task bind mount")
            else:
                self.ledger.unsupported(at, _volume_workaround(kind))
        return kinds

    def _security(self, path: PathT, *, pod_level: bool) -> dict[str, Any]:
        context = self.ledger.get(*path)
        found: dict[str, Any] = {}
        if not isinstance(context, dict):
            return found
        for key, value in context.items():
            at = (*path, key)
            if key in ("runAsUser", "runAsGroup"):
                found[key] = value
                self.ledger.mapped(at, "user")
            elif key == "readOnlyRootFilesystem" and not pod_level:
                found[key] = bool(value)
                self.ledger.mapped(at, "readonlyRootFilesystem")
            elif key == "privileged" and value:
                self.ledger.unsupported(at, "Fargate does not run privileged containers")
            else:
                self.ledger.dropped(at, _SECURITY_DROPPED)
        return found

    def _container(
        self, path: PathT, volumes: dict[str, str], pod_security: dict[str, Any]
    ) -> ContainerSpec:
        ledger = self.ledger
        name = ledger.get(*path, "name")
        image = ledger.get(*path, "image")
        if not isinstance(name, str) or not isinstance(image, str) or not image:
            raise self.fail(path, "a container needs a name and an image")
        ledger.mapped((*path, "name"), "container (the task definition's container name)")
        ledger.mapped((*path, "image"), "task definition image")
        spec: dict[str, Any] = {"name": re.sub(r"[^A-Za-z0-9_-]", "-", name), "image": image}
        command, args = ledger.get(*path, "command"), ledger.get(*path, "args")
        if command:  # an empty list is unset in Kubernetes
            spec["entry_point"] = tuple(self._strings((*path, "command"), command))
            ledger.mapped((*path, "command"), "task definition entryPoint")
        if command == []:
            ledger.mapped((*path, "command"), "the image's entrypoint", "empty = unset")
        if args == []:
            ledger.mapped((*path, "args"), "the image's command", "empty = unset")
        if args:
            self.settings["command"] = self._strings((*path, "args"), args)
            ledger.mapped((*path, "args"), "command", "the override of the container's command")
        environment, secrets = self._env((*path, "env"))
        spec["environment"], spec["secrets"] = tuple(environment), tuple(secrets)
        ledger.unsupported_items(
            (*path, "envFrom"),
            "ECS imports no whole Secret or ConfigMap: list each variable as a secret "
            "(valueFrom), or use environmentFiles (an S3 .env file)",
        )
        spec.update(self._resources((*path, "resources")))
        if ledger.get(*path, "workingDir") is not None:
            spec["working_directory"] = str(ledger.get(*path, "workingDir"))
            ledger.mapped((*path, "workingDir"), "workingDirectory")
        security = {**pod_security, **self._security((*path, "securityContext"), pod_level=False)}
        if "runAsUser" in security:
            group = security.get("runAsGroup")
            spec["user"] = f"{security['runAsUser']}" + (f":{group}" if group is not None else "")
        if "readOnlyRootFilesystem" in security:
            spec["readonly_root"] = security["readOnlyRootFilesystem"]
        mounts = []
        for index, mount in enumerate(ledger.get(*path, "volumeMounts") or []):
            at = (*path, "volumeMounts", index)
            if not isinstance(mount, dict):
                continue
            source = str(mount.get("name"))
            if volumes.get(source) == "emptyDir" and not ledger.recorded(at):
                mounts.append(
                    Volume(
                        name=source,
                        path=str(mount.get("mountPath")),
                        read_only=bool(mount.get("readOnly")),
                    )
                )
                ledger.mapped(at, "mountPoints")
            else:
                ledger.unsupported(at, f"mounts '{source}', which is not imported (see volumes)")
        spec["volumes"] = tuple(mounts)
        for key, why in _CONTAINER_DROPPED.items():
            if ledger.get(*path, key) is not None:
                ledger.dropped((*path, key), why)
        if ledger.get(*path, "lifecycle") is not None:
            ledger.unsupported(
                (*path, "lifecycle"),
                "postStart/preStop hooks: run them in the command (a wrapper script)",
            )
        return ContainerSpec(**spec)

    def _strings(self, path: PathT, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
        ):
            raise self.fail(path, "expected a list of strings")
        return [str(item) for item in value]

    def _env(self, path: PathT) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        environment: list[tuple[str, str]] = []
        secrets: list[tuple[str, str]] = []
        region, account = self.options.region, self.options.account
        for index, item in enumerate(self.ledger.get(*path) or []):
            at = (*path, index)
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise self.fail(at, "an env entry needs a name")
            name = item["name"]
            source = item.get("valueFrom")
            if source is None:
                value = item.get("value")
                environment.append((name, "" if value is None else str(value)))
                self.ledger.mapped(at, f"task definition environment {name}")
                continue
            secret = source.get("secretKeyRef") if isinstance(source, dict) else None
            config = source.get("configMapKeyRef") if isinstance(source, dict) else None
            if isinstance(secret, dict):
                arn = (
                    f"arn:aws:secretsmanager:{region}:{account}:secret:"
                    f"{secret.get('name')}:{secret.get('key')}::"
                )
                secrets.append((name, arn))
                self.ledger.mapped(
                    at,
                    f"task definition secrets {name}",
                    "placeholder ARN: store the Secret's key in Secrets Manager (JSON key "
                    f"'{secret.get('key')}') and fill in its ARN",
                )
            elif isinstance(config, dict):
                arn = (
                    f"arn:aws:ssm:{region}:{account}:parameter/"
                    f"{config.get('name')}/{config.get('key')}"
                )
                secrets.append((name, arn))
                self.ledger.mapped(
                    at,
                    f"task definition secrets {name}",
                    "placeholder SSM parameter: store the ConfigMap's key there (or inline the "
                    "value in the task definition's environment)",
                )
            else:
                self.ledger.unsupported(
                    at,
                    "fieldRef/resourceFieldRef: ECS has no downward API; the task metadata "
                    "endpoint ($ECS_CONTAINER_METADATA_URI_V4) tells a task about itself",
                )
        return environment, secrets

    def _resources(self, path: PathT) -> dict[str, Any]:
        ledger = self.ledger
        wanted: dict[str, float] = {}
        ephemeral = 0.0
        for level in ("limits", "requests"):
            for key, quantity in (ledger.get(*path, level) or {}).items():
                at = (*path, level, key)
                if key == "cpu":
                    units = cpu_units(quantity)
                    if units is None:
                        raise self.fail(at, f"'{quantity}' is not a CPU quantity")
                    wanted["cpu"] = max(wanted.get("cpu", 0.0), units)
                elif key in ("memory", "ephemeral-storage"):
                    mib = memory_mib(quantity)
                    if mib is None:
                        raise self.fail(at, f"'{quantity}' is not a quantity")
                    if key == "memory":
                        wanted["memory"] = max(wanted.get("memory", 0.0), mib)
                    else:
                        ephemeral = max(ephemeral, mib)
                else:
                    ledger.unsupported(at, f"{key}: Fargate offers CPU and memory only (no GPUs)")
        cpu, memory, fits = fargate_size(wanted.get("cpu"), wanted.get("memory"))
        asked = ", ".join(
            f"{key} {value:g}{' units' if key == 'cpu' else ' MiB'}"
            for key, value in wanted.items()
        )
        target = f"task size cpu {cpu}, memory {memory}"
        for level in ("limits", "requests"):
            for key in ("cpu", "memory"):
                if ledger.get(*path, level, key) is None:
                    continue
                if not fits:
                    ledger.unsupported(
                        (*path, level, key), f"{asked} exceeds the largest Fargate size"
                    )
                else:
                    rounded = (key == "cpu" and cpu != wanted.get("cpu")) or (
                        key == "memory" and memory != wanted.get("memory")
                    )
                    note = f"{asked} rounded up to a Fargate size" if rounded else ""
                    note += (
                        "; Fargate reserves the larger of limits and requests"
                        if level == ("requests") and ledger.get(*path, "limits")
                        else ""
                    )
                    ledger.mapped((*path, level, key), target, note.lstrip("; "))
        if not wanted:
            ledger.defaulted(
                path,
                target,
                "no cpu/memory requested: Kubernetes uses the namespace default; the "
                "smallest Fargate size is written, check it",
            )
        result: dict[str, Any] = {"cpu": cpu, "memory": memory}
        if ephemeral:
            gib = gib_up(ephemeral)
            for level in ("limits", "requests"):
                at = (*path, level, "ephemeral-storage")
                if ledger.get(*path, level, "ephemeral-storage") is None:
                    continue
                if gib <= 20:
                    ledger.mapped(at, "ephemeral storage", "Fargate's default 20 GiB covers it")
                elif gib <= 200:
                    ledger.mapped(at, f"ephemeralStorage.sizeInGiB: {max(gib, 21)}")
                else:
                    ledger.unsupported(at, "more than Fargate's 200 GiB of ephemeral storage")
            if gib > 20:
                result["ephemeral_gib"] = min(max(gib, 21), 200)
        return result

    def _metadata(self) -> None:
        ledger = self.ledger
        labels = ledger.get("metadata", "labels")
        tags: dict[str, str] = {}
        if isinstance(labels, dict):
            for key, value in labels.items():
                text = "" if value is None else str(value)
                reserved = key.lower().startswith(("aws:", "jobctl:"))
                if (
                    _TAG.match(key)
                    and _TAG.match(text)
                    and len(key) <= 128
                    and len(text) <= 256
                    and not reserved
                    and len(tags) < 40
                ):
                    tags[key] = text
                    ledger.mapped(("metadata", "labels", key), f"tags.{key}")
                else:
                    ledger.dropped(
                        ("metadata", "labels", key),
                        "not a valid AWS tag (characters, length, reserved prefix or the "
                        "40-tag limit)",
                    )
        if tags:
            self.settings["tags"] = tags
        for key, why in _METADATA_DROPPED.items():
            if ledger.get("metadata", key) is not None:
                ledger.dropped(("metadata", key), why)


def _with_schedule(settings: dict[str, Any], value: str, zone: str) -> dict[str, Any]:
    """`settings` with schedule (and timezone) after the description, as jobs.yaml reads."""
    result: dict[str, Any] = {}
    for key, item in settings.items():
        result[key] = item
        if key == "description":
            result["schedule"] = value
            if zone != "UTC":
                result["timezone"] = zone
    return result


def _check_zone(zone: str, fail: Any) -> None:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(f"unknown time zone '{zone}'") from None


def _count(value: Any, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(f"expected a whole number of at least 0, found {value!r}")
    return value


def _volume_workaround(kind: str) -> str:
    return {
        "emptyDir": "a memory-backed emptyDir: Fargate has no tmpfs; drop medium: Memory to "
        "use a task bind mount",
        "configMap": "mount a ConfigMap: pass its keys as environment or secrets, or fetch the "
        "file from S3 at start",
        "secret": "mount a Secret: pass its keys as secrets (valueFrom), or fetch the file "
        "from Secrets Manager at start",
        "persistentVolumeClaim": "a persistent volume: add an EFS volume "
        "(efsVolumeConfiguration) to the task definition",
        "hostPath": "Fargate has no host paths",
        "projected": "a projected volume: pass its sources as environment or secrets",
    }.get(kind, f"a {kind} volume: no Fargate equivalent; add an EFS volume or fetch the data")
