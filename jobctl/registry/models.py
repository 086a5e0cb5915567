"""The jobs.yaml schema as pydantic v2 models.

Two layers: `*Spec` models mirror what a user may write in one place (defaults, an
environment overlay, a job, a job's per-environment overlay); every field is optional so
each layer validates on its own and errors point at the layer that holds the bad value.
`ResolvedJob` is one job after the layers are merged for one environment: complete,
immutable, and the only input the compiler accepts. Invariants: every model forbids unknown
keys; field types carry their own range checks so a layer and the merged job agree on
what is valid.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from chalicelib.core import patterns
from chalicelib.core.durations import format_duration, parse_duration
from chalicelib.core.patterns import PatternError, compile_pattern
from chalicelib.core.runtime import RetryTiming
from chalicelib.ops.parameters import MAX_VALUE
from jobctl.registry import references
from jobctl.registry.schedule import Schedule, ScheduleError, parse_schedule


def fail(message: str, **context: Any) -> PydanticCustomError:
    """A validation error whose message reaches the user verbatim."""
    return PydanticCustomError("jobctl", message, context or None)


def _duration(value: object) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _between(low: int, high: int, *, duration: bool = False) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            show = format_duration if duration else str
            raise fail(f"must be between {show(low)} and {show(high)}, found {show(value)}")
        return value

    return AfterValidator(check)


def _scalar_text(value: object) -> object:
    """Numbers become text as written (`1.10`, `0o17` stay so); booleans must be quoted.

    The loader keeps a number's source text (`yamldoc.SourcedInt`/`SourcedFloat`): a text
    field takes what the user wrote, never Python's respelling of it (`1.1`, `15`).
    """
    if isinstance(value, bool):
        raise fail(f"'{str(value).lower()}' is a boolean here: quote it to pass it as text")
    if isinstance(value, int | float):
        source = getattr(value, "source", None)
        return source if isinstance(source, str) else str(value)
    return value


# execve(2) arguments and environment values are C strings: a NUL cannot reach the process.
# Other C0 controls, DEL and C1 are refused too (they rewrite terminals that show runs);
# tab, newline and carriage return are kept for multi-line `sh -c` scripts.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _no_control(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        code = f"U+{ord(found.group()):04X}"
        if found.group() == "\x00":
            raise fail(
                f"contains a NUL character ({code}) at offset {found.start()}: a process's "
                "arguments and environment are C strings (execve(2)), ECS cannot pass it"
            )
        raise fail(
            f"contains the control character {code} at offset {found.start()}: "
            "only tab, newline and carriage return are allowed"
        )
    return value


# AWS tagging rules (Tagging AWS resources, "Tag naming limits and requirements"): keys
# 1-128 and values 0-256 Unicode characters of letters, separators, digits and `_.:/=+-@`.
_TAG_CHARACTERS = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"


def _tag_text(what: str, limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > limit:
            raise fail(
                f"a tag {what} allows at most {limit} characters (AWS tag limits), "
                f"found {len(value)}"
            )
        if not patterns.fullmatch(_TAG_CHARACTERS, value):
            bad = next(c for c in value if not patterns.fullmatch(_TAG_CHARACTERS, c))
            raise fail(
                f"'{bad}' (U+{ord(bad):04X}) is not allowed in a tag {what}: AWS tags allow "
                "letters, digits, spaces and _ . : / = + - @"
            )
        return value

    return AfterValidator(check)


def _at_most(limit: int, why: str) -> AfterValidator:
    """A length limit whose message names the limit and where it comes from."""

    def check(value: str) -> str:
        if len(value) > limit:
            raise fail(f"allows at most {limit:,} characters ({why}), found {len(value):,}")
        return value

    return AfterValidator(check)


def _version(value: object) -> object:
    """`version: true` is not 1 (pydantic's Literal[1] would take True, and 1.0)."""
    if isinstance(value, bool):
        raise fail(f"'{str(value).lower()}' is a boolean, not a version: write 'version: 1'")
    if isinstance(value, float):
        raise fail(f"{value} is not allowed; expected 1")
    return value


def _matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise fail(f"'{value}' is not a valid {what}")
        return value

    return AfterValidator(check)


def _schedule(value: object) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str):
        raise fail(
            "expected a schedule such as 'cron(0 3 * * ? *)', 'rate(5 minutes)' or '0 3 * * *'"
        )
    try:
        return parse_schedule(value)
    except ScheduleError as exc:
        raise fail(exc.message, offset=exc.offset) from None


_ZONE_ALIASES = {"UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"}


def _timezone(value: str) -> str:
    if value in _ZONE_ALIASES:
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        from difflib import get_close_matches

        close = get_close_matches(value, sorted(available_timezones()), n=1)
        hint = (
            f" (did you mean '{close[0]}'?)" if close else " (use an IANA name like 'Asia/Tokyo')"
        )
        raise fail(f"unknown time zone '{value}'{hint}") from None
    return value


