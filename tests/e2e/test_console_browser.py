"""The operator console in a real browser: headless Chromium driven by Playwright.

One `jobctl local` for the module (a subprocess, as a user runs it) and one browser. The
pages are read and clicked as an operator would: no test reloads a page to see a change
(the console refreshes itself), every assertion is on what the page shows, and each page
is saved as a screenshot at 1280 px and 390 px (a phone) into $JOBCTL_ARTIFACTS (default
.artifacts/console). Without Chromium the module is skipped with a notice; CI sets
JOBCTL_REQUIRE_BROWSER=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.local_process import ROOT, TERMINAL, Output, running_local

CHROMIUM = os.environ.get("JOBCTL_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
if CHROMIUM is None:
    if os.environ.get("JOBCTL_REQUIRE_BROWSER") == "1":
        raise RuntimeError("JOBCTL_REQUIRE_BROWSER=1 but no chromium on PATH")
    pytest.skip(
        "browser tests skipped: no Chromium (apt-get install chromium; .ci/run does)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

ARTIFACTS = Path(os.environ.get("JOBCTL_ARTIFACTS") or ROOT / ".artifacts" / "console")
XSS = "<script>window.__xss=1</script><img src=x onerror=window.__xss=2>"
REGISTRY = f"""\
version: 1
project: ops
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {{subnets: [subnet-0a1b2c3d], security_groups: [sg-0a1b2c3d]}}
  timeout: 10m
  retry: {{retries: 0}}
jobs:
  hello:
    description: "Says hello {XSS}"
    owner: data-team
    schedule: cron(0 3 * * ? *)
    command: [python, -c, "print('hello <b>world</b><script>window.__xss=3</script>', flush=True)"]
  broken:
    description: Fails every time
    schedule: cron(0 4 * * ? *)
    timezone: Europe/London
    command: [python, -c, "import sys; print('about to fail'); sys.exit(3)"]
    retry: {{retries: 2, interval: 30s}}
  report:
    description: Monthly report
    schedule: cron(0 5 1 * ? *)
    command: [python, -c, "import os; print('DAY=' + os.environ['DAY'] + ' MODE=' + os.environ['MODE'])"]
    parameters:
      DAY: {{pattern: '\\d{{4}}-\\d{{2}}-\\d{{2}}', default: "2026-01-01", description: the day to report}}
      MODE: {{enum: [full, incremental], default: incremental}}
  sleeper:
    schedule: cron(0 6 1 * ? *)
    command: [sh, -c, "echo sleeping; sleep 600 & sleep 600"]
"""


class Console:
    def __init__(self, process: subprocess.Popen[str], output: Output, api: str) -> None:
        self.process, self.output, self.api = process, output, api
        self.url = api + "/console"

    def wait_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        return self.output.wait_line(pattern, timeout)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    directory = tmp_path_factory.mktemp("console")
    registry = directory / "jobs.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    args = ["--time-speed", "0.01", "--fire", "hello", "--fire", "broken"]
    with running_local(registry, *args, ready_timeout=90) as (process, output, ready):
        handle = Console(process, output, ready.group(1))
        # The fired runs end before the pages are read (their badges depend on it).
        for job in ("hello", "broken"):
            handle.wait_line(rf"run   {job} \S+: ({TERMINAL})")
        yield handle


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    yield opened
    context.close()
    assert not problems, problems  # no script error, and no alert() from a payload


def shoot(page: Page, name: str) -> None:
    """Screenshots at desktop and phone width; the phone page must not scroll sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 390, f"{name} is {width}px wide on a 390px screen"


def badge_of(page: Page, job: str) -> str:
    return page.locator(f"tr[data-job='{job}'] [data-badge]").inner_text()


def no_payload_ran(page: Page) -> None:
    assert page.evaluate("window.__xss") is None


def test_the_job_list_shows_every_job_with_its_state(console: Console, page: Page) -> None:
    page.goto(console.url + "/")
    expect(page.locator("tr[data-job]")).to_have_count(4)
    assert badge_of(page, "hello") == "ok"
    assert badge_of(page, "broken") == "failing"
    assert badge_of(page, "report") == "new"
    row = page.locator("tr[data-job='broken']")
    expect(row).to_contain_text("daily at 04:00 Europe/London")
    expect(row).to_contain_text("0% of 1")
    expect(page.locator("tr[data-job='hello']")).to_contain_text("data-team")
    # The description's markup is shown as text and never runs.
    expect(page.locator("tr[data-job='hello'] .description")).to_contain_text(XSS)
    no_payload_ran(page)
    page.fill("input[name=q]", "monthly")
    page.click("form.filters button")
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.locator("tr[data-job='report']")).to_be_visible()
    page.goto(console.url + "/")
    shoot(page, "jobs")


