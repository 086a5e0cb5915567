"""The operator API through chalice.test.Client, on jobs deployed by jobctl into moto.

Executions are created but not run here (tests/e2e runs them): these tests pin what each
route answers, what it starts, and every error path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.local import LambdaEventConverter
from chalice.test import Client
from moto import mock_aws

import app as lambda_app
from chalicelib.aws.clients import ClientFactory
from jobctl.deploy.service import DeployService
from jobctl.local.seed import register_task_definition
from jobctl.registry.loader import parse_registry
from tests.support.api_caller import sign_requests_as
from tests.support.aws import offline_aws
from tests.support.history import put_runs, run_item
from tests.support.moto_state import DeployedState
from tests.support.registries import BASE

REGION = "us-east-1"
ALICE = "arn:aws:iam::123456789012:user/alice"
JOBS = (
    BASE.replace("project: demo", "project: api")
    + """\
jobs:
  report:
    schedule: cron(0 3 * * ? *)
    description: nightly report
    owner: data-team
    parameters:
      DAY: {pattern: '\\d{4}-\\d{2}-\\d{2}'}
      LEVEL: {enum: [low, high], default: low}
  zoned: {schedule: cron(0 9 * * ? *), timezone: Europe/Paris}
  off: {schedule: rate(1 hour), enabled: false}