def _regex(value: str) -> str:
    """A parameter pattern: RE2 (linear time, ASCII `\\d`), as the API matches values with."""
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise fail(str(exc)) from None
    return value


def _referable(setting: str, literal: Any = None) -> AfterValidator:
    """A setting that may hold a reference (`jobctl.registry.references`): a reference is
    checked for its syntax and kind and kept as written; any other value is a literal,
    checked by `literal`."""

    def check(value: str) -> str:
        try:
            if references.parse_reference(value) is not None:
                return references.check_value(setting, value)
        except references.ReferenceSyntaxError as exc:
            raise fail(str(exc)) from None
        return literal(value) if literal is not None else value

    return AfterValidator(check)


def _reference_list(value: object) -> object:
    """`subnets: ${env:SUBNET_IDS}`: one reference for the whole list is a list of one."""
    if isinstance(value, str) and references.looks_like_reference(value):
        return [value]
    return value


def _task_definition(value: str) -> str:
    family = r"[A-Za-z0-9_-]{1,255}(:[1-9][0-9]*)?"
    arn = r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/" + family
    if not (re.fullmatch(family, value) or re.fullmatch(arn, value)):
        raise fail(f"'{value}' is not a task definition family, family:revision or ARN")
    return value


# What each custom type accepts as written in YAML, for the JSON Schema of jobs.yaml
# (jobctl/registry/schema.py): the validators above take more than the Python type says
# (a duration is '10m' or seconds; a text field takes a number as written).
_TEXT_SCHEMA = WithJsonSchema({"type": ["string", "number"]})
_DURATION_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": r"^\s*(?=\d)(\d+d)?(\d+h)?(\d+m)?(\d+s)?\s*$"},
        ],
        "description": "a duration: '90s', '10m', '1h30m', '2d', or seconds",
    }
)


