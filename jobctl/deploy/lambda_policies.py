"""The IAM policies of app.py's Lambda functions, one per function and Chalice stage.

Chalice's policy autogeneration is off (.chalice/config.json): each function gets exactly
the calls its code makes, on exactly this project and environment's resources (the
history table and its indexes, the environment's job state machines `<base>-*` and their
executions, the alert topic, the secrets under `jobctl/<base>/`, its own log group). A
stage is named like the registry's environment. The policies do not depend on the jobs:
a job added to jobs.yaml can be run from the API as soon as `jobctl apply` has deployed
it, with no new policy and no Lambda redeploy. Run
`python -m jobctl.deploy.lambda_policies [-f jobs.yaml] [--out DIR]` after changing the
project name, its environments (or their `account:`/`region:` pins) or what a function
calls; tests fail while the committed files differ from what this writes.
Invariants: pure and deterministic (same registry -> byte-identical files); no wildcard
action; resources scoped by name or by the `<base>-` prefix, which matches no other
environment of the registry (the loader refuses an environment whose name extends
another's, `prod` and `prod-eu`); account and region are the environment's pins
(`account:`/`region:` in jobs.yaml) and `*` only where the environment pins none.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.core.names import prefix, shared_names

if TYPE_CHECKING:
    from jobctl.registry.loader import Registry

APP = "jobctl"
CHALICE_DIR = Path(".chalice")

# What each function's code calls (chalicelib/history, ops, alerts).
FUNCTIONS: dict[str, dict[str, list[str]]] = {
    # The operator API and POST /slack/actions (Chalice serves every route from one
    # function): reads, pause/resume, the Slack replay guard, starting runs.
    "api_handler": {
        "table": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        "start": ["states:StartExecution"],
        # A run's attempts and its stop (GET /runs/{id}/logs, POST /runs/{id}/stop). No
        # ecs:StopTask: StopExecution stops a .sync task itself; and no logs:GetLogEvents,
        # since the jobs' log groups are named by their task definitions, not by jobctl
        # (README "Operator API": grant it on those groups to serve /logs).
        "executions": [
            "states:DescribeExecution",
            "states:GetExecutionHistory",
            "states:StopExecution",
        ],
        "secrets": ["secretsmanager:GetSecretValue", "ssm:GetParameter"],
    },
    # Run records: create if missing, finish monotonically, free the lock.
    "record_execution_status": {
        "table": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    },
    "reconcile_history": {
        "table": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        "describe": ["states:DescribeExecution"],
    },
    # The job's config (log links) and the storm state.
    "notify_slack": {
        "table": ["dynamodb:GetItem", "dynamodb:PutItem"],
        "secrets": ["secretsmanager:GetSecretValue", "ssm:GetParameter"],
    },
    # Jobs and their last success (indexes), the watchdog state, the alert.
    "watch_missed_runs": {
        "table": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
        "publish": ["sns:Publish"],
    },
}


def function_policy(
    project: str,
    env: str | None,
    function: str,
    *,
    account: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """`function`'s policy in stage `env`, in the pinned account and region (`*` for what
    the environment does not pin). The job state machines are `<base>-*`: every job of the
    environment, present and future, and no other environment's (see the module doc)."""
    base = prefix(project, env)
    names = shared_names(project, env)
    where = f"{region or '*'}:{account or '*'}"
    table = f"arn:aws:dynamodb:{where}:table/{names.history_table}"
    resources = {
        "table": [table, f"{table}/index/*"],
        "start": [f"arn:aws:states:{where}:stateMachine:{base}-*"],
        "describe": [f"arn:aws:states:{where}:execution:{base}-*:*"],
        "executions": [f"arn:aws:states:{where}:execution:{base}-*:*"],
        "publish": [f"arn:aws:sns:{where}:{names.alert_topic}"],
        "secrets": [
            f"arn:aws:secretsmanager:{where}:secret:jobctl/{base}/*",
            f"arn:aws:ssm:{where}:parameter/jobctl/{base}/*",
        ],
    }
    stage = env or "dev"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"arn:aws:logs:{where}:log-group:/aws/lambda/{APP}-{stage}-{function}:*"],
        }
    ]
    for group, actions in FUNCTIONS[function].items():
        statements.append(
            {
                "Sid": group.capitalize(),
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": resources[group],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_files(registry: Registry) -> dict[str, str]:
    """File name (in .chalice/) -> content, for every stage and function."""
    files = {}
    for env in registry.targets:
        stage = env or "dev"
        account, region = registry.pins.get(env or "", (None, None))
        for function in FUNCTIONS:
            document = function_policy(
                registry.project, env, function, account=account, region=region
            )
            files[f"policy-{stage}-{function}.json"] = json.dumps(document, indent=2) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    from jobctl.registry.loader import load_registry

    parser = argparse.ArgumentParser(description="write .chalice/policy-<stage>-<function>.json")
    parser.add_argument("-f", "--file", default="jobs.yaml")
    parser.add_argument("--out", default=str(CHALICE_DIR))
    args = parser.parse_args(argv)
    registry = load_registry(args.file)
    for name, content in policy_files(registry).items():
        (Path(args.out) / name).write_text(content)
        print(f"wrote {Path(args.out) / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
