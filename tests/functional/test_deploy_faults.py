"""Deploy when AWS misbehaves: throttling and lost responses, an apply that stops part-way,
resources with our names that are not ours, and set-up problems (region, credentials,
an unreachable endpoint). All on moto in-process; no network except a refused local port.

Faults are injected on each client's `before-send` event, registered ahead of moto's own
handler, so a faulted attempt either never reaches moto (throttled / unavailable: AWS
rejected it) or reaches it and only its response is replaced (lost: AWS did the write, the
caller saw a 500), which is what makes gateway writes prove their idempotency.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.adaptive
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import botocore_stubber

from chalicelib.aws.clients import ClientFactory
from jobctl.cli import deploy as commands
from jobctl.cli.main import main
from jobctl.deploy.resources import ResourceKind
from jobctl.deploy.service import DeployService
from jobctl.local.seed import register_task_definition as seed_task_definition
from jobctl.registry.loader import parse_registry
from tests.support.registries import BASE

REGION = "us-east-1"
ACCOUNT = "123456789012"
ENV = "staging"
PREFIX = f"demo-{ENV}"
# Four jobs: rate and cron rules, a time-zone schedule, and a disabled job.
REGISTRY = (
    BASE
    + f"""\
environments:
  {ENV}: {{}}
jobs:
  alpha: {{schedule: rate(5 minutes)}}
  beta: {{schedule: cron(0 3 * * ? *)}}
  gamma: {{schedule: cron(30 6 * * ? *), timezone: Europe/London}}
  delta: {{schedule: cron(0 12 * * ? *), enabled: false}}
"""
)
JOBS = ("alpha", "beta", "gamma", "delta")
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet")
# Where a refused connection is guaranteed: the discard port, never served here.
REFUSED = "http://127.0.0.1:9"


# --- fixtures ------------------------------------------------------------------------------


def _clear_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    # No shared config or credentials file, no instance metadata: nothing outside this test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "no-boto-config"))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff without the sleeping; its client-side rate limiter off.

    The limiter is botocore's concern, and its first throttle before the send rate has been
    measured pins a client at 0.5 requests/s, which would make these tests take minutes.
    """
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0
    )
    monkeypatch.setattr(
        botocore.retries.adaptive.ClientRateLimiter,
        "on_sending_request",
        lambda self, request, **kwargs: None,
    )


@pytest.fixture
def aws(aws_env: None, fast_retries: None) -> Iterator[None]:
    with mock_aws():
        register_task_definition()
        yield


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(REGISTRY, encoding="utf-8")
    return path


def register_task_definition() -> None:
    seed_task_definition(boto3.client("ecs", region_name=REGION))


# --- instrumentation ---------------------------------------------------------------------------


class _Raw(BytesIO):
    """What botocore reads an HTTP body from (`stream()` and `read()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


# Never matched by moto: a faulted attempt that AWS "rejected" must not reach the backend.
_NOWHERE = "http://fault-injected.invalid/"
_CLIENT_TOKEN = re.compile(rb'"ClientToken"\s*:\s*"[^"]*"')


def _throttle_response(service: str, protocol: str, url: str) -> AWSResponse:
    """A throttling error exactly as the service's wire protocol sends it."""
    if protocol == "query":  # IAM, SNS, STS
        body = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
            "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            "</Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        return AWSResponse(url, 400, {"Content-Type": "text/xml"}, _Raw(body.encode()))
    if protocol == "rest-json":  # EventBridge Scheduler: the code travels in a header
        headers = {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": "ThrottlingException",
        }
        return AWSResponse(url, 429, headers, _Raw(b'{"Message": "Rate exceeded"}'))
    code = "TooManyRequestsException" if service == "events" else "ThrottlingException"
    body = json.dumps({"__type": code, "message": "Rate exceeded"}).encode()
    return AWSResponse(url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))


