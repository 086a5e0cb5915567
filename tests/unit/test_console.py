"""The console without a browser: view models, the guard, escaping, and every route.

The routes run against a recording stand-in for OpsService (the console is a
presentation layer over it; tests/e2e/test_console_browser.py drives the real service on
`jobctl local` in Chromium). Each payload test plants markup in one kind of value
(jobs.yaml text, an operator's reason, a parameter value, a log line) and asserts it
reaches the page escaped, never as markup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.ops.errors import InvalidRequest, NotFound
from chalicelib.ops.models import (
    Attempt,
    JobDetail,
    JobSummary,
    LogLine,
    ParameterInfo,
    PauseState,
    Progress,
    RunDetail,
    RunLogs,
    RunPage,
    RunStarted,
    RunStopped,
    RunSummary,
)
from jobctl.console import views
from jobctl.console.app import ConsoleApp, ConsoleRequest
from jobctl.console.humanize import duration_text, schedule_text
from jobctl.console.security import Guard

NOW = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
PORT = 8765
HOST = {"Host": f"127.0.0.1:{PORT}"}
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:p-report:manual-1"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def job(**changes: Any) -> JobSummary:
    fields: dict[str, Any] = {
        "name": "report",
        "schedule": "cron(0 12 * * ? *)",
        "enabled": True,
        "paused": False,
        "next_run": "2026-12-02T12:00:00Z",
    }
    return JobSummary(**{**fields, **changes})


def run(status: str, started: datetime, seconds: float | None = 60, **changes: Any) -> RunSummary:
    ended = iso(started + timedelta(seconds=seconds)) if seconds is not None else None
    return RunSummary(
        **{
            "run_id": f"r-{status.lower()}-{started:%H%M}",
            "job": "report",
            "status": status,
            "scheduled_time": iso(started),
            "started_at": iso(started),
            "ended_at": ended,
            **changes,
        }
    )


# ------------------------------------------------------------------ words


@pytest.mark.parametrize(
    ("expression", "zone", "text"),
    [
        ("cron(0 3 * * ? *)", None, "daily at 03:00 UTC"),
        ("cron(30 4 * * ? *)", "Europe/London", "daily at 04:30 Europe/London"),
        ("cron(0/5 * * * ? *)", None, "every 5 minutes"),
        ("cron(15 * * * ? *)", None, "hourly at :15"),
        ("cron(0 9 ? * MON-FRI *)", None, "weekdays at 09:00 UTC"),
        ("cron(0 9 ? * MON,WED *)", None, "Mon, Wed at 09:00 UTC"),
        ("cron(0 5 1 * ? *)", None, "day 1 of each month at 05:00 UTC"),
        ("cron(0 5 L * ? *)", None, "last day of each month at 05:00 UTC"),
        ("rate(1 hour)", None, "every hour"),
        ("rate(10 minutes)", None, "every 10 minutes"),
        # Shapes without words are shown as written, never guessed.
        ("cron(0 5 ? * 2#1 *)", None, "cron(0 5 ? * 2#1 *)"),
        ("cron(0 5 1 JAN ? 2027)", None, "cron(0 5 1 JAN ? 2027)"),
    ],
)
def test_schedules_in_words(expression: str, zone: str | None, text: str) -> None:
    assert schedule_text(expression, zone) == text


def test_durations_in_words() -> None:
    assert [duration_text(s) for s in (None, 0, 59.4, 75, 3600, 90000, 200000)] == [
        "-", "0s", "59s", "1m 15s", "1h 00m", "25h 00m", "2d 07h",
    ]  # fmt: skip


# ------------------------------------------------------------------ badges


def test_badge_precedence() -> None:
    running = [run("RUNNING", NOW - timedelta(minutes=1), None)]
    failed = [run("FAILED", NOW - timedelta(minutes=30))]
    assert views.badge(job(enabled=False, paused=True), running, NOW) == "disabled"
    assert views.badge(job(paused=True), running, NOW) == "paused"
    assert views.badge(job(), running + failed, NOW) == "running"
    assert views.badge(job(), failed, NOW) == "failing"
    assert views.badge(job(), [run("TIMED_OUT", NOW - timedelta(minutes=30))], NOW) == "failing"
    assert views.badge(job(), [run("SUCCEEDED", NOW - timedelta(minutes=30))], NOW) == "ok"
    assert views.badge(job(), [], NOW) == "new"
    # A skipped run says nothing about health: the last finished one decides.
    skipped = run("SKIPPED", NOW - timedelta(minutes=2), 0)
    assert views.badge(job(), [skipped, *failed], NOW) == "failing"


def test_a_job_is_late_only_after_a_missed_fire_time_and_the_grace() -> None:
    daily = job(schedule="cron(0 12 * * ? *)")
    yesterday = [run("SUCCEEDED", datetime(2026, 11, 30, 12, tzinfo=UTC))]
    # Today's 12:00 fire passed 30 s ago: within the grace, not late yet.
    assert not views.is_late(daily, yesterday, NOW)
    assert views.is_late(daily, yesterday, NOW + views.LATE_AFTER)
    assert views.badge(daily, yesterday, NOW + views.LATE_AFTER) == "late"
    today = [run("SUCCEEDED", datetime(2026, 12, 1, 12, tzinfo=UTC))]
    assert not views.is_late(daily, today, NOW + timedelta(hours=6))
    # In its own zone: 12:00 in Tokyo is 03:00 UTC.
    tokyo = job(schedule="cron(0 12 * * ? *)", timezone="Asia/Tokyo")
    ran = [run("SUCCEEDED", datetime(2026, 12, 1, 3, tzinfo=UTC))]
    assert not views.is_late(tokyo, ran, NOW)
    assert views.is_late(tokyo, ran, datetime(2026, 12, 2, 3, 6, tzinfo=UTC))
    hourly = job(schedule="rate(1 hour)")
    assert not views.is_late(hourly, [run("SUCCEEDED", NOW - timedelta(minutes=50))], NOW)
    assert views.is_late(hourly, [run("SUCCEEDED", NOW - timedelta(minutes=70))], NOW)


def test_success_rate_counts_only_finished_runs() -> None:
    runs = [
        run("RUNNING", NOW, None),
        run("SKIPPED", NOW - timedelta(hours=1), 0),
        run("SUCCEEDED", NOW - timedelta(hours=2)),
        run("SUCCEEDED", NOW - timedelta(hours=3)),
        run("FAILED", NOW - timedelta(hours=4)),
    ]
    assert views.success_rate(runs) == "67% of 3"
    assert views.success_rate(runs[:2]) == "-"


def test_timeline_bars_are_clipped_to_the_window_and_running_runs_reach_now() -> None:
    window = timedelta(hours=1)
    runs = [
        run("SUCCEEDED", NOW - timedelta(minutes=90), 60 * 40),  # starts before the window
        run("RUNNING", NOW - timedelta(minutes=15), None),
        run("FAILED", NOW - timedelta(hours=3)),  # entirely before: not drawn
    ]
    (lane,) = views.timeline(runs, NOW, window)
    first, second = lane.bars
    assert (first.left, first.status) == (0.0, "SUCCEEDED")
    assert first.width == pytest.approx(100 * 10 / 60, abs=0.01)
    assert second.left == pytest.approx(75.0) and second.left + second.width == pytest.approx(100)


def test_next_fire_times_in_the_jobs_zone_and_in_utc() -> None:
    assert views.fire_times(["2026-07-01T03:00:00Z"], "Europe/London") == [
        "2026-07-01 04:00 BST (2026-07-01 03:00 UTC)"
    ]
    assert views.fire_times(["2026-07-01T03:00:00Z"], None) == ["2026-07-01 03:00 UTC"]


# ------------------------------------------------------------------ routes


class Ops:
    """Answers like OpsService and records every state change asked of it."""

    def __init__(self, *, text: str = "") -> None:
        self.text = text
        self.calls: list[tuple[str, Any]] = []
        self.record = True

    def list_jobs(self) -> list[JobSummary]:
        return [job(description=f"about {self.text}", owner=self.text or None)]

    def job(self, name: str) -> JobDetail:
        if name != "report":
            raise NotFound(f"no job named '{name}' is deployed")
        return JobDetail(
            **job(description=self.text, paused_reason=self.text or None).model_dump(),
            concurrency="forbid",
            timeout=600,
            retries=1,
            cluster="app",
            task_definition="report",
            container="app",
            trigger="rule",
            state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:p-report",
            parameters={
                "DAY": ParameterInfo(pattern=r"\d{4}", default="2026", description=self.text),
                "MODE": ParameterInfo(enum=["full", self.text or "fast"], default="full"),
            },
            next_runs=["2026-12-02T12:00:00Z"],
        )

    def runs(self, job: str | None = None, **filters: Any) -> RunPage:
        return RunPage(runs=[run("FAILED", NOW - timedelta(hours=1), triggered_by=self.text)])

    def run(self, run_id: str) -> RunDetail:
        if not self.record:
            raise NotFound(f"no run with id '{run_id}'")
        return RunDetail(
            **run("RUNNING", NOW - timedelta(minutes=1), None).model_dump(),
            reason=self.text,
            parameters={"DAY": self.text},
            execution_arn=EXECUTION,
        )

    def run_logs(self, run_id: str, **options: Any) -> RunLogs:
        attempts = [
            Attempt(number=1, status="FAILED", exit_code=3, summary=self.text,
                    started_at="2026-12-01T11:58:00Z", ended_at="2026-12-01T11:59:00Z"),
            Attempt(number=2, status="RUNNING", task_arn="arn:aws:ecs:us-east-1:1:task/app/abc",
                    started_at="2026-12-01T11:59:30Z"),
        ]  # fmt: skip
        lines = [LogLine(attempt=n, timestamp="t", message=f"line {n} {self.text}") for n in (1, 2)]
        return RunLogs(run_id=run_id, job="report", status="RUNNING", attempts=attempts,
                       lines=lines if "next_token" not in options else [], next_token="more")  # fmt: skip

    def progress(self, run_id: str, *, execution_arn: str | None = None) -> Progress:
        return Progress(run_id=run_id, job="report", execution_arn=execution_arn or "",
                        status="RUNNING")  # fmt: skip

    def start(self, name: str, request: Any, *, by: str) -> RunStarted:
        if request.parameters.get("DAY") == "bad":
            raise InvalidRequest("DAY: 'bad' does not match \\d{4}", field="parameters.DAY")
        self.calls.append(("start", (name, request.parameters, request.reason, by)))
        return RunStarted(job=name, run_id="manual-1", execution_arn=EXECUTION, triggered_by=by)

    def rerun(self, run_id: str, *, by: str, reason: str | None = None) -> RunStarted:
        self.calls.append(("rerun", (run_id, reason, by)))
        return RunStarted(job="report", run_id="manual-1", execution_arn=EXECUTION,
                          rerun_of=run_id, triggered_by=by)  # fmt: skip

    def stop(self, run_id: str, request: Any, *, by: str) -> RunStopped:
        self.calls.append(("stop", (run_id, request.reason, by)))
        return RunStopped(run_id=run_id, job="report", status="ABORTED", aborted_by=by,
                          abort_reason=request.reason, at="t")  # fmt: skip

    def pause(self, name: str, *, by: str, reason: str | None = None) -> PauseState:
        self.calls.append(("pause", (name, reason, by)))
        return PauseState(job=name, paused=True, by=by, at="t")

    def resume(self, name: str, *, by: str, reason: str | None = None) -> PauseState:
        self.calls.append(("resume", (name, reason, by)))
        return PauseState(job=name, paused=False, by=by, at="t")


def console(ops: Ops | None = None, *, read_only: bool = False) -> tuple[ConsoleApp, Ops]:
    service = ops or Ops()
    app = ConsoleApp(
        service,  # type: ignore[arg-type]
        guard=Guard(host="127.0.0.1", read_only=read_only),
        who=lambda: "arn:aws:iam::123456789012:user/ana",
        title="p",
        clock=lambda: NOW,
    )
    return app, service


def get(app: ConsoleApp, path: str, headers: dict[str, str] | None = None) -> Any:
    split = urlsplit(path)
    query = {key: values[0] for key, values in parse_qs(split.query).items()}
    return app.handle(ConsoleRequest("GET", split.path, query, {}, headers or HOST), PORT)


def post(
    app: ConsoleApp, path: str, form: dict[str, str], headers: dict[str, str] | None = None
) -> Any:
    return app.handle(ConsoleRequest("POST", path, {}, form, headers or HOST), PORT)


PAGES = ["/console/", "/console/jobs/report", "/console/runs", "/console/runs/r-1",
         "/console/timeline", "/console/runs?status=FAILED"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_planted_markup_as_text(path: str) -> None:
    app, _ = console(Ops(text=PAYLOAD))
    answer = get(app, path)
    assert answer.status == 200
    page = answer.body.decode()
    assert "<script>alert" not in page and "<img src=x" not in page
    headers = dict(answer.headers)
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


def test_the_payloads_reach_the_pages_escaped() -> None:
    app, _ = console(Ops(text=PAYLOAD))
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escaped in get(app, "/console/").body.decode()  # description, owner
    job_page = get(app, "/console/jobs/report").body.decode()  # description, enum, pause reason
    assert job_page.count(escaped) >= 3
    run_page = get(app, "/console/runs/r-1").body.decode()  # reason, parameter, log lines
    assert f"line 1 {escaped}" in run_page and f"line 2 {escaped}" in run_page
    logs = get(app, "/console/runs/r-1/logs")
    assert logs.content_type == "application/json" and b"<script>" not in logs.body


def test_the_run_page_shows_each_attempt_and_follows_a_running_run() -> None:
    app, _ = console()
    page = get(app, "/console/runs/r-1").body.decode()
    assert 'data-attempt="1"' in page and 'data-attempt="2"' in page
    assert "FAILED, exit code 3, 1m 00s" in page and 'data-follow="1"' in page
    assert "waited 30s" in page  # the retry wait between the attempts
    assert "/ecs/v2/clusters/app/tasks/abc" in page  # the running attempt's task


def test_a_run_started_moments_ago_is_shown_from_its_execution() -> None:
    ops = Ops()
    ops.record = False
    app, _ = console(ops)
    answer = get(app, f"/console/runs/manual-1?execution={EXECUTION}")
    assert answer.status == 200 and "waiting for the run" in answer.body.decode()
    # Only the execution of that run id: a foreign ARN is not described.
    foreign = EXECUTION.replace("manual-1", "other")
    assert get(app, f"/console/runs/manual-1?execution={foreign}").status == 404


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Host": "evil.example"}, "answers only"),
        ({"Host": f"127.0.0.1:{PORT + 1}"}, "answers only"),
        ({**HOST, "Origin": "https://evil.example"}, "other origins"),
        ({**HOST, "Sec-Fetch-Site": "cross-site"}, "cross-site"),
    ],
)
def test_foreign_hosts_and_origins_are_refused(headers: dict[str, str], why: str) -> None:
    app, ops = console()
    assert get(app, "/console/", headers).status == 403
    refused = post(
        app, "/console/jobs/report/pause", {"csrf": app.guard.csrf_token, "reason": "x"}, headers
    )
    assert refused.status == 403 and why in refused.body.decode()
    assert ops.calls == []


def test_a_change_needs_this_consoles_token_and_a_reason() -> None:
    app, ops = console()
    assert post(app, "/console/jobs/report/pause", {"reason": "x"}).status == 403
    assert post(app, "/console/jobs/report/pause", {"reason": "x", "csrf": "guess"}).status == 403
    other, _ = console()
    stolen = {"reason": "x", "csrf": other.guard.csrf_token}  # another process's token
    assert post(app, "/console/jobs/report/pause", stolen).status == 403
    missing = post(app, "/console/jobs/report/pause", {"csrf": app.guard.csrf_token})
    assert missing.status == 400 and "reason is required" in missing.body.decode()
    assert ops.calls == []
    same_origin = {**HOST, "Origin": f"http://127.0.0.1:{PORT}"}
    done = post(
        app,
        "/console/jobs/report/pause",
        {"reason": "window", "csrf": app.guard.csrf_token},
        same_origin,
    )
    assert (done.status, dict(done.headers)["Location"]) == (303, "/console/jobs/report")
    assert ops.calls == [("pause", ("report", "window", "arn:aws:iam::123456789012:user/ana"))]


def test_actions_call_the_service_as_the_operator_and_redirect() -> None:
    app, ops = console()
    token = app.guard.csrf_token
    started = post(app, "/console/jobs/report/run",
                   {"csrf": token, "reason": "month end", "param.DAY": "2027", "param.MODE": ""})  # fmt: skip
    location = dict(started.headers)["Location"]
    assert started.status == 303 and location.startswith("/console/runs/manual-1?execution=")
    rerun = post(app, "/console/runs/r-1/rerun", {"csrf": token, "reason": "again"})
    stop = post(app, "/console/runs/r-1/stop", {"csrf": token, "reason": "runaway"})
    resume = post(app, "/console/jobs/report/resume", {"csrf": token, "reason": "done"})
    assert [answer.status for answer in (rerun, stop, resume)] == [303, 303, 303]
    who = "arn:aws:iam::123456789012:user/ana"
    # An empty field is "not given" (the default applies), as on the CLI.
    assert ops.calls == [
        ("start", ("report", {"DAY": "2027"}, "month end", who)),
        ("rerun", ("r-1", "again", who)),
        ("stop", ("r-1", "runaway", who)),
        ("resume", ("report", "done", who)),
    ]


def test_a_refused_run_shows_the_services_message_and_keeps_the_form() -> None:
    app, ops = console()
    answer = post(app, "/console/jobs/report/run",
                  {"csrf": app.guard.csrf_token, "reason": "try", "param.DAY": "bad"})  # fmt: skip
    page = answer.body.decode()
    assert answer.status == 400 and "does not match" in page and 'value="bad"' in page
    control = post(app, "/console/jobs/report/run",
                   {"csrf": app.guard.csrf_token, "reason": "x\x1b[2J"})  # fmt: skip
    assert control.status == 400 and "reason" in control.body.decode()
    assert ops.calls == []


def test_read_only_shows_no_actions_and_refuses_them() -> None:
    app, ops = console(read_only=True)
    for path in ("/console/jobs/report", "/console/runs/r-1"):
        page = get(app, path).body.decode()
        assert '<form method="post"' not in page and "read-only" in page
    refused = post(app, "/console/jobs/report/pause", {"csrf": app.guard.csrf_token, "reason": "x"})
    assert refused.status == 403 and "read-only" in refused.body.decode()
    assert ops.calls == []


def test_unknown_pages_and_methods() -> None:
    app, _ = console()
    assert get(app, "/console/nope").status == 404
    assert get(app, "/console/jobs/nope").status == 404
    assert get(app, "/").status == 303
    assert app.handle(ConsoleRequest("DELETE", "/console/", headers=HOST), PORT).status == 405
    static = get(app, "/console/static/console.js")
    assert static.status == 200 and static.content_type == "text/javascript"
    assert get(app, "/console/static/../app.py").status == 404