"""
)


class Api:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.ddb = boto3.client("dynamodb", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)

    def get(self, path: str) -> tuple[int, Any]:
        response = self.client.http.get(path)
        return response.status_code, response.json_body

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        payload = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        response = self.client.http.post(
            path, headers={"Content-Type": "application/json"}, body=payload
        )
        return response.status_code, response.json_body

    def seed(self, *items: dict[str, Any]) -> None:
        put_runs(self.ddb, "api-history", list(items))

    def execution_input(self, arn: str) -> dict[str, Any]:
        return json.loads(self.sfn.describe_execution(executionArn=arn)["input"])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def deployed() -> Iterator[DeployedState]:
    """JOBS deployed once per module (a deploy takes most of a second); `api` puts its
    state back before each test."""
    with pytest.MonkeyPatch.context() as patch:
        offline_aws(patch, REGION)
        patch.setenv("JOBCTL_HISTORY_TABLE", "api-history")
        patch.setenv("JOBCTL_PREFIX", "api")
        with mock_aws():
            ecs = boto3.client("ecs", region_name=REGION)
            register_task_definition(ecs)
            deploy = DeployService(ClientFactory(region=REGION), parse_registry(JOBS), None)
            result = deploy.apply(deploy.plan())
            assert result.ok, result.failed
            yield DeployedState()


@pytest.fixture
def api(deployed: DeployedState, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    deployed.restore()
    sign_requests_as(monkeypatch, ALICE)
    with Client(lambda_app.app) as client:
        yield Api(client)


# ------------------------------------------------------------------ reads


def test_jobs_lists_every_deployed_job_with_schedule_state_and_next_run(api: Api) -> None:
    status, body = api.get("/jobs")
    assert status == 200
    jobs = {job["name"]: job for job in body["jobs"]}
    assert sorted(jobs) == ["off", "report", "zoned"]
    report = jobs["report"]
    assert (report["schedule"], report["enabled"], report["paused"]) == (
        "cron(0 3 * * ? *)",
        True,
        False,
    )
    assert report["next_run"].endswith("T03:00:00Z")
    assert jobs["zoned"]["timezone"] == "Europe/Paris"
    assert jobs["zoned"]["next_run"][11:13] in ("07", "08")  # 09:00 Paris in UTC
    assert (jobs["off"]["enabled"], jobs["off"]["next_run"]) == (False, None)


def test_job_detail_shows_parameters_and_next_runs(api: Api) -> None:
    status, body = api.get("/jobs/report")
    assert status == 200
    assert body["parameters"]["LEVEL"] == {
        "description": None,
        "pattern": None,
        "enum": ["low", "high"],
        "default": "low",
        "required": False,
    }
    assert len(body["next_runs"]) == 5
    assert body["state_machine_arn"].endswith(":stateMachine:api-report")
    assert (body["owner"], body["description"]) == ("data-team", "nightly report")


def test_runs_of_a_job_newest_first_with_filters_and_pages(api: Api) -> None:
    api.seed(
        run_item("report", "r1", "SUCCEEDED", "2026-11-20T03:00:01.000Z", exit_code=0),
        run_item("report", "r2", "FAILED", "2026-11-21T03:00:01.000Z", exit_code=3),
        run_item("report", "r3", "SUCCEEDED", "2026-11-22T03:00:01.000Z", exit_code=0),
        run_item("zoned", "z1", "FAILED", "2026-11-22T08:00:01.000Z"),
    )
    status, body = api.get("/jobs/report/runs")
    assert status == 200
    assert [run["run_id"] for run in body["runs"]] == ["r3", "r2", "r1"]
    assert body["next_token"] is None

    _, failed = api.get("/jobs/report/runs?status=failed")
    assert [(run["run_id"], run["exit_code"]) for run in failed["runs"]] == [("r2", 3)]

    _, recent = api.get("/jobs/report/runs?since=2026-11-21T00:00:00Z")
    assert [run["run_id"] for run in recent["runs"]] == ["r3", "r2"]

    _, first = api.get("/jobs/report/runs?limit=2")
    assert [run["run_id"] for run in first["runs"]] == ["r3", "r2"]
    _, second = api.get(f"/jobs/report/runs?limit=2&next_token={first['next_token']}")
    assert [run["run_id"] for run in second["runs"]] == ["r1"]
    assert second["next_token"] is None


def test_status_filter_pages_without_skipping_or_repeating(api: Api) -> None:
    items = [
        run_item(
            "report",
            f"r{i:02d}",
            "FAILED" if i % 3 == 0 else "SUCCEEDED",
            f"2026-11-{i + 1:02d}T03:00:00.000Z",
        )
        for i in range(30)
    ]
    api.seed(*items)
    seen: list[str] = []
    token = ""
    while True:
        _, page = api.get(f"/jobs/report/runs?status=FAILED&limit=3&next_token={token}")
        seen.extend(run["run_id"] for run in page["runs"])
        if not page["next_token"]:
            break
        token = page["next_token"]
    assert seen == [f"r{i:02d}" for i in range(29, -1, -1) if i % 3 == 0]


def test_runs_across_jobs_merge_statuses_newest_first_and_page(api: Api) -> None:
    api.seed(
        run_item("report", "r1", "SUCCEEDED", "2026-11-20T03:00:00.000Z"),
        run_item("zoned", "z1", "FAILED", "2026-11-21T08:00:00.000Z"),
        run_item("report", "r2", "RUNNING", "2026-11-22T03:00:00.000Z"),
        run_item("zoned", "z2", "SKIPPED", "2026-11-22T08:00:00.000Z", skip_reason="paused"),
    )
    _, everything = api.get("/runs")
    assert [run["run_id"] for run in everything["runs"]] == ["z2", "r2", "z1", "r1"]
    _, failed = api.get("/runs?status=FAILED")
    assert [run["run_id"] for run in failed["runs"]] == ["z1"]
    pages: list[str] = []
    token = ""
    while True:
        _, page = api.get(f"/runs?limit=1&next_token={token}")
        pages.extend(run["run_id"] for run in page["runs"])
        token = page["next_token"]
        if not token:
            break
    assert pages == ["z2", "r2", "z1", "r1"]


def test_run_detail_has_everything_an_operator_needs(api: Api) -> None:
    api.seed(
        run_item(
            "report",
            "manual-1",
            "FAILED",
            "2026-11-22T03:00:00.000Z",
            trigger="manual",
            triggered_by=ALICE,
            reason="backfill",
            parameters={"DAY": "2026-11-01"},
            attempts=3,
            exit_code=3,
            stopped_reason="Essential container in task exited",
            task_arn="arn:aws:ecs:us-east-1:123456789012:task/app/abc123",
            ended_at="2026-11-22T03:05:00.000Z",
        )
    )
    status, run = api.get("/runs/manual-1")
    assert status == 200
    assert (run["job"], run["status"], run["attempts"], run["exit_code"]) == (
        "report",
        "FAILED",
        3,
        3,
    )
    assert (run["trigger"], run["triggered_by"], run["reason"]) == ("manual", ALICE, "backfill")
    assert run["parameters"] == {"DAY": "2026-11-01"}
    assert run["console_url"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    assert run["log_url"].endswith("app-batch$252Fapp$252Fabc123")


# ------------------------------------------------------------------ actions


def test_manual_run_passes_declared_parameters_and_who_and_why(api: Api) -> None:
    status, started = api.post(
        "/jobs/report/runs", {"parameters": {"DAY": "2026-11-01"}, "reason": "backfill"}
    )
    assert status == 202
    assert started["run_id"].startswith("manual-") and started["triggered_by"] == ALICE
    assert api.execution_input(started["execution_arn"]) == {
        "trigger": "manual",
        "triggered_by": ALICE,
        "reason": "backfill",
        "parameters": {"DAY": "2026-11-01"},
    }


def test_rerun_repeats_the_parameters_and_links_to_the_original(api: Api) -> None:
    api.seed(
        run_item("report", "r1", "FAILED", "2026-11-22T03:00:00.000Z", parameters={"LEVEL": "high"})
    )
    status, started = api.post("/runs/r1/rerun", {"reason": "fixed the bucket policy"})
    assert status == 202
    assert (started["job"], started["rerun_of"]) == ("report", "r1")
    assert api.execution_input(started["execution_arn"]) == {
        "trigger": "rerun",
        "triggered_by": ALICE,
        "reason": "fixed the bucket policy",
        "parameters": {"LEVEL": "high"},
        "rerun_of": "r1",
    }
    status, again = api.post("/runs/r1/rerun")
    assert status == 202 and api.execution_input(again["execution_arn"])["reason"] == "re-run of r1"


def test_pause_and_resume_flip_the_flag_the_claim_step_reads(api: Api) -> None:
    status, paused = api.post("/jobs/report/pause", {"reason": "bucket migration"})
    assert status == 200 and (paused["paused"], paused["by"]) == (True, ALICE)
    meta = api.ddb.get_item(
        TableName="api-history", Key={"pk": {"S": "JOB#report"}, "sk": {"S": "META"}}
    )["Item"]
    assert meta["paused"] == {"BOOL": True} and meta["paused_reason"] == {"S": "bucket migration"}
    _, job = api.get("/jobs/report")
    assert (job["paused"], job["next_run"], job["paused_by"]) == (True, None, ALICE)
    status, refused = api.post("/jobs/report/runs", {"reason": "try"})
    assert (status, refused["error"]) == (409, "Conflict")
    # The trigger stays as jobs.yaml says: pausing never disables the deployed rule.
    rule = boto3.client("events", region_name=REGION).describe_rule(Name="api-report")
    assert rule["State"] == "ENABLED"
    status, resumed = api.post("/jobs/report/resume")
    assert status == 200 and resumed["paused"] is False
    assert api.post("/jobs/report/runs", {"reason": "try"})[0] == 202


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/jobs/nope", 404, "NotFound"),
        ("/jobs/nope/runs", 404, "NotFound"),
        ("/runs/nope", 404, "NotFound"),
        ("/jobs/report/runs?status=BOGUS", 400, "BadRequest"),
        ("/jobs/report/runs?limit=0", 400, "BadRequest"),
        ("/jobs/report/runs?limit=ten", 400, "BadRequest"),
        ("/jobs/report/runs?since=yesterday", 400, "BadRequest"),
        ("/jobs/report/runs?next_token=garbage", 400, "BadRequest"),
        ("/jobs/report/runs?next_token=e30=", 400, "BadRequest"),
        ("/jobs/report/runs?colour=blue", 400, "BadRequest"),
        ("/runs?next_token=eyJjdXJzb3JzIjogMX0=", 400, "BadRequest"),
    ],
)
def test_bad_reads_get_json_errors(api: Api, path: str, status: int, error: str) -> None:
    got, body = api.get(path)
    assert (got, body["error"]) == (status, error)
    assert body["message"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"parameters": {"DAY": "yesterday"}, "reason": "x"}, "DAY", "pattern"),
        ({"parameters": {"LEVEL": "max"}, "reason": "x"}, "LEVEL", "one of: low, high"),
        ({"parameters": {"COLOUR": "red"}, "reason": "x"}, "COLOUR", "does not declare"),
        ({"parameters": {"AWS_REGION": "x"}, "reason": "x"}, "AWS_REGION", "reserved"),
        ({"parameters": {"LD_PRELOAD": "/tmp/x.so"}, "reason": "x"}, "LD_PRELOAD", "reserved"),
        ({"parameters": {"DAY": "2026-11-01; rm -rf /"}, "reason": "x"}, "DAY", "pattern"),
        ({"parameters": {"DAY": "２０２６-１１-０１"}, "reason": "x"}, "DAY", "pattern"),
        ({"parameters": {"DAY": 20261101}, "reason": "x"}, "parameters.DAY", "string"),
        ({"parameters": {"DAY": "2026-11-01"}}, "reason", "required"),
        ({"parameters": {}, "reason": "   "}, "reason", "at least 1"),
        ({"reason": "x", "force": True}, "force", "not a field"),
    ],
)
def test_manual_run_refuses_bad_parameters_naming_them(
    api: Api, body: dict[str, Any], field: str, words: str
) -> None:
    status, answer = api.post("/jobs/report/runs", body)
    assert (status, answer["error"], answer["field"]) == (400, "BadRequest", field)
    assert words in answer["message"]
    executions = api.sfn.list_executions(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:api-report"
    )["executions"]
    assert executions == [], "nothing may start on a refused request"


def test_malformed_and_oversized_bodies(api: Api) -> None:
    assert api.post("/jobs/report/runs", raw=b"{not json")[0] == 400
    assert api.post("/jobs/report/runs", raw=b"[1, 2]")[0] == 400
    assert api.post("/jobs/report/runs", raw=b"\xff\xfe")[0] == 400
    big = json.dumps({"reason": "x" * 20_000}).encode()
    status, body = api.post("/jobs/report/runs", raw=big)
    assert (status, body["error"]) == (413, "PayloadTooLarge")
    assert api.post("/jobs/nope/runs", {"reason": "x"})[0] == 404
    assert api.post("/runs/nope/rerun")[0] == 404
    assert api.post("/jobs/nope/pause")[0] == 404
    assert api.post("/jobs/nope/resume")[0] == 404


def test_every_route_but_slack_requires_iam() -> None:
    routes = lambda_app.app.routes
    assert routes, "the app declares routes"
    for path, methods in routes.items():
        for method, entry in methods.items():
            if path.startswith("/slack/"):
                assert entry.authorizer is None, f"{method} {path}: Slack signs its own requests"
                continue
            assert entry.authorizer is not None, f"{method} {path} has no authorizer"
            assert entry.authorizer.to_swagger()["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_packaged_template_puts_sigv4_on_every_route_but_slack(tmp_path: Path) -> None:
    root = Path(lambda_app.__file__).resolve().parent
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(root / "app.py", project / "app.py")
    shutil.copytree(root / "chalicelib", project / "chalicelib", ignore=_caches)
    shutil.copytree(root / ".chalice", project / ".chalice", ignore=_caches)
    # The tooling sits beside the runtime, as in the repository: Chalice must leave it out.
    shutil.copytree(root / "jobctl", project / "jobctl", ignore=_caches)
    chalice = Path(sys.executable).with_name("chalice")
    environment = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    for stage in json.loads((root / ".chalice" / "config.json").read_text())["stages"]:
        out = tmp_path / f"out-{stage}"
        subprocess.run(
            [str(chalice), "package", "--stage", stage, str(out)],
            cwd=project,
            env=environment,
            check=True,
            capture_output=True,
            timeout=120,
        )
        with zipfile.ZipFile(out / "deployment.zip") as bundle:
            tops = {name.split("/")[0] for name in bundle.namelist()}
        assert {"app.py", "chalicelib"} <= tops
        assert "jobctl" not in tops, f"{stage}: the Lambda bundle carries the CLI's tooling"
        template = json.loads((out / "sam.json").read_text())
        swagger = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
        assert swagger["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
        operations = [
            (path, method, spec)
            for path, methods in swagger["paths"].items()
            for method, spec in methods.items()
        ]
        assert len(operations) >= 9
        for path, method, spec in operations:
            if path.startswith("/slack/"):
                assert "security" not in spec, f"{method} {path}"
            else:
                assert spec.get("security") == [{"sigv4": []}], f"{stage}: {method} {path}"


def _caches(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if name in ("__pycache__", "deployments", ".mypy_cache")]


# ------------------------------------------------------------------ hostile input (issue 12)


def _forged(data: Any) -> str:
    """A token as the API issued them before they were signed: base64 of JSON."""
    import base64

    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


JOB_KEY = {"pk": {"S": "JOB#report"}, "sk": {"S": "RUN#r1"}}
TAMPERED_TOKENS = [
    _forged({**JOB_KEY, "job": {"S": "report"}, "job_time": {"S": 1}}),  # a non-string value
    _forged({"pk": {"S": ["x"]}, "sk": {"S": {"a": 1}}}),
    _forged(JOB_KEY),  # the index's own key attributes missing
    _forged({**JOB_KEY, "job": {"S": "zoned"}, "job_time": {"S": "2026-11-20T03:00:01.000Z#r1"}}),
    _forged({"cursors": {"FAILED": JOB_KEY}}),
    _forged({"cursors": {"FAILED": {**JOB_KEY, "status": {"S": "FAILED"}, "status_time": 5}}}),
    "A" * 100_000,
    "1." + "A" * 5000 + ".sig",
]


@pytest.mark.parametrize("token", TAMPERED_TOKENS, ids=lambda token: token[:24])
@pytest.mark.parametrize(
    "path", ["/jobs/report/runs", "/jobs/report/runs?status=FAILED", "/runs", "/runs?status=FAILED"]
)
def test_tampered_and_oversized_tokens_are_400_naming_next_token(
    api: Api, path: str, token: str
) -> None:
    api.seed(run_item("report", "r1", "FAILED", "2026-11-20T03:00:01.000Z"))
    joiner = "&" if "?" in path else "?"
    got, body = api.get(f"{path}{joiner}next_token={token}")
    assert (got, body["error"], body.get("field")) == (400, "BadRequest", "next_token"), body
    assert token[:200] not in body["message"], "a refused token is not echoed back"


def test_a_token_continues_only_the_listing_it_was_issued_for(api: Api) -> None:
    api.seed(
        *[
            run_item("report", f"r{i}", "FAILED", f"2026-11-2{i}T03:00:01.000Z")
            for i in range(1, 4)
        ],
        *[run_item("zoned", f"z{i}", "FAILED", f"2026-11-2{i}T08:00:01.000Z") for i in range(1, 4)],
    )
    _, first = api.get("/jobs/report/runs?limit=1")
    token = first["next_token"]
    assert token
    _, same = api.get(f"/jobs/report/runs?limit=1&next_token={token}")
    assert [run["run_id"] for run in same["runs"]] == ["r2"], "the same listing continues"
    for other in (
        "/jobs/zoned/runs?limit=1",
        "/jobs/report/runs?limit=1&status=FAILED",
        "/jobs/report/runs?limit=1&since=2026-11-01T00:00:00Z",
        "/runs?limit=1",
        "/runs?limit=1&status=FAILED",
    ):
        got, body = api.get(f"{other}&next_token={token}")
        assert (got, body.get("field")) == (400, "next_token"), other
    _, merged = api.get("/runs?limit=1")
    got, body = api.get(f"/jobs/report/runs?limit=1&next_token={merged['next_token']}")
    assert (got, body.get("field")) == (400, "next_token")
    # A token is short and opaque: no DynamoDB key in clear.
    assert len(token) <= 4096 and "JOB#report" not in token


def test_a_since_listing_keeps_its_window_across_pages(api: Api) -> None:
    api.seed(
        *[
            run_item("report", f"r{i}", "SUCCEEDED", f"2026-11-2{i}T03:00:01.000Z")
            for i in range(1, 4)
        ]
    )
    _, first = api.get("/jobs/report/runs?limit=2&since=3650d")
    _, second = api.get(f"/jobs/report/runs?limit=2&since=3650d&next_token={first['next_token']}")
    assert [r["run_id"] for r in first["runs"] + second["runs"]] == ["r3", "r2", "r1"]


@pytest.mark.parametrize(
    "since",
    [
        "99999999999d",
        "99999999999999999999h",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01",
    ],
)
def test_out_of_range_since_is_400_naming_since(api: Api, since: str) -> None:
    from urllib.parse import quote

    for path in ("/jobs/report/runs", "/runs"):
        got, body = api.get(f"{path}?since={quote(since)}")
        assert (got, body["error"], body.get("field")) == (400, "BadRequest", "since"), body


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 8000 + b" " * 8000,
        b'{"reason": ' + b"[" * 8000 + b"]" * 8000 + b"}",
        b'{"reason": "x", "parameters": ' + b'{"a":' * 2000 + b"1" + b"}" * 2001,
    ],
    ids=["brackets", "nested-reason", "nested-objects"],
)
def test_deeply_nested_bodies_are_400_not_500(api: Api, raw: bytes) -> None:
    assert len(raw) <= 16 * 1024
    for path in ("/jobs/report/runs", "/runs/r1/rerun", "/jobs/report/pause"):
        got, body = api.post(path, raw=raw)
        assert (got, body["error"], body.get("field")) == (400, "BadRequest", "body"), body


def test_a_request_without_a_caller_identity_is_refused_and_changes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.seed(run_item("report", "r1", "FAILED", "2026-11-22T03:00:00.000Z"))
    with_identity = LambdaEventConverter.create_lambda_event

    def anonymous(self: Any, *args: Any, **kwargs: Any) -> Any:
        event = with_identity(self, *args, **kwargs)
        for name in ("userArn", "caller", "user"):
            event["requestContext"]["identity"].pop(name, None)
        return event

    monkeypatch.setattr(LambdaEventConverter, "create_lambda_event", anonymous)
    # The local fallback names a user only under `jobctl local`: set alone, it is ignored.
    monkeypatch.setenv("JOBCTL_LOCAL_CALLER", "mallory")
    for path, payload in (
        ("/jobs/report/runs", {"reason": "x"}),
        ("/runs/r1/rerun", {}),
        ("/jobs/report/pause", {}),
        ("/jobs/report/resume", {}),
    ):
        got, body = api.post(path, payload)
        assert (got, body["error"]) == (401, "Unauthorized"), (path, body)
    executions = api.sfn.list_executions(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:api-report"
    )["executions"]
    assert executions == []
    _, job = api.get("/jobs/report")
    assert job["paused"] is False and job["paused_by"] is None


HOSTILE_TEXT = [
    "\x1b]0;pwned\x07",  # OSC: sets the terminal's title
    "\x1b[2J",  # ESC (CSI): clears the screen
    "ok\x9b31m",  # C1 CSI
    "\x85",  # C1 NEL
    "deploy \u202eexe.txt",  # bidi override
    "\u2066isolate\u2069",
    "line\nbreak",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=lambda text: repr(text)[:20])
def test_reasons_with_terminal_controls_are_refused(api: Api, text: str) -> None:
    api.seed(run_item("report", "r1", "FAILED", "2026-11-22T03:00:00.000Z"))
    for path in ("/jobs/report/runs", "/runs/r1/rerun", "/jobs/report/pause"):
        got, body = api.post(path, {"reason": text})
        assert (got, body["error"], body.get("field")) == (400, "BadRequest", "reason"), body
        assert "\x1b" not in body["message"]
    executions = api.sfn.list_executions(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:api-report"
    )["executions"]
    assert executions == []
    # Plain text, accents and emoji are still reasons.
    assert api.post("/jobs/report/runs", {"reason": "café backfill 🚀"})[0] == 202


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=lambda text: repr(text)[:20])
def test_parameter_values_with_terminal_controls_are_refused_by_the_request_model(
    api: Api, text: str
) -> None:
    got, body = api.post("/jobs/report/runs", {"parameters": {"LEVEL": text}, "reason": "x"})
    assert (got, body["error"], body.get("field")) == (400, "BadRequest", "parameters.LEVEL")
    assert "control character" in body["message"]


# ------------------------------------------------------------------ issue 13: operations


def _edit_config(api: Api, job: str, **changes: Any) -> None:
    """Change what deploy recorded about `job` (its META `config`), as another deploy would."""
    key = {"pk": {"S": f"JOB#{job}"}, "sk": {"S": "META"}}
    config = json.loads(api.ddb.get_item(TableName="api-history", Key=key)["Item"]["config"]["S"])
    config.update(changes)
    api.ddb.update_item(
        TableName="api-history",
        Key=key,
        UpdateExpression="SET config = :c",
        ExpressionAttributeValues={":c": {"S": json.dumps(config, sort_keys=True)}},
    )


def test_unknown_routes_are_404_in_the_error_shape(api: Api) -> None:
    for path in ("/", "/nope", "/runs/x/nope", "/jobs/report/runs/extra"):
        status, body = api.get(path)
        assert (status, body["error"]) == (404, "NotFound"), path
    response = api.client.http.delete("/jobs/report/nothing")
    assert response.status_code == 404 and response.json_body["error"] == "NotFound"


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/x-www-form-urlencoded"}])
def test_a_post_is_json_whatever_its_content_type(api: Api, headers: dict[str, str]) -> None:
    """curl -d sends a form type: chalice answered 415 in its own error shape."""
    response = api.client.http.post("/jobs/report/pause", headers=headers, body=b"{}")
    assert response.status_code == 200, response.body
    response = api.client.http.post("/jobs/report/runs", headers=headers, body=b"not json")
    assert (response.status_code, response.json_body["field"]) == (400, "body")


def test_pausing_again_without_a_reason_keeps_who_and_why(api: Api) -> None:
    assert api.post("/jobs/report/pause", {"reason": "bucket migration"})[0] == 200
    status, again = api.post("/jobs/report/pause")
    assert status == 200
    assert (again["reason"], again["by"], again["changed"]) == ("bucket migration", ALICE, False)
    jobs = {job["name"]: job for job in api.get("/jobs")[1]["jobs"]}
    assert (jobs["report"]["paused_reason"], jobs["report"]["paused_by"]) == (
        "bucket migration",
        ALICE,
    )
    assert jobs["zoned"]["paused_reason"] is None


def test_a_rate_jobs_next_run_is_exact_only_from_a_fire_time_aws_produced(api: Api) -> None:
    _edit_config(
        api, "zoned", schedule="rate(1 hour)", schedule_source="rate(1 hour)", timezone=None
    )
    _, body = api.get("/jobs/zoned")
    assert body["next_run_exact"] is False, "EventBridge counts a rate from the rule's creation"
    # The last scheduled run anchors the rate: 03:17 + k hours.
    api.seed(run_item("zoned", "tick", "SUCCEEDED", "2026-11-22T03:17:00.000Z", trigger="schedule"))
    api.ddb.update_item(
        TableName="api-history",
        Key={"pk": {"S": "JOB#zoned"}, "sk": {"S": "META"}},
        UpdateExpression="SET last_run = :r",
        ExpressionAttributeValues={":r": {"S": "tick"}},
    )
    _, body = api.get("/jobs/zoned")
    assert body["next_run_exact"] is True
    assert all(moment[13:] == ":17:00Z" for moment in body["next_runs"]), body["next_runs"]
    assert body["next_run"] == body["next_runs"][0]


def test_a_manual_run_missing_a_required_parameter_is_refused(api: Api) -> None:
    _edit_config(api, "zoned", parameters={"TARGET": {"required": True}})
    for given in ({}, {"TARGET": ""}):
        status, body = api.post("/jobs/zoned/runs", {"parameters": given, "reason": "x"})
        assert (status, body["field"]) == (400, "TARGET"), given
        assert "required" in body["message"]
    assert api.post("/jobs/zoned/runs", {"parameters": {"TARGET": "eu"}, "reason": "x"})[0] == 202


def test_stop_refuses_finished_unknown_and_unexplained_runs(api: Api) -> None:
    api.seed(run_item("report", "done-1", "SUCCEEDED", "2026-11-22T03:00:00.000Z"))
    status, body = api.post("/runs/done-1/stop", {"reason": "oops"})
    assert (status, body["error"]) == (409, "Conflict")
    assert "already ended SUCCEEDED" in body["message"]
    assert api.post("/runs/nope/stop", {"reason": "x"})[0] == 404
    status, body = api.post("/runs/done-1/stop")
    assert (status, body["field"]) == (400, "reason")


def test_stop_stops_the_execution_and_records_who_and_why(api: Api) -> None:
    _, started = api.post("/jobs/report/runs", {"reason": "try"})
    # The execution is not run here: its record is what its claim step would write.
    api.seed(
        run_item(
            "report",
            started["run_id"],
            "RUNNING",
            "2026-11-22T03:00:00.000Z",
            execution_arn=started["execution_arn"],
        )
    )
    status, stopped = api.post(f"/runs/{started['run_id']}/stop", {"reason": "wrong day"})
    assert status == 200, stopped
    assert (stopped["status"], stopped["aborted_by"], stopped["abort_reason"]) == (
        "ABORTED",
        ALICE,
        "wrong day",
    )
    described = api.sfn.describe_execution(executionArn=started["execution_arn"])
    assert described["status"] == "ABORTED"
    _, run = api.get(f"/runs/{started['run_id']}")
    assert (run["status"], run["aborted_by"], run["abort_reason"], run["error"]) == (
        "ABORTED",
        ALICE,
        "wrong day",
        "Job.Stopped",
    )


def test_a_run_without_a_record_yet_is_described_from_its_execution(api: Api) -> None:
    """`jobctl run` says "follow it: jobctl show ID": before, that said "no run with id"."""
    _, started = api.post("/jobs/report/runs", {"reason": "try"})
    status, run = api.get(f"/runs/{started['run_id']}")
    assert status == 200
    assert (run["status"], run["recorded"], run["job"], run["reason"]) == (
        "RUNNING",
        False,
        "report",
        "try",
    )
    assert api.get("/runs/manual-20261122T030000Z-0badc0de")[0] == 404


def test_logs_route_errors_name_the_field(api: Api) -> None:
    api.seed(run_item("report", "done-2", "SUCCEEDED", "2026-11-22T03:00:00.000Z"))
    assert api.get("/runs/nope/logs")[0] == 404
    for query, field in (
        ("attempt=x", "attempt"),
        ("limit=0", "limit"),
        ("next_token=zz", "next_token"),
        ("colour=1", "colour"),
    ):
        status, body = api.get(f"/runs/done-2/logs?{query}")
        assert (status, body.get("field")) == (400, field), query


def test_run_lists_carry_duration_and_skip_reason(api: Api) -> None:
    api.seed(
        run_item(
            "report",
            "d1",
            "SUCCEEDED",
            "2026-11-22T03:00:00.000Z",
            ended_at="2026-11-22T03:01:05.400Z",
        ),
        run_item("report", "s1", "SKIPPED", "2026-11-22T04:00:00.000Z", skip_reason="concurrent"),
    )
    runs = {r["run_id"]: r for r in api.get("/jobs/report/runs")[1]["runs"]}
    assert runs["d1"]["duration_seconds"] == 65
    assert runs["s1"]["skip_reason"] == "concurrent"


# ------------------------------------------------------------------ concurrency override


def test_a_manual_run_and_a_rerun_may_override_forbid_explicitly(api: Api) -> None:
    status, started = api.post(
        "/jobs/report/runs", {"reason": "beside the stuck one", "concurrency": "allow"}
    )
    assert status == 202 and started["concurrency_override"] == "allow"
    assert api.execution_input(started["execution_arn"]) == {
        "trigger": "manual",
        "triggered_by": ALICE,
        "reason": "beside the stuck one",
        "parameters": {},
        "concurrency": "allow",
    }
    api.seed(run_item("report", "r1", "FAILED", "2026-11-22T03:00:00.000Z"))
    status, again = api.post("/runs/r1/rerun", {"concurrency": "allow"})
    assert status == 202 and again["concurrency_override"] == "allow"
    assert api.execution_input(again["execution_arn"])["concurrency"] == "allow"
    status, plain = api.post("/runs/r1/rerun")
    assert status == 202 and plain["concurrency_override"] is None
    assert "concurrency" not in api.execution_input(plain["execution_arn"])


def test_the_override_is_a_no_op_for_an_allow_job(api: Api) -> None:
    _edit_config(api, "report", concurrency="allow")
    status, started = api.post("/jobs/report/runs", {"reason": "x", "concurrency": "allow"})
    assert status == 202 and started["concurrency_override"] is None
    assert "concurrency" not in api.execution_input(started["execution_arn"])


@pytest.mark.parametrize("path", ["/jobs/report/runs", "/runs/r1/rerun"])
def test_the_override_is_refused_for_a_replace_job_naming_the_field(api: Api, path: str) -> None:
    api.seed(run_item("report", "r1", "FAILED", "2026-11-22T03:00:00.000Z"))
    _edit_config(api, "report", concurrency="replace")
    status, answer = api.post(path, {"reason": "x", "concurrency": "allow"})
    assert (status, answer["error"], answer["field"]) == (400, "BadRequest", "concurrency")
    assert "replace" in answer["message"] and "stops the running one" in answer["message"]
    executions = api.sfn.list_executions(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:api-report"
    )["executions"]
    assert executions == [], "nothing may start on a refused request"


@pytest.mark.parametrize("value", ["forbid", "replace", "ALLOW", "", True, ["allow"]])
@pytest.mark.parametrize("path", ["/jobs/report/runs", "/runs/r1/rerun"])
def test_unknown_concurrency_values_are_refused(api: Api, path: str, value: Any) -> None:
    api.seed(run_item("report", "r1", "FAILED", "2026-11-22T03:00:00.000Z"))
    status, answer = api.post(path, {"reason": "x", "concurrency": value})
    assert (status, answer["error"], answer["field"]) == (400, "BadRequest", "concurrency")
    assert "should be 'allow'" in answer["message"], "a known field with a bad value"


def test_the_override_is_shown_on_the_run_and_in_lists(api: Api) -> None:
    api.seed(
        run_item(
            "report",
            "beside",
            "SUCCEEDED",
            "2026-11-22T03:00:00.000Z",
            trigger="manual",
            concurrency_override="allow",
        ),
        run_item(
            "report", "plain", "SUCCEEDED", "2026-11-22T02:00:00.000Z", concurrency_override=""
        ),
    )
    assert api.get("/runs/beside")[1]["concurrency_override"] == "allow"
    assert api.get("/runs/plain")[1]["concurrency_override"] is None
    runs = {run["run_id"]: run for run in api.get("/jobs/report/runs")[1]["runs"]}
    assert runs["beside"]["concurrency_override"] == "allow"
    assert runs["plain"]["concurrency_override"] is None