def _server_error(protocol: str, status: int, url: str) -> AWSResponse:
    """A 5xx as the service's wire protocol sends it (an XML body for query services)."""
    if protocol == "query":
        body = (
            "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>"
            "<Message>injected</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        return AWSResponse(url, status, {"Content-Type": "text/xml"}, _Raw(body.encode()))
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if protocol == "rest-json":
        headers["x-amzn-ErrorType"] = "InternalServerException"
    body = json.dumps({"__type": "InternalFailure", "message": "injected"}).encode()
    return AWSResponse(url, status, headers, _Raw(body))


class Faults:
    """Seeded, bounded fault injection on `before-send`.

    Whether attempt N of a call fails is decided by a `random.Random` seeded with the seed,
    the call (operation and body) and N, so a run does not depend on thread scheduling.
    Attempts after the `in_a_row`-th always pass: botocore's 10 retries always suffice.
    `always` names (service, operation, text in the body) that fail on every attempt.
    """

    MODES = ("throttled", "unavailable", "lost")

    def __init__(
        self,
        *,
        seed: int = 7,
        rate: float = 0.0,
        in_a_row: int = 2,
        always: tuple[str, str, str] | None = None,
        reject_credentials: bool = False,
    ) -> None:
        self.seed, self.rate, self.in_a_row = seed, rate, in_a_row
        self.always = always
        self.reject_credentials = reject_credentials
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.lost_writes: list[str] = []
        # invocation id -> [(operation, attempt, mode or "ok")]
        self.attempts: dict[str, list[tuple[str, int, str]]] = {}

    def handler(self, service: str, protocol: str) -> Callable[..., AWSResponse | None]:
        def before_send(request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
            operation = event_name.rsplit(".", 1)[-1]
            attempt = _attempt(request)
            mode = self._decide(service, operation, request, attempt)
            with self.lock:
                invocation = str(request.headers.get("amz-sdk-invocation-id", b""))
                self.attempts.setdefault(invocation, []).append((operation, attempt, mode))
                if mode != "ok":
                    self.injected[mode] += 1
            if mode == "ok":
                return None
            url = request.url
            if mode == "lost":  # AWS does the work; the response never arrives
                botocore_stubber(event_name, request)
                if not operation.startswith(READ_PREFIXES):
                    with self.lock:
                        self.lost_writes.append(f"{service}.{operation}")
            request.url = _NOWHERE  # moto's handler runs next: keep it from (re)doing it
            if mode == "throttled":
                return _throttle_response(service, protocol, url)
            if mode == "credentials":
                body = (
                    "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId"
                    "</Code><Message>The security token included in the request is invalid."
                    "</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
                )
                return AWSResponse(url, 403, {"Content-Type": "text/xml"}, _Raw(body.encode()))
            return _server_error(protocol, 503 if mode == "unavailable" else 500, url)

        return before_send

    def _decide(
        self, service: str, operation: str, request: AWSPreparedRequest, attempt: int
    ) -> str:
        body = _body(request)
        if self.reject_credentials and operation == "GetCallerIdentity":
            return "credentials"
        if self.always is not None:
            wanted_service, wanted_operation, text = self.always
            if (service, operation) == (wanted_service, wanted_operation) and text in body.decode(
                errors="replace"
            ):
                return "down"
        if attempt > self.in_a_row or not self.rate:
            return "ok"
        key = hashlib.sha256(_CLIENT_TOKEN.sub(b"", body)).hexdigest()
        rng = random.Random(f"{self.seed}|{operation}|{request.url}|{key}|{attempt}")
        if rng.random() >= self.rate:
            return "ok"
        mode = rng.choice(self.MODES)
        # moto 5.2.5 answers a DeleteScheduleGroup of a missing group with a KeyError (AWS:
        # ResourceNotFoundException, which the gateway ignores), so its retry cannot be lost.
        if mode == "lost" and operation == "DeleteScheduleGroup":
            return "unavailable"
        return mode

    def max_faults_in_a_row(self) -> int:
        worst = 0
        for attempts in self.attempts.values():
            run = 0
            for _, _, mode in sorted(attempts, key=lambda a: a[1]):
                run = run + 1 if mode != "ok" else 0
                worst = max(worst, run)
        return worst

    def faulted_calls_that_recovered(self) -> tuple[int, int]:
        """(calls with a fault, of those the ones whose last attempt went through)."""
        faulted = [a for a in self.attempts.values() if any(m != "ok" for _, _, m in a)]
        recovered = [a for a in faulted if max(a, key=lambda x: x[1])[2] == "ok"]
        return len(faulted), len(recovered)


def _attempt(request: AWSPreparedRequest) -> int:
    header = request.headers.get("amz-sdk-request", b"")
    text = header.decode() if isinstance(header, bytes) else str(header)
    found = re.search(r"attempt=(\d+)", text)
    return int(found.group(1)) if found else 1


def _body(request: AWSPreparedRequest) -> bytes:
    body = request.body or b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    return b""


class Calls:
    """Every API call a factory's clients make, with its parameters (before serializing)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, str, str]] = []

    def handler(self, service: str) -> Callable[..., None]:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            with self.lock:
                self.log.append((service, model.name, json.dumps(params, default=str)))

        return record

    def mutating(self) -> list[tuple[str, str, str]]:
        return [call for call in self.log if not call[1].startswith(READ_PREFIXES)]


def instrumented_factory(
    faults: Faults | None = None, calls: Calls | None = None
) -> type[ClientFactory]:
    """A ClientFactory whose clients carry the fault injector and the call recorder."""

    class Instrumented(ClientFactory):
        def client(self, service: str) -> Any:
            client = super().client(service)
            events = client.meta.events
            if faults is not None:
                protocol = client.meta.service_model.protocol
                events.register_first(
                    "before-send", faults.handler(service, protocol), unique_id="test-faults"
                )
            if calls is not None:
                events.register(
                    "before-parameter-build", calls.handler(service), unique_id="test-calls"
                )
            return client

    return Instrumented


def service(factory: ClientFactory) -> DeployService:
    return DeployService(factory, parse_registry(REGISTRY), ENV)


def cli(*argv: str) -> int:
    return main([*argv])


def plan_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert cli("plan", "-f", str(path), "--env", ENV, "--json", "--prune") == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


# --- a. throttling and lost responses ---------------------------------------------------------


def test_apply_converges_through_throttling_and_lost_responses(aws: None) -> None:
    faults = Faults(seed=7, rate=0.25)
    factory = instrumented_factory(faults)()
    deploy = service(factory)

    plan = deploy.plan()
    assert plan.count("create") == len(plan.actions) > 0
    result = deploy.apply(plan)

    assert result.ok, result.failed
    assert len(result.done) == len(plan.actions)
    # Faults of every kind happened, each call saw at most two in a row, all recovered.
    assert all(faults.injected[mode] > 0 for mode in Faults.MODES), faults.injected
    assert faults.max_faults_in_a_row() == 2
    faulted, recovered = faults.faulted_calls_that_recovered()
    assert faulted == recovered > 10
    first_attempts = [a for calls in faults.attempts.values() for a in calls if a[1] == 1]
    share = sum(1 for a in first_attempts if a[2] != "ok") / len(first_attempts)
    assert 0.15 < share < 0.35, share
    # Some writes were done by AWS but reported as failed: the retry had to converge.
    assert faults.lost_writes, "no write lost its response: pick another seed"

    # Still faulty: the next plan (reads only) finds nothing to do.
    again = service(factory).plan(prune=True)
    assert (again.actions, again.held_back) == ([], [])
    # And without faults, the same.
    clean = service(ClientFactory()).plan(prune=True)
    assert (clean.actions, clean.held_back) == ([], [])


def test_destroy_converges_through_faults(aws: None) -> None:
    clean = service(ClientFactory())
    assert clean.apply(clean.plan()).ok
    faults = Faults(seed=11, rate=0.3)
    factory = instrumented_factory(faults)()

    deploy = service(factory)
    result = deploy.apply(deploy.plan(destroy=True))

    assert result.ok, result.failed
    assert sum(faults.injected.values()) > 0
    assert project_leftovers() == {}


# --- b. apply interrupted part-way ------------------------------------------------------------


def test_interrupted_apply_reports_what_is_left_and_converges(
    aws: None,
    registry_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # One job's state machine cannot be created: every attempt gets a 500 (retries run out).
    faults = Faults(always=("stepfunctions", "CreateStateMachine", f'"{PREFIX}-beta"'))
    monkeypatch.setattr(commands, "ClientFactory", instrumented_factory(faults))
    args = ("-f", str(registry_file), "--env", ENV)

    assert cli("apply", *args, "--yes") == 1
    err = capsys.readouterr().err
    assert faults.injected["down"] == 11  # the first attempt and botocore's 10 retries

    report = err[err.index("Apply failed part-way") :].splitlines()
    # 4 job roles + 4 shared, then 3 of 4 state machines: 11 done; the last stage never ran.
    assert report[0] == (
        "Apply failed part-way: 11 added, 0 changed, 0 destroyed; 1 failed, 8 not started:"
    )
    assert report[1] == f"  + state-machine {PREFIX}-beta: InternalFailure: injected"
    not_started = sorted(line.strip() for line in report[2:-1])
    assert not_started == sorted(
        [f"+ job-meta {job}: not started" for job in JOBS]
        + [f"+ rule {PREFIX}-{job}: not started" for job in ("alpha", "beta", "delta")]
        + [f"+ schedule {PREFIX}-gamma: not started"]
    )
    assert report[-1] == "Nothing is lost: run `jobctl apply` again to converge."
    assert "Traceback" not in err
    # Nothing of a later stage was created on top of the failure.
    events = boto3.client("events", region_name=REGION)
    assert events.list_rules(NamePrefix=PREFIX)["Rules"] == []

    # What is left is exactly what failed or never started.
    left = plan_json(registry_file, capsys)
    assert sorted((a["kind"], a["name"]) for a in left["actions"]) == sorted(
        [("state-machine", f"{PREFIX}-beta")]
        + [("job-meta", job) for job in JOBS]
        + [("rule", f"{PREFIX}-{job}") for job in ("alpha", "beta", "delta")]
        + [("schedule", f"{PREFIX}-gamma")]
    )
    assert {a["action"] for a in left["actions"]} == {"create"}

    monkeypatch.setattr(commands, "ClientFactory", ClientFactory)  # the outage is over
    assert cli("apply", *args, "--yes") == 0
    assert "Apply complete: 9 added, 0 changed, 0 destroyed." in capsys.readouterr().out
    assert plan_json(registry_file, capsys)["actions"] == []

    assert cli("destroy", *args, "--yes") == 0
    assert project_leftovers() == {}


def test_failed_write_stops_before_the_next_stage(aws: None) -> None:
    """A hook refusing the second CreateStateMachine: one failure, later stages untouched."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def refuse_second_state_machine(service_name: str, operation: str) -> None:
        with lock:
            seen[operation] += 1
            count = seen[operation]
        if operation == "CreateStateMachine" and count == 2:
            raise ClientError(
                {"Error": {"Code": "StateMachineLimitExceeded", "Message": "quota reached"}},
                operation,
            )

    deploy = service(ClientFactory(hooks=[refuse_second_state_machine]))
    plan = deploy.plan()
    result = deploy.apply(plan, workers=2)

    assert not result.ok
    assert [(a.resource.kind, error) for a, error in result.failed] == [
        (ResourceKind.STATE_MACHINE, "StateMachineLimitExceeded: quota reached")
    ]
    assert {a.resource.kind for a in result.not_started} == {
        ResourceKind.RULE,
        ResourceKind.SCHEDULE,
        ResourceKind.JOB_META,
    }
    assert {a.resource.kind for a in result.done} == {
        ResourceKind.TABLE,
        ResourceKind.TOPIC,
        ResourceKind.TRIGGER_ROLE,
        ResourceKind.SCHEDULE_GROUP,
        ResourceKind.JOB_ROLE,
        ResourceKind.STATE_MACHINE,
    }
    assert len(result.done) + len(result.failed) + len(result.not_started) == len(plan.actions)
    assert seen["PutRule"] == seen["CreateSchedule"] == seen["UpdateItem"] == 0

    clean = service(ClientFactory())
    left = clean.plan()
    failed = result.failed[0][0]
    assert sorted(a.resource.key for a in left.actions) == sorted(
        [failed.resource.key] + [a.resource.key for a in result.not_started]
    )
    assert clean.apply(left).ok
    assert clean.plan().actions == []


def project_leftovers() -> dict[str, list[str]]:
    """Everything of this project and environment still in the account, by kind."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    scheduler = boto3.client("scheduler", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    found = {
        "state machines": [m["name"] for m in sfn.list_state_machines()["stateMachines"]],
        "rules": [r["Name"] for r in events.list_rules()["Rules"]],
        "schedules": [s["Name"] for s in scheduler.list_schedules()["Schedules"]],
        "schedule groups": [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]],
        "roles": [r["RoleName"] for r in iam.list_roles(PathPrefix="/jobctl/")["Roles"]],
        "tables": ddb.list_tables()["TableNames"],
        "topics": [t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]],
    }
    ours = {kind: sorted(n for n in names if n.startswith(PREFIX)) for kind, names in found.items()}
    return {kind: names for kind, names in ours.items() if names}


# --- c. resources jobctl does not own -------------------------------------------------------------


FOREIGN_SM = f"{PREFIX}-orphan"
FOREIGN_RULE = f"{PREFIX}-orphan"
FOREIGN_ROLE = f"{PREFIX}-orphan-sfn"
OTHER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/someone-else"


def create_foreign_resources() -> None:
    """Names that start with our prefix but are not ours (untagged or another owner's)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    sfn.create_state_machine(
        name=FOREIGN_SM,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=OTHER_ROLE_ARN,
    )
    # Another project called "demo-staging" (no environments) has the same name prefix.
    boto3.client("events", region_name=REGION).put_rule(
        Name=FOREIGN_RULE,
        ScheduleExpression="rate(1 hour)",
        State="ENABLED",
        Tags=[
            {"Key": "ManagedBy", "Value": "jobctl"},
            {"Key": "jobctl:project", "Value": PREFIX},
            {"Key": "jobctl:env", "Value": ""},
        ],
    )
    boto3.client("events", region_name=REGION).put_targets(
        Rule=FOREIGN_RULE,
        Targets=[{"Id": "theirs", "Arn": sfn_arn(FOREIGN_SM), "RoleArn": OTHER_ROLE_ARN}],
    )
    # Our project, another environment: still not ours to touch from staging.
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(
        RoleName=FOREIGN_ROLE,
        Path="/jobctl/",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        Tags=[
            {"Key": "ManagedBy", "Value": "jobctl"},
            {"Key": "jobctl:project", "Value": "demo"},
            {"Key": "jobctl:env", "Value": "prod"},
        ],
    )
    iam.put_role_policy(
        RoleName=FOREIGN_ROLE,
        PolicyName="jobctl",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "states:*", "Resource": "*"}],
            }
        ),
    )