def _name_schema(pattern: str, description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{pattern}$", "description": description})


Duration = Annotated[int, BeforeValidator(_duration), _DURATION_SCHEMA]
Text = Annotated[str, BeforeValidator(_scalar_text), _TEXT_SCHEMA]
# What reaches the container: command arguments and environment values.
ProcessText = Annotated[
    str, BeforeValidator(_scalar_text), AfterValidator(_no_control), _TEXT_SCHEMA
]
TagKey = Annotated[str, Field(min_length=1), _tag_text("key", 128)]
TagValue = Annotated[str, BeforeValidator(_scalar_text), _tag_text("value", 256), _TEXT_SCHEMA]
# EventBridge rules and Scheduler schedules allow 512 characters in Description; the
# trigger's is "jobctl: " + the job's description, so 500 keep it whole.
MAX_DESCRIPTION = 500
ParameterValue = Annotated[
    str,
    BeforeValidator(_scalar_text),
    AfterValidator(_no_control),
    _at_most(MAX_VALUE, "the API accepts manual-run values of at most 1,024 characters"),
    _TEXT_SCHEMA,
]
Description = Annotated[
    str,
    _at_most(
        MAX_DESCRIPTION,
        "EventBridge rules and Scheduler schedules allow a 512-character Description, "
        "which holds 'jobctl: ' and this text",
    ),
]
NonEmpty = Annotated[str, Field(min_length=1)]
_JOB_NAME, _LOWER_NAME = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", r"[a-z]([a-z0-9-]*[a-z0-9])?"
_ENV_VAR, _PARAM = r"[A-Za-z_][A-Za-z0-9_]*", r"[A-Z_][A-Z0-9_]*"
JobName = Annotated[
    str,
    _matching(_JOB_NAME, "job name (lowercase letters, digits, '-')"),
    _name_schema(_JOB_NAME, "a job name: lowercase letters, digits, '-'"),
]
EnvName = Annotated[
    str,
    _matching(_LOWER_NAME, "environment name (lowercase letters, digits, '-')"),
    _name_schema(_LOWER_NAME, "an environment name: lowercase letters, digits, '-'"),
]
ProjectName = Annotated[
    str,
    _matching(_LOWER_NAME, "project name (lowercase letters, digits, '-')"),
    _name_schema(_LOWER_NAME, "the project: prefix of every AWS name"),
]
EnvVarName = Annotated[
    str,
    _matching(_ENV_VAR, "environment variable name"),
    _name_schema(_ENV_VAR, "an environment variable name"),
]
ParamName = Annotated[
    str,
    _matching(_PARAM, "parameter name (UPPER_SNAKE_CASE)"),
    _name_schema(_PARAM, "a parameter name (UPPER_SNAKE_CASE)"),
]
# Both end up inside JSONata string literals in the state machine: keep them quote-free.
ContainerName = Annotated[
    str, _matching(r"[A-Za-z0-9_-]{1,255}", "container name (letters, digits, '-', '_')")
]
SlackRoute = Annotated[
    str, _matching(r"[A-Za-z0-9_#.-]{1,80}", "Slack route (a channel or webhook name)")
]
ScheduleText = Annotated[
    Schedule,
    BeforeValidator(_schedule),
    WithJsonSchema(
        {
            "type": "string",
            "description": "cron(min hour dom month dow year), rate(5 minutes), Unix cron "
            "('0 3 * * *') or a macro ('@daily')",
        }
    ),
]
TimeZone = Annotated[str, AfterValidator(_timezone)]
TaskDefinition = Annotated[str, _referable("task_definition", _task_definition)]
Concurrency = Literal["allow", "forbid", "replace"]
LaunchType = Literal["FARGATE", "EC2", "EXTERNAL"]
AlertEvent = Literal["failure", "recovery"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSpec(StrictModel):
    """awsvpc networking; required for Fargate."""

    subnets: (
        Annotated[
            list[Annotated[NonEmpty, _referable("subnets")]],
            BeforeValidator(_reference_list),
            Field(min_length=1, max_length=16),
        ]
        | None
    ) = None
    security_groups: (
        Annotated[
            list[Annotated[NonEmpty, _referable("security_groups")]],
            BeforeValidator(_reference_list),
            Field(max_length=5),
        ]
        | None
    ) = None
    assign_public_ip: bool | None = None


class CapacityRetrySpec(StrictModel):
    """Retries for RunTask calls that could not place the task or were throttled."""

    retries: Annotated[int, _between(0, 20)] | None = None
    interval: Annotated[Duration, _between(1, 3600, duration=True)] | None = None
    backoff_rate: Annotated[float, Field(ge=1.0, le=10.0)] | None = None
    max_interval: Annotated[Duration, _between(1, 86400, duration=True)] | None = None


class RetrySpec(StrictModel):
    """Retries after the job itself failed (non-zero exit, task failed to start)."""

    retries: Annotated[int, _between(0, 10)] | None = None
    interval: Annotated[Duration, _between(1, 86400, duration=True)] | None = None
    backoff_rate: Annotated[float, Field(ge=1.0, le=10.0)] | None = None
    max_interval: Annotated[Duration, _between(1, 86400, duration=True)] | None = None
    on_timeout: bool | None = None
    capacity: CapacityRetrySpec | None = None


class AlertsSpec(StrictModel):
    # Not `on`: YAML 1.1 tools (PyYAML, yq v3, many linters) read that key as `true`.
    events: Annotated[list[AlertEvent], Field(max_length=2)] | None = None
    slack: SlackRoute | None = None


class LoggingSpec(StrictModel):
    """Step Functions execution logs to CloudWatch Logs (billed per event)."""

    level: Literal["OFF", "ERROR", "FATAL", "ALL"] | None = None
    include_execution_data: bool | None = None


class CapacityProviderSpec(StrictModel):
    capacity_provider: NonEmpty
    weight: Annotated[int, _between(0, 1000)] = 1
    base: Annotated[int, _between(0, 100000)] = 0


class ParameterSpec(StrictModel):
    """A variable an operator may set on a manual run; passed as container environment."""

    description: (
        Annotated[
            str,
            _at_most(
                MAX_DESCRIPTION,
                "it is shown by the API, and the job's record must fit a 400 KB DynamoDB item",
            ),
        ]
        | None
    ) = None
    pattern: Annotated[str, AfterValidator(_regex)] | None = None
    # A manual-run value is at most 1,024 characters (chalicelib/ops/parameters.py): an
    # enum value or default longer than that could never be passed.
    enum: Annotated[list[ParameterValue], Field(min_length=1, max_length=100)] | None = None
    default: ParameterValue | None = None
    required: bool = False


class SettingsSpec(StrictModel):
    """Fields that may be set in defaults, an environment overlay, a job or its overlay."""

    cluster: Annotated[NonEmpty, _referable("cluster")] | None = None
    task_definition: TaskDefinition | None = None
    container: ContainerName | None = None
    launch_type: LaunchType | None = None
    capacity_provider_strategy: (
        Annotated[list[CapacityProviderSpec], Field(min_length=1, max_length=6)] | None
    ) = None
    platform_version: NonEmpty | None = None
    network: NetworkSpec | None = None
    cpu: int | None = None
    memory: int | None = None
    timeout: Annotated[Duration, _between(60, 365 * 86400, duration=True)] | None = None
    starting_deadline: Annotated[Duration, _between(60, 86400, duration=True)] | None = None
    retry: RetrySpec | None = None
    concurrency: Concurrency | None = None
    alerts: AlertsSpec | None = None
    logging: LoggingSpec | None = None
    tracing: bool | None = None
    enabled: bool | None = None
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=40)] | None = None


