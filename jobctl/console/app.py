"""The console's routes: a request in, a response out, through OpsService.

Independent of any HTTP server (`server` serves it standalone, `jobctl.local.api` beside
the local API), so every route is tested without sockets. Invariants:
* every page is a Jinja2 template with autoescaping on: each value from jobs.yaml, the
  history, AWS or a log line reaches the page as text, never as markup; no template
  uses `|safe`, and the only script on a page is the console's own static file;
* a state change is a POST that the Guard admits (Host, Origin, CSRF token, not
  read-only) carrying a reason; it calls the same OpsService method as the CLI, recording
  the operator (`who`) exactly as the CLI does, and answers with a redirect (303) so a
  reload never repeats it; a refused change re-renders its page with the service's
  message and the service's HTTP status;
* nothing is cached between requests: each page reads the history afresh.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from chalicelib.core.errors import JobctlError
from chalicelib.core.history import STATUSES, RunStatus
from chalicelib.history.links import task_url
from chalicelib.ops.errors import NotFound, OpsError
from chalicelib.ops.models import (
    Attempt,
    JobSummary,
    ManualRunRequest,
    RunStarted,
    RunSummary,
    StopRequest,
)
from chalicelib.ops.service import OpsService
from jobctl.console import views
from jobctl.console.humanize import duration_text, schedule_text, seconds_between, time_text
from jobctl.console.security import Guard

PREFIX = "/console"
MAX_LOG_LINES = 5000
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
# Security headers on every answer: no framing (clickjacking), no inline or foreign
# script, no referrer leaking run ids to other sites (Chromium sends `Origin: null` on
# form posts under `no-referrer`, which the guard would refuse).
HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]
Clock = Callable[[], datetime]
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConsoleRequest:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ConsoleResponse:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class ConsoleApp:
    def __init__(
        self,
        ops: OpsService,
        *,
        guard: Guard,
        who: Callable[[], str],
        title: str,
        clock: Clock = _utc_now,
    ) -> None:
        self.ops = ops
        self.guard = guard
        self.who = who
        self.title = title
        self.clock = clock
        self.templates = Environment(
            loader=PackageLoader("jobctl.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: ConsoleRequest, port: int) -> ConsoleResponse:
        refusal = self.guard.refusal(request.headers, port)
        if refusal is not None:
            return self._plain(403, refusal)
        path = request.path
        if path in ("", "/"):
            return self._redirect(f"{PREFIX}/")
        if not path.startswith(PREFIX):
            return self._plain(404, "not found")
        parts = [part for part in path[len(PREFIX) :].split("/") if part]
        try:
            if request.method == "POST":
                refused = self.guard.change_refusal(request.form.get("csrf"))
                if refused is not None:
                    return self._plain(403, refused)
                return self._post(parts, request)
            if request.method in ("GET", "HEAD"):
                return self._get(parts, request)
            return self._plain(405, "method not allowed")
        except JobctlError as exc:
            status = getattr(exc, "http_status", None) or 400
            return self._page("error.html", status, message=exc.message, status=status)

    def _get(self, parts: list[str], request: ConsoleRequest) -> ConsoleResponse:
        query = request.query
        match parts:
            case []:
                return self.jobs_page(query.get("q", ""), query.get("badge", ""))
            case ["static", name] if name in STATIC:
                return self._static(name)
            case ["jobs", name]:
                return self.job_page(name)
            case ["runs"]:
                return self.runs_page(query)
            case ["runs", run_id]:
                return self.run_page(run_id, execution=query.get("execution"))
            case ["runs", run_id, "logs"]:
                return self.logs_json(run_id)
            case ["timeline"]:
                return self.timeline_page(query.get("window", "24h"))
        return self._plain(404, "not found")

    def _post(self, parts: list[str], request: ConsoleRequest) -> ConsoleResponse:
        form = request.form
        reason = form.get("reason", "").strip()
        match parts:
            case ["jobs", name, "run"]:
                return self._run_now(name, form)
            case ["jobs", name, ("pause" | "resume") as action]:
                change = self.ops.pause if action == "pause" else self.ops.resume
                return self._act(
                    reason,
                    lambda: change(name, by=self.who(), reason=reason),
                    lambda error, status: self.job_page(name, error=error, status=status),
                    f"{PREFIX}/jobs/{quote(name)}",
                )
            case ["runs", run_id, "rerun"]:
                started: list[str] = []
                return self._act(
                    reason,
                    lambda: started.append(
                        _started_url(*_ids(self.ops.rerun(run_id, by=self.who(), reason=reason)))
                    ),
                    lambda error, status: self.run_page(run_id, error=error, status=status),
                    lambda: started[0],
                )
            case ["runs", run_id, "stop"]:
                return self._act(
                    reason,
                    lambda: self.ops.stop(run_id, StopRequest(reason=reason), by=self.who()),
                    lambda error, status: self.run_page(run_id, error=error, status=status),
                    f"{PREFIX}/runs/{quote(run_id)}",
                )
        return self._plain(404, "not found")

    def _act(
        self,
        reason: str,
        action: Callable[[], object],
        page: Callable[[str, int], ConsoleResponse],
        done: str | Callable[[], str],
    ) -> ConsoleResponse:
        """Carry out one change and redirect, or show its page with why it was refused."""
        if not reason:
            return page("a reason is required: it is recorded with the change", 400)
        try:
            action()
        except OpsError as exc:
            return page(exc.message, exc.http_status)
        return self._redirect(done if isinstance(done, str) else done())

    # ------------------------------------------------------------------ pages

    def jobs_page(self, query: str, wanted: str) -> ConsoleResponse:
        now = self.clock()
        rows = [views.job_row(job, self._recent(job), now) for job in self.ops.list_jobs()]
        counts = {name: sum(1 for row in rows if row.badge == name) for name in views.BADGES}
        shown = [row for row in rows if views.matches(row, query, wanted)]
        return self._page(
            "jobs.html",
            200,
            rows=shown,
            total=len(rows),
            counts=counts,
            badges=views.BADGES,
            query=query,
            wanted=wanted,
            refresh=True,
        )

    def job_page(
        self,
        name: str,
        *,
        error: str | None = None,
        status: int = 200,
        values: dict[str, str] | None = None,
    ) -> ConsoleResponse:
        detail = self.ops.job(name)
        runs = self.ops.runs(name, limit=30).runs
        now = self.clock()
        return self._page(
            "job.html",
            status,
            job=detail,
            row=views.job_row(detail, runs[: views.RECENT_RUNS], now),
            schedule_text=schedule_text(detail.schedule, detail.timezone),
            next_runs=views.fire_times(detail.next_runs, detail.timezone),
            timeout=duration_text(detail.timeout),
            deadline=duration_text(detail.starting_deadline)
            if detail.starting_deadline is not None
            else "none (a late start still runs)",
            bars=views.duration_bars(runs),
            runs=[views.run_row(run) for run in runs],
            error=error,
            values=values or {},
            paused_at=time_text(detail.paused_at) if detail.paused_at else "",
            refresh=error is None,
        )

    def runs_page(self, query: dict[str, str]) -> ConsoleResponse:
        job = query.get("job") or None
        status = query.get("status") or None
        since = query.get("since") or None
        page = self.ops.runs(
            job,
            status=status,
            since=since,
            limit=query.get("limit") or 50,
            next_token=query.get("next") or None,
        )
        more = None
        if page.next_token:
            kept = {key: value for key, value in query.items() if key != "next" and value}
            more = f"{PREFIX}/runs?{urlencode({**kept, 'next': page.next_token})}"
        return self._page(
            "runs.html",
            200,
            runs=[views.run_row(run) for run in page.runs],
            job=job or "",
            status=status or "",
            since=since or "",
            statuses=STATUSES,
            more=more,
            refresh=True,
        )

    def run_page(
        self,
        run_id: str,
        *,
        error: str | None = None,
        status: int = 200,
        execution: str | None = None,
    ) -> ConsoleResponse:
        try:
            run = self.ops.run(run_id)
        except NotFound:
            # Just started: the machine writes the record in its first step. Until then
            # (or if it failed before), the execution tells where the run is.
            if not execution or not _is_execution_of(execution, run_id):
                raise
            progress = self.ops.progress(run_id, execution_arn=execution)
            return self._page("starting.html", 200, progress=progress, refresh=True)
        attempts = self._attempts(run_id, run.execution_arn)
        # The record holds the task of a finished run; a running one's is in its attempts.
        task = run.task_arn or next(
            (a["task_arn"] for a in reversed(attempts) if a["task_arn"]), None
        )
        return self._page(
            "run.html",
            status,
            run=run,
            row=views.run_row(run),
            attempts=attempts,
            cause=_short(run.cause),
            task_url=task_url(task),
            running=run.status == RunStatus.RUNNING,
            error=error,
            refresh=run.status == RunStatus.RUNNING and error is None,
        )

    def logs_json(self, run_id: str) -> ConsoleResponse:
        """Each attempt's log lines, for the run page to follow while the run runs."""
        run = self.ops.run(run_id)
        payload = {
            "status": run.status,
            "attempts": [
                {"attempt": attempt["attempt"], "lines": attempt["lines"], "note": attempt["note"]}
                for attempt in self._attempts(run_id, run.execution_arn)
            ],
        }
        # `<`, `>` and `&` escaped too: the lines are read as JSON and set as text, and even
        # a browser that sniffed the body as HTML would find no markup in it.
        body = json.dumps(payload).translate(_JSON_ESCAPES).encode()
        return ConsoleResponse(200, body, "application/json", list(HEADERS))

    def timeline_page(self, window: str) -> ConsoleResponse:
        span = views.WINDOWS.get(window)
        if span is None:
            window, span = "24h", views.WINDOWS["24h"]
        now = self.clock()
        runs: list[RunSummary] = []
        token: str | None = None
        while len(runs) < 2000:
            page = self.ops.runs(since=window, limit=100, next_token=token)
            runs.extend(page.runs)
            token = page.next_token
            if not token:
                break
        lanes = views.timeline(runs, now, span)
        return self._page(
            "timeline.html",
            200,
            lanes=lanes,
            window=window,
            windows=list(views.WINDOWS),
            start=time_text((now - span).strftime("%Y-%m-%dT%H:%M:%SZ")),
            end=time_text(now.strftime("%Y-%m-%dT%H:%M:%SZ")),
            refresh=True,
        )

    # ------------------------------------------------------------------ actions

    def _run_now(self, name: str, form: dict[str, str]) -> ConsoleResponse:
        parameters = {
            key[len("param.") :]: value for key, value in form.items() if key.startswith("param.")
        }
        reason = form.get("reason", "").strip()
        values = {**parameters, "reason": reason}
        if not reason:
            return self.job_page(
                name,
                error="a reason is required: it is recorded with the run",
                status=400,
                values=values,
            )
        # Empty fields are "not given": the job's default applies, as with the CLI.
        given = {key: value for key, value in parameters.items() if value != ""}
        try:
            request = ManualRunRequest.model_validate({"parameters": given, "reason": reason})
            started = self.ops.start(name, request, by=self.who())
        except OpsError as exc:
            return self.job_page(name, error=exc.message, status=exc.http_status, values=values)
        except ValueError as exc:  # pydantic's ValidationError: the reason or a value
            return self.job_page(name, error=_first_error(exc), status=400, values=values)
        return self._redirect(_started_url(started.run_id, started.execution_arn))

    # ------------------------------------------------------------------ helpers

    def _recent(self, job: JobSummary) -> list[RunSummary]:
        return self.ops.runs(job.name, limit=views.RECENT_RUNS).runs

    def _attempts(self, run_id: str, execution_arn: str | None = None) -> list[dict[str, Any]]:
        """Each attempt (from the execution's history) with its log lines, oldest first.

        A job without CloudWatch logs still shows its attempts, with a note saying why
        there are no lines; at most MAX_LOG_LINES lines per page view."""
        try:
            lines: dict[int, list[str]] = {}
            page = self.ops.run_logs(run_id, attempt="all")
            attempts, token, read = page.attempts, page.next_token, 0
            while True:
                for line in page.lines:
                    lines.setdefault(line.attempt, []).append(line.message)
                read += len(page.lines)
                # A running run keeps a token to follow it: stop when a page adds nothing.
                if not token or not page.lines or read >= MAX_LOG_LINES:
                    break
                page = self.ops.run_logs(run_id, attempt="all", next_token=token)
                token = page.next_token
            note = ""
        except OpsError as exc:
            note = exc.message
            try:
                attempts = self.ops.progress(run_id, execution_arn=execution_arn).attempts
            except OpsError:
                attempts = []
        if not attempts:
            return [
                {
                    "attempt": 1,
                    "started": "-",
                    "waited": "",
                    "summary": "",
                    "lines": [],
                    "note": note or "no task yet",
                    "task_arn": None,
                    "task_url": None,
                    "log_url": None,
                }
            ]
        previous_end: str | None = None
        shown = []
        for attempt in attempts:
            waited = seconds_between(previous_end, attempt.started_at)
            previous_end = attempt.ended_at
            shown.append((attempt, waited))
        return [
            {
                "attempt": attempt.number,
                "started": time_text(attempt.started_at),
                # The retry policy's wait (or the capacity policy's) before this attempt.
                "waited": duration_text(waited) if waited is not None else "",
                "summary": attempt_summary(attempt),
                "lines": lines.get(attempt.number, []) if not note else [],
                "note": note or ("" if attempt.task_arn else "RunTask started no task"),
                "task_arn": attempt.task_arn,
                "task_url": task_url(attempt.task_arn),
                "log_url": attempt.log_url,
            }
            for attempt, waited in shown
        ]

    def _page(self, template: str, code: int, **context: Any) -> ConsoleResponse:
        page = self.templates.get_template(template).render(
            title=self.title,
            prefix=PREFIX,
            csrf=self.guard.csrf_token,
            read_only=self.guard.read_only,
            now=time_text(self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")),
            **context,
        )
        return ConsoleResponse(code, page.encode("utf-8"), headers=list(HEADERS))

    def _static(self, name: str) -> ConsoleResponse:
        body = resources.files("jobctl.console").joinpath("static", name).read_bytes()
        kind = STATIC.get(name) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return ConsoleResponse(200, body, kind, headers=[("Cache-Control", "no-cache")])

    @staticmethod
    def _plain(status: int, message: str) -> ConsoleResponse:
        return ConsoleResponse(
            status, message.encode("utf-8"), "text/plain; charset=utf-8", list(HEADERS)
        )

    @staticmethod
    def _redirect(location: str) -> ConsoleResponse:
        return ConsoleResponse(303, b"", "text/plain", [("Location", location), *HEADERS])


def _ids(started: RunStarted) -> tuple[str, str]:
    return started.run_id, started.execution_arn


def _started_url(run_id: str, execution_arn: str) -> str:
    return f"{PREFIX}/runs/{quote(run_id)}?{urlencode({'execution': execution_arn})}"


def _is_execution_of(arn: str, run_id: str) -> bool:
    """`arn:aws:states:<region>:<account>:execution:<machine>:<run id>`, and no other."""
    parts = arn.split(":")
    return (
        len(parts) == 8
        and parts[2] == "states"
        and parts[5] == "execution"
        and (parts[7] == run_id)
    )


def attempt_summary(attempt: Attempt) -> str:
    """`FAILED, exit code 3, 12s` / `RUNNING since 22:10:05 UTC`."""
    if attempt.status == "RUNNING":
        return f"RUNNING since {time_text(attempt.started_at)}"
    parts: list[str] = [attempt.status]
    if attempt.exit_code is not None:
        parts.append(f"exit code {attempt.exit_code}")
    took = seconds_between(attempt.started_at, attempt.ended_at)
    if took is not None:
        parts.append(duration_text(took))
    text = ", ".join(parts)
    detail = attempt.summary or attempt.stopped_reason or attempt.error
    return f"{text}: {detail}" if detail else text


def _short(cause: str | None, limit: int = 400) -> str:
    if not cause:
        return ""
    return cause if len(cause) <= limit else cause[:limit] + "…"


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}"
    return str(exc)
