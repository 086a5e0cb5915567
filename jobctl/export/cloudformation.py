"""The resources `jobctl apply` would create for one environment, as one CloudFormation template.

Owns `template(registry, env)`: built from `jobctl.deploy.desired.desired_resources`, the
same desired-state objects apply executes, so the export cannot drift from apply (the
tests compare the two resource sets). Each `Resource` becomes one CloudFormation resource
of the type `TYPES` names; account, region and partition are the stack's pseudo parameters
(`Fn::Sub` on `${AWS::AccountId}`...; state machine definitions keep their `${AccountId}`
placeholders and get `DefinitionSubstitutions`); what apply reads from the account at plan
time, the task definitions' task and execution roles, becomes one pair of parameters per
task definition. A job's META item (its deployed configuration, which the API and the
recorder read) is not a CloudFormation resource type: it is a `Custom::JobctlJobConfig`
served by one small inline Lambda function of the stack, which writes exactly what apply
writes (`config`, `job_name`, `entity`) and removes them on delete.
Invariants: pure (no AWS call, no clock); deterministic (sorted keys); logical ids are
unique and stable per (kind, name); nothing here imports cfn-lint.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.aws.clients import AwsContext
from chalicelib.core.history import ENTITY
from jobctl.deploy.desired import TaskDefinitionInfo, desired_resources
from jobctl.deploy.resources import SPEC_HASH_TAG, Resource, ResourceKind, tag_list
from jobctl.registry.loader import Registry

TYPES: dict[ResourceKind, str] = {
    ResourceKind.TABLE: "AWS::DynamoDB::Table",
    ResourceKind.TOPIC: "AWS::SNS::Topic",
    ResourceKind.LOG_GROUP: "AWS::Logs::LogGroup",
    ResourceKind.TRIGGER_ROLE: "AWS::IAM::Role",
    ResourceKind.JOB_ROLE: "AWS::IAM::Role",
    ResourceKind.SCHEDULE_GROUP: "AWS::Scheduler::ScheduleGroup",
    ResourceKind.STATE_MACHINE: "AWS::StepFunctions::StateMachine",
    ResourceKind.RULE: "AWS::Events::Rule",
    ResourceKind.SCHEDULE: "AWS::Scheduler::Schedule",
    ResourceKind.JOB_META: "Custom::JobctlJobConfig",
}
PSEUDO = {"Partition": "AWS::Partition", "Region": "AWS::Region", "AccountId": "AWS::AccountId"}
CONTEXT = AwsContext("${AccountId}", "${Region}", "${Partition}")
INLINE_POLICY = "jobctl"
CONFIG_WRITER = "JobConfigWriter"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")

# The custom resource's handler: the META item's deploy-owned attributes, as apply writes
# them (jobctl.deploy.gateways.job_meta); cfnresponse is provided for inline ZipFile code.
WRITER_CODE = """\
import json, boto3, cfnresponse
ddb = boto3.client("dynamodb")
def handler(event, context):
    p = event["ResourceProperties"]
    key = {"pk": {"S": "JOB#" + p["Job"]}, "sk": {"S": "META"}}
    try:
        if event["RequestType"] == "Delete":
            ddb.update_item(TableName=p["Table"], Key=key, UpdateExpression="REMOVE config, #e",
                            ExpressionAttributeNames={"#e": "ENTITY_ATTRIBUTE"})
        else:
            ddb.update_item(TableName=p["Table"], Key=key,
                            UpdateExpression="SET config = :c, job_name = :j, #e = :e",
                            ExpressionAttributeNames={"#e": "ENTITY_ATTRIBUTE"},
                            ExpressionAttributeValues={":c": {"S": p["Config"]}, ":j": {"S": p["Job"]},
                                                       ":e": {"S": p["Entity"]}})
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, "jobctl-" + p["Job"])
    except Exception as exc:
        cfnresponse.send(event, context, cfnresponse.FAILED, {"Error": str(exc)[:200]},
                         "jobctl-" + p["Job"])
