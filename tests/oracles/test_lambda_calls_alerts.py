"""Oracle 1 for `notify_slack`: its recorded calls against its .chalice policy.

The notifier needs Slack (a local `SlackServer`) and its secrets, so it runs on the alert
test platform (tests.support.alert_env) rather than with the other functions in
test_lambda_calls.py; the mapping and the evaluator are the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobctl.deploy.lambda_policies import function_policy
from tests.oracles.test_lambda_calls import assert_granted_and_well_shaped
from tests.support.alert_env import ACCOUNT, REGION, AlertEnv, alert_env, job_config
from tests.support.alert_samples import run_alert
from tests.support.call_recorder import recording
from tests.support.slack_server import SlackServer, slack_server_fixture  # noqa: F401

# README step 6: the webhooks are stored under `jobctl/<project>-<env>/` (here project
# `lab`, no environments), which is what the notifier's policy grants.
WEBHOOKS = "jobctl/lab/slack-webhooks"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, slack_server: SlackServer) -> Iterator[AlertEnv]:
    with alert_env(monkeypatch, slack_server) as platform:
        secrets = platform.services.factory.client("secretsmanager")
        value = secrets.get_secret_value(SecretId="lab/slack-webhooks")["SecretString"]
        secrets.create_secret(Name=WEBHOOKS, SecretString=value)
        monkeypatch.setenv("JOBCTL_SLACK_WEBHOOKS", f"secretsmanager:{WEBHOOKS}")
        platform.reread_settings()
        platform.services.__dict__.pop("notifier", None)  # built with the old settings
        yield platform


def test_every_call_notify_slack_makes_is_allowed_by_its_policy(env: AlertEnv) -> None:
    env.put_meta("daily-report", job_config("daily-report"))
    with recording() as calls:
        assert env.notify(run_alert(run_id="r1"))["result"] == "posted"
        env.notify(run_alert("recovery", run_id="r2"))
    mine = [c for c in calls if c.service != "sts"]
    assert {c.service for c in mine} >= {"dynamodb", "secretsmanager"}
    policy = function_policy("lab", None, "notify_slack", account=ACCOUNT, region=REGION)
    # The alert's log tail reads the job's own log group, which its task definition names,
    # not jobctl: README "Alerts and Slack" has the operator grant it; that grant is added.
    group = job_config("daily-report")["logs"]["group"]
    tail = {
        "Effect": "Allow",
        "Action": "logs:GetLogEvents",
        "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*",
    }
    policy = {**policy, "Statement": [*policy["Statement"], tail]}
    assert_granted_and_well_shaped(mine, policy)
