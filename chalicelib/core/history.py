"""The history table's schema: keys, indexes, attribute names, run statuses and limits.

One DynamoDB table per project and environment (`<prefix>-history`, `names.shared_names`)
holds every item jobctl keeps; key attributes `pk` (partition) and `sk` (sort):

    JOB#<job>      META                  the deployed job: `config` and `entity`/`job_name`
                                         (deploy), the pause flag (API), the lock and last
                                         outcome (state machine)
    JOB#<job>      RUN#<run id>          a run record (the run id is the execution's name)
    JOB#<job>      DEDUPE#<minute>       the claim marker of one scheduled minute (the first
                   DEDUPE#<run id>       16 characters of `scheduled_time`), or of a manual
                                         run; expires (TTL)
    JOB#<job>      ALERT                 the alert storm guard's state (`alerts.storm`)
    JOB#<job>      WATCHDOG              the missed-run watchdog's state (`alerts.watchdog`)
    SLACK#REQUEST  SIG#<signature>       a Slack request already handled (replay guard); TTL
    SLACK#CLICK    CLICK#<digest>        a Re-run button clicked (one re-run per button of a
                                         message: its run once started); TTL
    API#TOKENS     KEY                   the key pagination tokens are signed with (created
                                         on first use; deleting it voids every token)
    DEPLOY         LOCK                  the deploy lock: who holds it, until when (a lease
                                         taken by a conditional write; `jobctl.deploy.lock`)
    DEPLOY         REVISION              the registry revision last applied (git commit,
                                         jobs.yaml digest, a sequence that only grows)

Writers: the state machines (`jobctl.compile.asl` emits these formats as JSONata text built
from the constants here), the recorder and API (`chalicelib.history.store`), the alert state
(`chalicelib.alerts.state`, `slack_actions`) and deploy (the META `config`).

Invariants:
- Every key format, index definition and run-status set is spelled here only; other modules
  build keys with these functions and read the index definitions from `INDEXES`.
- Everything under `JOB#<job>` is the job's own, so an execution role limited to its job's
  partition (`dynamodb:LeadingKeys = [job_pk(job)]`) can do all its writes.
- Only run records carry `job`/`status` and only run records and dedupe markers carry
  `run_id`; only META items of deployed jobs carry `entity`. So each index holds just the
  items its queries want (state documents and Slack markers are in no index).
- Run statuses are Step Functions execution statuses (the recorder copies an execution's
  status into its run record) plus SKIPPED, which no execution ends in: a run that was not
  started (paused, duplicate, concurrent, late) is recorded SKIPPED by an execution that
  SUCCEEDED.

Pure Python: the core imports nothing else of jobctl's (the state machine compiler uses
this module without boto3).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

# ---------------------------------------------------------------- keys

PK: Final = "pk"
SK: Final = "sk"
KEY: Final = (PK, SK)

JOB_PREFIX: Final = "JOB#"
RUN_PREFIX: Final = "RUN#"
DEDUPE_PREFIX: Final = "DEDUPE#"
META: Final = "META"
ALERT: Final = "ALERT"
WATCHDOG: Final = "WATCHDOG"
SLACK_REQUESTS: Final = "SLACK#REQUEST"
SIGNATURE_PREFIX: Final = "SIG#"
SLACK_CLICKS: Final = "SLACK#CLICK"
CLICK_PREFIX: Final = "CLICK#"
TOKENS: Final = "API#TOKENS"
TOKEN_KEY: Final = "KEY"
DEPLOY: Final = "DEPLOY"
DEPLOY_LOCK: Final = "LOCK"
DEPLOY_REVISION: Final = "REVISION"
# A scheduled run's dedupe marker names its minute: the first 16 characters of the ISO 8601
# `scheduled_time` (`2024-05-01T03:00`), so two deliveries of one schedule tick collide.
SCHEDULED_MINUTE_CHARS: Final = 16
# Between the parts of the index sort keys `job_time` and `status_time`.
SEPARATOR: Final = "#"


def job_pk(job: str) -> str:
    """The partition of everything a job owns."""
    return JOB_PREFIX + job


def job_of(pk: str) -> str | None:
    """The job a partition key belongs to; None for a partition that is no job's."""
    return pk.removeprefix(JOB_PREFIX) if pk.startswith(JOB_PREFIX) else None


def run_sk(run_id: str) -> str:
    return RUN_PREFIX + run_id


def is_run_sk(sk: str) -> bool:
    return sk.startswith(RUN_PREFIX)


def dedupe_sk(scheduled_time: str, run_id: str) -> str:
    """The claim marker: the scheduled minute, or the run itself for an unscheduled run."""
    marker = scheduled_time[:SCHEDULED_MINUTE_CHARS] if scheduled_time else run_id
    return DEDUPE_PREFIX + marker


def signature_sk(signature: str) -> str:
    return SIGNATURE_PREFIX + signature


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    """An item's key as DynamoDB's typed attribute values."""
    return {PK: {"S": pk}, SK: {"S": sk}}


def run_key(job: str, run_id: str) -> dict[str, dict[str, str]]:
    return key(job_pk(job), run_sk(run_id))


def meta_key(job: str) -> dict[str, dict[str, str]]:
    return key(job_pk(job), META)


def state_key(job: str, kind: str) -> dict[str, dict[str, str]]:
    """A job's state document: `kind` is ALERT or WATCHDOG."""
    return key(job_pk(job), kind)


def signature_key(signature: str) -> dict[str, dict[str, str]]:
    return key(SLACK_REQUESTS, signature_sk(signature))