def sfn_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def describe_foreign() -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    machine = sfn.describe_state_machine(stateMachineArn=sfn_arn(FOREIGN_SM))
    rule = events.describe_rule(Name=FOREIGN_RULE)
    role = iam.get_role(RoleName=FOREIGN_ROLE)["Role"]
    snapshot = {
        "state machine": {k: machine[k] for k in ("definition", "roleArn", "status", "type")},
        "state machine tags": sfn.list_tags_for_resource(resourceArn=sfn_arn(FOREIGN_SM))["tags"],
        "rule": {k: rule.get(k) for k in ("ScheduleExpression", "State", "Description", "Arn")},
        "rule targets": events.list_targets_by_rule(Rule=FOREIGN_RULE)["Targets"],
        "rule tags": events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"],
        "role": {k: role.get(k) for k in ("Path", "Arn", "AssumeRolePolicyDocument", "Tags")},
        "role policy": iam.get_role_policy(RoleName=FOREIGN_ROLE, PolicyName="jobctl")[
            "PolicyDocument"
        ],
    }
    return json.loads(json.dumps(snapshot, default=str))  # type: ignore[no-any-return]


def test_resource_with_a_desired_name_but_not_our_tags_is_a_conflict(
    aws: None,
    registry_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    sfn.create_state_machine(
        name=f"{PREFIX}-alpha",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=OTHER_ROLE_ARN,
    )
    # Another project whose name is our prefix ("demo-staging", no environments) has a
    # rule named like our job beta's.
    events = boto3.client("events", region_name=REGION)
    events.put_rule(
        Name=f"{PREFIX}-beta",
        ScheduleExpression="rate(1 day)",
        Tags=[
            {"Key": "ManagedBy", "Value": "jobctl"},
            {"Key": "jobctl:project", "Value": PREFIX},
            {"Key": "jobctl:env", "Value": ""},
        ],
    )
    before = sfn.describe_state_machine(stateMachineArn=sfn_arn(f"{PREFIX}-alpha"))
    rule_before = events.describe_rule(Name=f"{PREFIX}-beta")
    calls = Calls()
    monkeypatch.setattr(commands, "ClientFactory", instrumented_factory(calls=calls))
    args = ("-f", str(registry_file), "--env", ENV)

    for command in (["plan", "--json"], ["apply", "--yes", "--prune"]):
        capsys.readouterr()
        assert cli(*command, *args) == 1, command
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        assert lines[0] == "jobctl: conflict:", command
        # Every conflict is listed, not only the first.
        assert sorted(lines[1:]) == [
            f"rule {PREFIX}-beta exists but is not tagged as {PREFIX}'s "
            "(ManagedBy=jobctl, jobctl:project, jobctl:env): refusing to change it",
            f"state-machine {PREFIX}-alpha exists but is not tagged as {PREFIX}'s "
            "(ManagedBy=jobctl, jobctl:project, jobctl:env): refusing to change it",
        ]
        assert captured.out == ""

    assert calls.log, "the recorder saw no calls"
    assert calls.mutating() == []
    after = sfn.describe_state_machine(stateMachineArn=sfn_arn(f"{PREFIX}-alpha"))
    assert after["definition"] == before["definition"]
    assert after["roleArn"] == before["roleArn"] == OTHER_ROLE_ARN
    assert sfn.list_tags_for_resource(resourceArn=sfn_arn(f"{PREFIX}-alpha"))["tags"] == []
    rule_after = events.describe_rule(Name=f"{PREFIX}-beta")
    for key in ("ScheduleExpression", "State", "Description", "Arn"):
        assert rule_after.get(key) == rule_before.get(key), key
    assert events.list_targets_by_rule(Rule=f"{PREFIX}-beta")["Targets"] == []


def test_prune_and_destroy_never_touch_resources_they_do_not_own(
    aws: None,
    registry_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_foreign_resources()
    before = describe_foreign()
    calls = Calls()
    monkeypatch.setattr(commands, "ClientFactory", instrumented_factory(calls=calls))
    args = ("-f", str(registry_file), "--env", ENV)

    # Discovered by name (they look like a removed job "orphan"), kept by tags: not even
    # held back for --prune.
    plan = plan_json(registry_file, capsys)
    assert all("orphan" not in json.dumps(action) for action in plan["actions"])
    assert plan["held_back"] == []

    assert cli("apply", *args, "--yes", "--prune") == 0
    assert plan_json(registry_file, capsys)["actions"] == []
    assert cli("destroy", *args, "--yes") == 0
    out = capsys.readouterr().out
    assert "orphan" not in out

    # Every resource of ours was created and then deleted; none of theirs was named.
    mutating = calls.mutating()
    assert {operation for _, operation, _ in mutating} >= {
        "CreateStateMachine",
        "DeleteStateMachine",
        "PutRule",
        "DeleteRule",
        "RemoveTargets",
        "CreateRole",
        "DeleteRole",
        "DeleteRolePolicy",
    }
    assert [call for call in mutating if "orphan" in call[2]] == []
    assert describe_foreign() == before
    assert project_leftovers() == {
        "roles": [FOREIGN_ROLE],
        "rules": [FOREIGN_RULE],
        "state machines": [FOREIGN_SM],
    }


# --- d. set-up problems: one line, exit 1, quickly ------------------------------------------------


def _one_line_failure(
    registry_file: Path, capsys: pytest.CaptureFixture[str], *, within: float
) -> str:
    capsys.readouterr()
    start = time.monotonic()
    code = cli("plan", "-f", str(registry_file), "--env", ENV)
    elapsed = time.monotonic() - start
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert elapsed < within, elapsed
    return lines[0]


def test_no_region_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", REFUSED)  # were anything sent, it goes nowhere
    line = _one_line_failure(registry_file, capsys, within=5)
    assert line.startswith("jobctl: no AWS region")


def test_no_credentials_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", REFUSED)
    line = _one_line_failure(registry_file, capsys, within=5)
    assert line.startswith("jobctl: no AWS credentials")


def test_rejected_credentials_are_one_line(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    registry_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = Faults(reject_credentials=True)
    monkeypatch.setattr(commands, "ClientFactory", instrumented_factory(faults))
    line = _one_line_failure(registry_file, capsys, within=5)
    assert line == (
        "jobctl: AWS rejected the credentials: InvalidClientTokenId: "
        "The security token included in the request is invalid."
    )
    assert faults.injected["credentials"] == 1  # not retried


def test_unreachable_endpoint_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    registry_file: Path,
    fast_retries: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", REFUSED)
    # jobctl's explicit retry config wins over AWS_MAX_ATTEMPTS (all 11 attempts are made);
    # the backoff between them is what fast_retries removes.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    line = _one_line_failure(registry_file, capsys, within=10)
    assert line == f'jobctl: cannot reach AWS: Could not connect to the endpoint URL: "{REFUSED}/"'


# --- registries without environments --------------------------------------------------------


def test_registry_without_environments_applies(aws: None) -> None:
    registry = parse_registry(BASE + "jobs:\n  alpha: {schedule: rate(5 minutes)}\n")
    deploy = DeployService(ClientFactory(), registry, None)
    result = deploy.apply(deploy.plan())
    assert result.ok, result.failed
