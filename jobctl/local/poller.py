"""The local stand-ins for two EventBridge/SNS deliveries moto does not make.

* `HistoryPoller`: moto emits no "Step Functions Execution Status Change" events, so this
  polls ListExecutions of the project's state machines and feeds each status change,
  described by DescribeExecution (the shape the events carry), to the production
  `Recorder`, exactly as the `record_execution_status` Lambda would (so it too records only
  the machines deploy recorded, in the local account and region: `home`). Each applied
  change is reported with the run record as it stands after it.
* `AlertPoller`: the state machines publish alerts to the SNS topic `<base>-alerts`; an
  SQS queue subscribed to it (raw delivery) is polled, and each message (an AWS Chatbot
  custom notification) is handed to a callback once, then deleted.
Invariants: a change is reported once per (execution, status); a poll failing (the endpoint
going away at shutdown) is reported, never raised out of the thread; `stop()` joins the
thread, and a final `poll_once()` after it records what ended in the meantime.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.aws.clients import AwsContext
from chalicelib.core.history import RunStatus
from chalicelib.history.recorder import ExecutionChange, Recorder, RejectedEvent
from chalicelib.history.store import RunStore

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunChange:
    job: str
    run_id: str
    status: str  # the execution's status
    record: dict[str, Any] | None  # the run record after the change (SKIPPED runs say so)


class _Loop:
    """A stoppable polling thread around `poll_once`."""

    name = "jobctl-poller"

    def __init__(self, interval: float, say: Say) -> None:
        self.interval = interval
        self.say = say
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def poll_once(self) -> None:
        raise NotImplementedError

    def next_wait(self) -> float:
        return self.interval

    def wake(self) -> None:
        """Poll now instead of at the end of the current wait."""
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                if self._stop.is_set():
                    return
                self.say(f"{self.name}: {exc}")
            self._wake.wait(self.next_wait())
            self._wake.clear()


class HistoryPoller(_Loop):
    name = "jobctl-history"

    def __init__(
        self,
        stepfunctions: Any,
        store: RunStore,
        prefix: str,
        on_change: Callable[[RunChange], None],
        say: Say,
        home: Callable[[], AwsContext],
        interval: float = 0.2,
        idle_interval: float = 1.0,
    ) -> None:
        super().__init__(interval, say)
        self.idle_interval = idle_interval
        self.stepfunctions = stepfunctions
        self.store = store
        self.recorder = Recorder(store, prefix, home)
        self.prefix = f"{prefix}-"
        self.on_change = on_change
        self._seen: dict[str, str] = {}

    def poll_once(self) -> None:
        with self._lock:
            for machine in self._machines():
                for arn in self._changed(machine):
                    described = self.stepfunctions.describe_execution(executionArn=arn)
                    try:
                        change = ExecutionChange.from_description(described)
                    except RejectedEvent as exc:
                        # One unusable execution must not stop the poll of the others.
                        self.say(f"{self.name}: ignored {arn}: {exc}")
                        self._seen[arn] = str(described.get("status", ""))
                        continue
                    if self._seen.get(arn) == change.status:
                        continue
                    self.recorder.record(change)
                    self._seen[arn] = change.status
                    job = self.recorder.job_of(change.state_machine_arn) or "?"
                    record = self.store.get(job, change.name)
                    self.on_change(RunChange(job, change.name, change.status, record))

    def _changed(self, machine: str) -> list[str]:
        """Executions of `machine` that are new or have left RUNNING since the last poll.

        ListExecutions is newest first, so new ones are read until the first known one;
        known RUNNING ones are checked against the RUNNING list. A poll costs two calls per
        machine however long the history grows.
        """
        fresh: list[str] = []
        for execution in self._executions(machine):
            if execution["executionArn"] in self._seen:
                break
            fresh.append(execution["executionArn"])
        running = {e["executionArn"] for e in self._executions(machine, RunStatus.RUNNING)}
        ended = [
            arn
            for arn, status in self._seen.items()
            if status == RunStatus.RUNNING
            and arn.startswith(_executions_of(machine))
            and arn not in running
        ]
        return list(reversed(fresh)) + ended

    def next_wait(self) -> float:
        # Quick while something runs (status changes are what the console shows); an idle
        # platform polls less. `wake()` (a run just started) cuts any wait short.
        return self.interval if self.running() else self.idle_interval

    def running(self) -> list[str]:
        """Execution ARNs last seen RUNNING."""
        with self._lock:
            return [arn for arn, status in self._seen.items() if status == RunStatus.RUNNING]

    def _machines(self) -> list[str]:
        machines: list[str] = []
        token: str | None = None
        while True:
            page = self.stepfunctions.list_state_machines(**({"nextToken": token} if token else {}))
            machines.extend(
                m["stateMachineArn"]
                for m in page.get("stateMachines", [])
                if m["name"].startswith(self.prefix)
            )
            token = page.get("nextToken")
            if not token:
                return machines

    def _executions(self, machine: str, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Newest first, page by page as the caller reads on."""
        token: str | None = None
        while True:
            page = self.stepfunctions.list_executions(
                stateMachineArn=machine,
                **({"statusFilter": status} if status else {}),
                **({"nextToken": token} if token else {}),
            )
            yield from page.get("executions", [])
            token = page.get("nextToken")
            if not token:
                return


def _executions_of(machine_arn: str) -> str:
    """The ARN prefix of a state machine's executions."""
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"


class AlertPoller(_Loop):
    name = "jobctl-alerts"

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        on_alert: Callable[[dict[str, Any]], None],
        say: Say,
        interval: float = 0.5,
    ) -> None:
        # Short polls: a long poll would hold moto's request lock (jobctl.local.moto, fix 9).
        super().__init__(interval, say)
        self.sqs = sqs
        self.queue_url = queue_url
        self.on_alert = on_alert

    def poll_once(self) -> None:
        with self._lock:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            for message in received.get("Messages", []):
                try:
                    alert = json.loads(message["Body"])
                except ValueError:
                    alert = {
                        "content": {"title": "unreadable alert", "description": message["Body"]}
                    }
                try:
                    self.on_alert(alert if isinstance(alert, dict) else {"content": {}})
                finally:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )


def subscribe_queue(sns: Any, sqs: Any, topic_arn: str, queue_name: str) -> str:
    """An SQS queue receiving the topic's messages as sent (raw delivery); returns its URL."""
    queue_url = str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return queue_url