def _account(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise fail(f"'{value}' is not a valid AWS account id (12 digits)")
    return value


def _tfstate(value: str) -> str:
    if value.startswith("s3://"):
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise fail(f"'{value}' is not an S3 location: write s3://BUCKET/KEY")
    return value


class EnvironmentSpec(SettingsSpec):
    """An overlay selected with --env; may pin the AWS account and region it deploys to."""

    account: Annotated[str, _referable("account", _account)] | None = None
    region: Annotated[str, _matching(r"[a-z]{2}(-[a-z]+)+-\d", "AWS region")] | None = None
    # The Terraform state `${tfstate:...}` references read: a path (relative to jobs.yaml)
    # or s3://BUCKET/KEY.
    tfstate: Annotated[NonEmpty, AfterValidator(_tfstate)] | None = None


class JobOverlaySpec(SettingsSpec):
    """A job's own overrides for one environment."""

    schedule: ScheduleText | None = None
    timezone: TimeZone | None = None
    command: Annotated[list[ProcessText], Field(min_length=1)] | None = None
    environment: dict[EnvVarName, ProcessText] | None = None


class JobSpec(JobOverlaySpec):
    description: Description | None = None
    owner: Annotated[str, _at_most(256, "it is shown in alerts and the API")] | None = None
    parameters: dict[ParamName, ParameterSpec] | None = None
    environments: dict[EnvName, JobOverlaySpec] | None = None


class HistorySpec(StrictModel):
    """How long run records are kept (DynamoDB TTL on `expires_at`)."""

    retention: Annotated[Duration, _between(86400, 3650 * 86400, duration=True)] | None = None


DEFAULT_RETENTION = 90 * 86400


class RegistrySpec(StrictModel):
    version: Annotated[Literal[1], BeforeValidator(_version)]
    project: ProjectName
    history: HistorySpec | None = None
    defaults: SettingsSpec | None = None
    environments: dict[EnvName, EnvironmentSpec] | None = None
    jobs: dict[JobName, JobSpec]


# --- resolved (merged) -----------------------------------------------------------------


class Network(StrictModel):
    subnets: list[str]
    security_groups: list[str]
    assign_public_ip: bool = False


class CapacityRetry(StrictModel):
    retries: int = 5
    interval: int = 10
    backoff_rate: float = 2.0
    max_interval: int = 300


class Retry(StrictModel):
    retries: int = 0
    interval: int = 30
    backoff_rate: float = 2.0
    max_interval: int | None = None
    on_timeout: bool = False
    capacity: CapacityRetry = CapacityRetry()


class Alerts(StrictModel):
    events: tuple[AlertEvent, ...] = ("failure", "recovery")
    slack: str | None = None


class Logging(StrictModel):
    level: Literal["OFF", "ERROR", "FATAL", "ALL"] = "OFF"
    include_execution_data: bool = False


class CapacityProvider(StrictModel):
    capacity_provider: str
    weight: int = 1
    base: int = 0


class Parameter(StrictModel):
    description: str | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    default: str | None = None
    required: bool = False


class ResolvedJob(StrictModel):
    """One job in one environment with every layer applied. Input to the compiler."""

    name: str
    project: str
    env: str | None
    description: str | None = None
    owner: str | None = None
    schedule: Schedule
    timezone: str = "UTC"
    command: tuple[str, ...] | None = None
    environment: dict[str, str] = {}
    parameters: dict[str, Parameter] = {}
    cluster: str
    task_definition: str
    container: str
    launch_type: LaunchType | None = None
    capacity_provider_strategy: tuple[CapacityProvider, ...] | None = None
    platform_version: str | None = None
    network: Network | None = None
    cpu: int | None = None
    memory: int | None = None
    timeout: int = 3600
    starting_deadline: int | None = None
    retry: Retry = Retry()
    concurrency: Concurrency = "forbid"
    alerts: Alerts = Alerts()
    logging: Logging = Logging()
    tracing: bool = False
    enabled: bool = True
    tags: dict[str, str] = {}
    history_retention: int = DEFAULT_RETENTION

    @property
    def retry_timing(self) -> RetryTiming:
        """The retry policy's timing, as the worst-case formula reads it."""
        retry = self.retry
        return RetryTiming(retry.retries, retry.interval, retry.backoff_rate, retry.max_interval)

    @property
    def uses_scheduler(self) -> bool:
        """Non-UTC jobs need EventBridge Scheduler; rules only know UTC."""
        return self.timezone != "UTC"

    @property
    def is_fargate(self) -> bool:
        if self.capacity_provider_strategy:
            return all(
                p.capacity_provider.startswith("FARGATE") for p in self.capacity_provider_strategy
            )
        # No launch type and no strategy means the cluster's default strategy: unknown here.
        return self.launch_type == "FARGATE"