def test_run_now_with_parameters_reaches_succeeded_without_a_reload(
    console: Console, page: Page
) -> None:
    page.goto(console.url + "/jobs/report")
    expect(page.locator("h1")).to_contain_text("report")
    page.click("details.action summary:has-text('Run now')")
    # The form is generated from the declaration: enum -> select, defaults filled.
    expect(page.locator("select[name='param.MODE'] option")).to_have_count(2)
    expect(page.locator("input[name='param.DAY']")).to_have_value("2026-01-01")
    page.select_option("select[name='param.MODE']", "full")
    page.fill("input[name='param.DAY']", "2026-02-03")
    page.fill("form.run-now input[name=reason]", f"month end {XSS}")
    page.click("form.run-now button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/runs/manual-"))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    expect(page.locator("h1 [data-status]")).to_have_text("SUCCEEDED", timeout=60_000)
    assert navigations == [], "the page updated itself, without a reload"
    expect(page.locator("pre.log").first).to_have_text("DAY=2026-02-03 MODE=full")
    expect(page.locator("dd.reason")).to_have_text(f"month end {XSS}")
    expect(page.locator("dl.facts")).to_contain_text("arn:aws:iam::")
    no_payload_ran(page)
    shoot(page, "run")


def test_a_refused_parameter_is_explained_and_starts_nothing(console: Console, page: Page) -> None:
    page.goto(console.url + "/runs?job=report")
    before = page.locator("tr[data-run]").count()
    page.goto(console.url + "/jobs/report")
    page.click("details.action summary:has-text('Run now')")
    page.fill("input[name='param.DAY']", "yesterday")
    page.fill("form.run-now input[name=reason]", "try a bad day")
    page.click("form.run-now button[type=submit]")
    expect(page.locator(".error")).to_contain_text("DAY")
    expect(page).to_have_url(re.compile(r"/console/jobs/report/run$"))
    page.goto(console.url + "/runs?job=report")
    assert page.locator("tr[data-run]").count() == before
    shoot(page, "runs")


def test_a_failing_run_shows_every_attempts_log_and_can_be_rerun(
    console: Console, page: Page
) -> None:
    page.goto(console.url + "/runs?job=broken&status=FAILED")
    page.locator("tr[data-run] a").first.click()
    expect(page.locator("h1 [data-status]")).to_have_text("FAILED")
    attempts = page.locator("li.attempt")
    expect(attempts).to_have_count(3)
    for index in range(3):
        expect(attempts.nth(index).locator("pre.log")).to_have_text("about to fail")
        expect(attempts.nth(index).locator(".attempt-head")).to_contain_text("exit code 3")
    original = page.url.rsplit("/", 1)[1]
    shoot(page, "run-failed")
    page.click("details.action summary:has-text('Re-run')")
    page.fill("details.action[open] input[name=reason]", "after the fix")
    page.click("details.action[open] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/runs/rerun-"))
    expect(page.locator("dd.reason")).to_have_text("after the fix")
    expect(page.locator("dd.rerun-of")).to_have_text(original)
    expect(page.locator("h1 [data-status]")).to_have_text("FAILED", timeout=60_000)


def test_stop_records_who_and_why(console: Console, page: Page) -> None:
    page.goto(console.url + "/jobs/sleeper")
    page.click("details.action summary:has-text('Run now')")
    page.fill("form.run-now input[name=reason]", "to be stopped")
    page.click("form.run-now button[type=submit]")
    expect(page.locator("h1 [data-status]")).to_have_text("RUNNING", timeout=30_000)
    console.wait_line(r"sleeper/\S+ \| sleeping")
    expect(page.locator("pre.log").first).to_have_text("sleeping", timeout=30_000)
    page.click("details.action.danger summary")
    page.fill("details.action[open] input[name=reason]", "runaway <b>job</b>")
    page.click("details.action[open] button[type=submit]")
    expect(page.locator("h1 [data-status]")).to_have_text("ABORTED", timeout=30_000)
    expect(page.locator("dd.stopped-by")).to_contain_text("runaway <b>job</b>")
    expect(page.locator("dd.stopped-by .who")).to_contain_text("arn:aws:iam::")
    no_payload_ran(page)


def test_pause_and_resume_with_a_reason(console: Console, page: Page) -> None:
    page.goto(console.url + "/jobs/hello")
    page.click("details.action summary:has-text('Pause')")
    page.fill("details.action[open] input[name=reason]", "maintenance window")
    page.click("details.action[open] button[type=submit]")
    expect(page.locator("h1 [data-badge]")).to_have_text("paused")
    expect(page.locator("dd.paused-by")).to_contain_text("maintenance window")
    page.goto(console.url + "/")
    assert badge_of(page, "hello") == "paused"
    page.goto(console.url + "/jobs/hello")
    shoot(page, "job")
    page.click("details.action summary:has-text('Resume')")
    page.fill("details.action[open] input[name=reason]", "done")
    page.click("details.action[open] button[type=submit]")
    expect(page.locator("h1 [data-badge]")).not_to_have_text("paused")


def test_the_timeline_shows_the_runs(console: Console, page: Page) -> None:
    page.goto(console.url + "/timeline?window=1h")
    expect(page.locator(".lane[data-job='broken'] rect")).not_to_have_count(0)
    expect(page.locator(".lane[data-job='hello'] rect")).not_to_have_count(0)
    shoot(page, "timeline")


def _post(url: str, data: dict[str, str], headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(data).encode(), method="POST", headers=headers or {}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_change_without_the_pages_token_or_from_another_site_is_refused(
    console: Console,
) -> None:
    target = console.url + "/jobs/report/pause"
    assert _post(target, {"reason": "forged"}) == 403
    assert _post(target, {"reason": "forged", "csrf": "guess"}) == 403
    assert _post(target, {"reason": "x"}, {"Origin": "https://evil.example"}) == 403
    request = urllib.request.Request(console.url + "/", headers={"Host": "evil.example"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    assert refused.value.code == 403
