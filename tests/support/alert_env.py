"""The alert functions on moto: the history table (as deploy creates it), the webhook map in
Secrets Manager, the signing secret in SSM, the alert topic, and the alerts Blueprint on a
throwaway Chalice app driven by chalice.test.Client. Slack is a `SlackServer`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from chalice.app import Chalice
from chalice.test import Client
from moto import mock_aws

from chalicelib import services
from chalicelib.alerts.webhook import WebhookPoster
from chalicelib.aws.clients import AwsContext, ClientFactory
from chalicelib.core.deployed import DeployedJob
from chalicelib.handlers import alerts as blueprint
from chalicelib.services import Services
from jobctl.deploy.desired import shared_resources
from jobctl.deploy.gateways.table import TableGateway
from jobctl.deploy.resources import ResourceKind
from tests.support.aws import offline_aws
from tests.support.slack_server import SlackServer

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "lab-history"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALLOWED = "U0ALLOWED"


@dataclass
class AlertEnv:
    client: Client
    slack: SlackServer
    dynamodb: Any
    sleeps: list[float]
    services: Services

    def reread_settings(self) -> None:
        """Let the next handler read the alert settings from the environment again."""
        self.services.__dict__.pop("alert_settings", None)

    def item(self, job: str, sk: str) -> dict[str, Any]:
        found = self.dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": sk}}
        )
        return found.get("Item", {})  # type: ignore[no-any-return]

    def state(self, job: str, kind: str = "ALERT") -> dict[str, Any]:
        item = self.item(job, kind)
        return json.loads(item["state"]["S"]) if item else {}

    def put_meta(self, job: str, config: dict[str, Any], **attributes: Any) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"JOB#{job}"},
            "sk": {"S": "META"},
            "entity": {"S": "job"},
            "job_name": {"S": job},
            "config": {"S": json.dumps(config)},
        }
        for name, value in attributes.items():
            item[name] = {"BOOL": value} if isinstance(value, bool) else {"S": str(value)}
        self.dynamodb.put_item(TableName=TABLE, Item=item)

    def notify(self, message: dict[str, Any] | str) -> Any:
        text = message if isinstance(message, str) else json.dumps(message)
        event = self.client.events.generate_sns_event(message=text, subject="")
        return self.client.lambda_.invoke("notify_slack", event).payload


def job_config(job: str, **overrides: Any) -> dict[str, Any]:
    """A job's deployed config: a `DeployedJob` as jobctl.deploy.desired.job_config() writes it."""
    config: dict[str, Any] = {
        "job": job,
        "project": "lab",
        "environment": None,
        "schedule": "cron(0 3 * * ? *)",
        "schedule_source": "cron(0 3 * * ? *)",
        "timezone": None,
        "enabled": True,
        "concurrency": "forbid",
        "timeout": 3600,
        "retry": {"retries": 0},
        "alerts": ["failure", "recovery"],
        "slack": None,
        "cluster": "app",
        "task_definition": "app-batch",
        "container": "app",
        "trigger": "rule",
        "state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lab-{job}",
        "logs": {"group": "/ecs/app", "region": REGION, "stream_prefix": "batch"},
    }
    config.update(overrides)
    return DeployedJob.from_data(config).to_data()


_SESSIONS: list[boto3.session.Session] = []


def clients() -> ClientFactory:
    """A ClientFactory on one shared session: botocore then parses its service models once
    per test run instead of once per test (that parsing is most of a test's setup time)."""
    if not _SESSIONS:
        _SESSIONS.append(boto3.session.Session(region_name=REGION))
    factory = ClientFactory(region=REGION)
    factory._session = _SESSIONS[0]
    return factory


@contextmanager
def alert_env(
    monkeypatch: pytest.MonkeyPatch, slack: SlackServer, *, webhooks: str = "secretsmanager"
) -> Iterator[AlertEnv]:
    offline_aws(monkeypatch, REGION)
    env = {
        "JOBCTL_HISTORY_TABLE": TABLE,
        "JOBCTL_PREFIX": "lab",
        "JOBCTL_ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:lab-alerts",
        "JOBCTL_SLACK_WEBHOOKS": (
            "secretsmanager:lab/slack-webhooks"
            if webhooks == "secretsmanager"
            else "ssm:/lab/slack/webhooks"
        ),
        "JOBCTL_SLACK_SIGNING_SECRET": "ssm:/lab/slack/signing-secret",
        "JOBCTL_SLACK_ALLOWED_USERS": f"{ALLOWED}, U0OTHER",
        "JOBCTL_SLACK_RESPONSE_URL_PREFIX": slack.base_url + "/actions/",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        context = AwsContext(ACCOUNT, REGION, "aws")
        table = next(
            r
            for r in shared_resources("lab", None, context.placeholders())
            if r.kind is ResourceKind.TABLE
        )
        built = Services(factory=clients())
        services.reset(built)
        TableGateway(clients(), context, "lab").create(table)
        routes = json.dumps(
            {
                "default": slack.url("/services/T0/B0/DEFAULTSECRET"),
                "data-alerts": slack.url("/services/T0/B1/DATASECRET"),
            }
        )
        if webhooks == "secretsmanager":
            _SESSIONS[0].client("secretsmanager").create_secret(
                Name="lab/slack-webhooks", SecretString=routes
            )
        else:
            _SESSIONS[0].client("ssm").put_parameter(
                Name="/lab/slack/webhooks", Value=routes, Type="SecureString"
            )
        _SESSIONS[0].client("ssm").put_parameter(
            Name="/lab/slack/signing-secret", Value=SIGNING_SECRET, Type="SecureString"
        )
        _SESSIONS[0].client("sns").create_topic(Name="lab-alerts")
        app = Chalice(app_name="alerts-test")
        app.register_blueprint(blueprint.create_blueprint())
        sleeps: list[float] = []
        # Retries must not really sleep: the notifier's poster records its waits instead.
        built.notifier.poster = WebhookPoster(timeout=1.0, sleep=sleeps.append, jitter=lambda: 1.0)
        with Client(app) as client:
            yield AlertEnv(client, slack, _SESSIONS[0].client("dynamodb"), sleeps, built)
    services.reset()