""".replace("ENTITY_ATTRIBUTE", ENTITY)


def logical_id(resource: Resource) -> str:
    """`state-machine coin-production-daily-report` -> `StateMachineCoinProductionDailyReport`."""
    words = re.split(r"[^A-Za-z0-9]+", f"{resource.kind} {resource.name}")
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _task_parameter(family: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", family.rsplit("/", 1)[-1].split(":")[0])
    return "".join(word[:1].upper() + word[1:] for word in words if word)


def _sub(value: Any, parameters: set[str]) -> Any:
    """Strings naming `${Partition}`/`${Region}`/`${AccountId}` or a parameter become
    `Fn::Sub`; any other `${` in them is escaped (`${!`) so CloudFormation keeps it."""
    if isinstance(value, dict):
        return {key: _sub(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [_sub(item, parameters) for item in value]
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        known = set(PSEUDO) | parameters

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in PSEUDO:
                return "${" + PSEUDO[name] + "}"
            return match.group(0) if name in known else "${!" + name + "}"

        return {"Fn::Sub": _PLACEHOLDER.sub(replace, value)}
    return value


def template(registry: Registry, env: str | None) -> dict[str, Any]:
    """The CloudFormation template of everything apply creates for `env`."""
    families = sorted({job.task_definition for job in registry.jobs_for(env)})
    parameters: dict[str, Any] = {}
    for family in families:
        name = _task_parameter(family)
        for role, what in (("TaskRoleArn", "task role"), ("ExecutionRoleArn", "execution role")):
            parameters[f"{name}{role}"] = {
                "Type": "String",
                "Description": f"the {what} ARN of task definition {family} "
                "(apply reads it from ECS; iam:PassRole is granted for exactly it)",
                "AllowedPattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$",
            }

    def task_info(family: str) -> TaskDefinitionInfo:
        name = _task_parameter(family)
        return TaskDefinitionInfo(f"${{{name}TaskRoleArn}}", f"${{{name}ExecutionRoleArn}}")

    resources = desired_resources(registry, env, CONTEXT, task_info)
    names = set(parameters)
    ids = {resource.key: logical_id(resource) for resource in resources}
    table = next(r for r in resources if r.kind == ResourceKind.TABLE)
    body: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for resource in resources:
        logical = ids[resource.key]
        body[logical] = _resource(resource, resources, ids, names, table)
        arn = _output(resource, logical)
        if arn is not None:
            outputs[logical + "Arn"] = {"Value": arn}
    if any(r.kind == ResourceKind.JOB_META for r in resources):
        body.update(_config_writer(table, ids[table.key]))
    env_text = f" environment {env}" if env else ""
    document: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"jobctl: project {registry.project}{env_text} "
        "(generated by `jobctl export cloudformation`; do not edit)",
        "Parameters": parameters,
        "Resources": body,
        "Outputs": outputs,
    }
    pins = _pins(registry, env)
    if pins:
        document["Rules"] = pins
    return document


def _pins(registry: Registry, env: str | None) -> dict[str, Any]:
    """The environment's `account:`/`region:` pins as template rules: like apply, the stack
    refuses to deploy the environment anywhere else."""
    account, region = registry.pins.get(env, (None, None)) if env else (None, None)
    assertions = [
        {
            "Assert": {"Fn::Equals": [{"Ref": pseudo}, value]},
            "AssertDescription": f"environment {env} is pinned to {what} {value} in jobs.yaml",
        }
        for pseudo, value, what in (
            ("AWS::AccountId", account, "account"),
            ("AWS::Region", region, "region"),
        )
        if value
    ]
    return {"PinnedAccountAndRegion": {"Assertions": assertions}} if assertions else {}


def _tags(resource: Resource) -> list[dict[str, str]]:
    """The resource's tags, without apply's spec-hash cache tag: the hash would be of the
    spec with placeholders, and without it a later `jobctl plan` reads the targets in full."""
    return tag_list({k: v for k, v in resource.tags.items() if k != SPEC_HASH_TAG})


def _depends(resource: Resource, resources: list[Resource], ids: dict[Any, str]) -> list[str]:
    """What a resource names by ARN (not by Ref) must exist first."""
    kinds: dict[ResourceKind, set[ResourceKind]] = {
        ResourceKind.STATE_MACHINE: {ResourceKind.JOB_ROLE, ResourceKind.LOG_GROUP},
        ResourceKind.RULE: {ResourceKind.STATE_MACHINE, ResourceKind.TRIGGER_ROLE},
        ResourceKind.SCHEDULE: {
            ResourceKind.STATE_MACHINE,
            ResourceKind.TRIGGER_ROLE,
            ResourceKind.SCHEDULE_GROUP,
        },
    }
    wanted = kinds.get(resource.kind, set())
    return sorted(
        ids[other.key]
        for other in resources
        if other.kind in wanted and (other.job in (None, resource.job))
    )


def _resource(
    resource: Resource,
    resources: list[Resource],
    ids: dict[Any, str],
    parameters: set[str],
    table: Resource,
) -> dict[str, Any]:
    spec = resource.spec
    kind = resource.kind
    properties: dict[str, Any]
    if kind == ResourceKind.TABLE:
        attributes = sorted(
            {*spec["key"], *(part for parts in spec["indexes"].values() for part in parts)}
        )
        properties = {
            "TableName": resource.name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": _key_schema(spec["key"]),
            "AttributeDefinitions": [
                {"AttributeName": a, "AttributeType": "S"} for a in attributes
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": name,
                    "KeySchema": _key_schema(parts),
                    "Projection": {"ProjectionType": "ALL"},
                }
                for name, parts in sorted(spec["indexes"].items())
            ],
            "Tags": _tags(resource),
        }
        if spec["ttl"]:
            properties["TimeToLiveSpecification"] = {"AttributeName": spec["ttl"], "Enabled": True}
    elif kind == ResourceKind.TOPIC:
        properties = {"TopicName": resource.name, "Tags": _tags(resource)}
    elif kind == ResourceKind.LOG_GROUP:
        properties = {
            "LogGroupName": resource.name,
            "RetentionInDays": spec["retention_days"],
            "Tags": _tags(resource),
        }
    elif kind in (ResourceKind.TRIGGER_ROLE, ResourceKind.JOB_ROLE):
        properties = {
            "RoleName": resource.name,
            "Path": spec["path"],
            "Description": "managed by jobctl",
            "AssumeRolePolicyDocument": spec["trust"],
            "Policies": [{"PolicyName": INLINE_POLICY, "PolicyDocument": spec["policy"]}],
            "Tags": _tags(resource),
        }
    elif kind == ResourceKind.SCHEDULE_GROUP:
        properties = {"Name": resource.name, "Tags": _tags(resource)}
    elif kind == ResourceKind.STATE_MACHINE:
        logging = spec["logging"]
        properties = {
            "StateMachineName": resource.name,
            "StateMachineType": spec["type"],
            "RoleArn": spec["role"],
            "Definition": spec["definition"],
            "DefinitionSubstitutions": {name: {"Ref": pseudo} for name, pseudo in PSEUDO.items()},
            "LoggingConfiguration": {
                "Level": logging["level"],
                "IncludeExecutionData": logging["includeExecutionData"],
            },
            "TracingConfiguration": {"Enabled": spec["tracing"]},
            "Tags": _tags(resource),
        }
        if logging["destinations"]:  # (an empty list is refused: at least one item)
            properties["LoggingConfiguration"]["Destinations"] = [
                {
                    "CloudWatchLogsLogGroup": {
                        "LogGroupArn": d["cloudWatchLogsLogGroup"]["logGroupArn"]
                    }
                }
                for d in logging["destinations"]
            ]
        definition = properties.pop("Definition")
        properties = _sub(properties, parameters)
        properties["Definition"] = definition
        return _with_depends(
            {"Type": TYPES[kind], "Properties": properties}, _depends(resource, resources, ids)
        )
    elif kind == ResourceKind.RULE:
        properties = {"Name": resource.name, **spec, "Tags": _tags(resource)}
    elif kind == ResourceKind.SCHEDULE:
        properties = {"Name": resource.name, **spec}
    elif kind == ResourceKind.JOB_META:
        properties = {
            "ServiceToken": {"Fn::GetAtt": [CONFIG_WRITER, "Arn"]},
            "Table": {"Ref": ids[table.key]},
            "Job": resource.name,
            "Entity": spec["entity"],
            "Config": json.dumps(spec["config"], sort_keys=True),
        }
    else:  # pragma: no cover - ResourceKind is closed and TYPES covers it
        raise AssertionError(kind)
    return _with_depends(
        {"Type": TYPES[kind], "Properties": _sub(properties, parameters)},
        _depends(resource, resources, ids),
    )


def _with_depends(body: dict[str, Any], depends: list[str]) -> dict[str, Any]:
    if depends:
        body["DependsOn"] = depends
    if body["Type"] == "AWS::DynamoDB::Table":
        # The run history outlives a stack that is deleted or replaced by mistake.
        body["DeletionPolicy"] = body["UpdateReplacePolicy"] = "Retain"
    return body


def _key_schema(parts: list[str]) -> list[dict[str, str]]:
    return [
        {"AttributeName": name, "KeyType": "HASH" if index == 0 else "RANGE"}
        for index, name in enumerate(parts)
    ]


def _output(resource: Resource, logical: str) -> Any:
    kind = resource.kind
    if kind == ResourceKind.TOPIC:
        return {"Ref": logical}
    if kind in (
        ResourceKind.TABLE,
        ResourceKind.TRIGGER_ROLE,
        ResourceKind.JOB_ROLE,
        ResourceKind.LOG_GROUP,
        ResourceKind.RULE,
        ResourceKind.SCHEDULE,
        ResourceKind.SCHEDULE_GROUP,
    ):
        return {"Fn::GetAtt": [logical, "Arn"]}
    if kind == ResourceKind.STATE_MACHINE:
        return {"Ref": logical}
    return None


def _config_writer(table: Resource, table_id: str) -> dict[str, Any]:
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                    }
                ],
            },
            "ManagedPolicyArns": [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole"
                }
            ],
            "Policies": [
                {
                    "PolicyName": INLINE_POLICY,
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "dynamodb:UpdateItem",
                                "Resource": {"Fn::GetAtt": [table_id, "Arn"]},
                            }
                        ],
                    },
                }
            ],
            "Tags": _tags(table),
        },
    }
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Timeout": 30,
            "Role": {"Fn::GetAtt": [CONFIG_WRITER + "Role", "Arn"]},
            "Code": {"ZipFile": WRITER_CODE},
            "Tags": _tags(table),
        },
    }
    return {CONFIG_WRITER + "Role": role, CONFIG_WRITER: function}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