def click_key(digest: str) -> dict[str, dict[str, str]]:
    """A Re-run button click: `digest` names the message's button (`alerts.slack_actions`)."""
    return key(SLACK_CLICKS, CLICK_PREFIX + digest)


def token_key() -> dict[str, dict[str, str]]:
    """The item holding the pagination tokens' signing key (`history.tokens`)."""
    return key(TOKENS, TOKEN_KEY)


def deploy_lock_key() -> dict[str, dict[str, str]]:
    """The environment's deploy lock (`jobctl.deploy.lock`); in no index."""
    return key(DEPLOY, DEPLOY_LOCK)


def deploy_revision_key() -> dict[str, dict[str, str]]:
    """The registry revision last applied to the environment (`jobctl.deploy.lock`)."""
    return key(DEPLOY, DEPLOY_REVISION)


def job_time(started_at: str, run_id: str) -> str:
    """A run's `by_job` sort key: by start time, the run id breaking ties."""
    return f"{started_at}{SEPARATOR}{run_id}"


def status_time(started_at: str, job: str, run_id: str) -> str:
    """A run's `by_status` sort key: by start time across jobs, then job and run id."""
    return f"{started_at}{SEPARATOR}{job}{SEPARATOR}{run_id}"


# ---------------------------------------------------------------- attributes and indexes

# The attributes the indexes key on (and that the state machines, the recorder, the store
# and deploy all write or query by name).
JOB: Final = "job"
JOB_TIME: Final = "job_time"
STATUS: Final = "status"
STATUS_TIME: Final = "status_time"
RUN_ID: Final = "run_id"
ENTITY: Final = "entity"
JOB_NAME: Final = "job_name"
# DynamoDB deletes an item once this epoch-seconds number is past.
TTL: Final = "expires_at"
# The `entity` of a deployed job's META item: what the `jobs` index is queried for.
JOB_ENTITY: Final = "job"

BY_JOB: Final = "by_job"
BY_STATUS: Final = "by_status"
BY_RUN: Final = "by_run"
JOBS: Final = "jobs"
# Index -> (partition key, sort key) attributes. Key lookups, never scans: runs by job
# (newest first), by status across jobs, a run by its id alone (what alerts and operators
# quote: runs and their dedupe markers), and the deployed jobs (one small item per job).
INDEXES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        BY_JOB: (JOB, JOB_TIME),
        BY_STATUS: (STATUS, STATUS_TIME),
        BY_RUN: (RUN_ID,),
        JOBS: (ENTITY, JOB_NAME),
    }
)

# Every attribute each kind of item may carry; `tests/unit/test_history_schema.py` checks
# the compiled state machines write nothing else.
RUN_ATTRIBUTES: Final = frozenset(
    {
        *KEY,
        RUN_ID,
        JOB,
        STATUS,
        JOB_TIME,
        STATUS_TIME,
        TTL,
        "trigger",
        "triggered_by",
        "scheduled_time",
        "started_at",
        "ended_at",
        "execution_arn",
        "parameters",
        "reason",
        "rerun_of",
        # "allow": an operator's explicit override of a forbid job's policy (the run took
        # no lock and ran beside its holder); "" for every other run.
        "concurrency_override",
        "skip_reason",
        "attempts",
        "exit_code",
        "error",
        "cause",
        "stopped_reason",
        "task_arn",
        # Written by the API's stop (`jobctl stop`, POST /runs/{id}/stop), never by a machine.
        "aborted_by",
        "abort_reason",
    }
)
META_ATTRIBUTES: Final = frozenset(
    {
        *KEY,
        "config",
        ENTITY,
        JOB_NAME,
        "paused",
        "paused_by",
        "paused_at",
        "paused_reason",
        "lock_holder",
        "lock_until",
        "last_status",
        "last_run",
        "last_ended_at",
    }
)
DEDUPE_ATTRIBUTES: Final = frozenset({*KEY, RUN_ID, TTL})
STATE_ATTRIBUTES: Final = frozenset({*KEY, "state", "version", "updated_at"})
SIGNATURE_ATTRIBUTES: Final = frozenset({*KEY, TTL})
# Not `run_id`: a click is in no index (`by_run` holds runs and their dedupe markers only).
CLICK_ATTRIBUTES: Final = frozenset({*KEY, TTL, "rerun_id", "slack_user", "claimed_at"})
TOKEN_KEY_ATTRIBUTES: Final = frozenset({*KEY, "secret", "created_at"})


# ---------------------------------------------------------------- run statuses


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    SKIPPED = "SKIPPED"


# A record in one of these never changes again. A tuple, not a set: the store merges its
# per-status queries in this order.
TERMINAL: Final = (
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.TIMED_OUT,
    RunStatus.ABORTED,
    RunStatus.SKIPPED,
)
STATUSES: Final = (RunStatus.RUNNING, *TERMINAL)
# A run that failed: what alerts, and what a later success recovers from.
FAILED_STATUSES: Final = (RunStatus.FAILED, RunStatus.TIMED_OUT)
# The statuses a Step Functions execution ends in (see the module docstring on SKIPPED).
EXECUTION_ENDED: Final = frozenset(TERMINAL) - {RunStatus.SKIPPED}


# ---------------------------------------------------------------- limits

# The most items one page of a history listing returns (the API's and CLI's `limit`).
MAX_PAGE: Final = 100
# A filtered listing reads at most this many DynamoDB pages per page it returns.
MAX_READS: Final = 20
# Characters of an execution's error cause kept on its run record.
CAUSE_LIMIT: Final = 4000
