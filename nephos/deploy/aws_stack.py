"""CloudFormation stacks as nephos sees them: change sets, their plans, stack events, failures.

Plain values and small functions over boto3: the session, one-line error messages, and the
CloudFormation calls. Change sets are always named uniquely and referred to by their ARN
(stand-ins look names up across stacks). The deploy and destroy flows that string these
together live in ``aws_deploy.py`` and ``aws_destroy.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nephos.errors import BackendError, UsageError

__all__ = [
    "NO_CHANGES",
    "Change",
    "ChangeSetStatus",
    "DeployError",
    "EventReader",
    "Failure",
    "Plan",
    "StackEvent",
    "aws_message",
    "change_set_name",
    "describe_stack",
    "failures",
    "is_failed",
    "is_terminal",
    "plan_of",
    "session_for",
    "wait_for_change_set",
]

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
"""Status reasons of a change set that has nothing to do."""


class DeployError(BackendError):
    """A deploy or destroy failed; ``failures`` names the resources and their reasons."""

    def __init__(
        self, message: str, *, status: str | None = None, failures: Sequence[Failure] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.failures = tuple(failures)


@dataclass(frozen=True, slots=True)
class Change:
    """One row of a plan: what happens to one resource."""

    action: str  # Add, Modify, Remove (also Import, Dynamic)
    logical_id: str
    resource_type: str
    replacement: str | None = None  # True, False, Conditional; None when not reported


@dataclass(frozen=True, slots=True)
class Plan:
    """A change set that is ready to execute."""

    stack_name: str
    change_set_arn: str
    change_set_type: str  # CREATE or UPDATE
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class ChangeSetStatus:
    """How a change set ended up: ``CREATE_COMPLETE`` or ``FAILED``, with the reason."""

    status: str
    reason: str

    @property
    def empty(self) -> bool:
        """The change set failed only because there was nothing to change."""
        return self.status == "FAILED" and any(text in self.reason for text in NO_CHANGES)


@dataclass(frozen=True, slots=True)
class StackEvent:
    """One stack event, as the progress display shows it."""

    event_id: str
    ts: datetime
    logical_id: str
    resource_type: str
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Failure:
    """A resource that failed, and why."""

    logical_id: str
    resource_type: str
    status: str
    reason: str


def change_set_name(now: datetime) -> str:
    """A change-set name that no other deploy uses: time, then random hex."""
    return f"nephos-deploy-{now.astimezone(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def describe_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """The stack's description, or None when there is no such stack.

    Raises:
        BackendError: CloudFormation refused the call for another reason.
    """
    from botocore.exceptions import ClientError

    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise BackendError(f"cannot describe stack {stack_name}: {exc}") from exc
    return dict(stacks[0]) if stacks else None


def wait_for_change_set(
    cfn: Any, arn: str, *, sleep: Callable[[float], None], interval: float = 1.0
) -> ChangeSetStatus:
    """Poll the change set until it is built or has failed."""
    while True:
        found = cfn.describe_change_set(ChangeSetName=arn)
        status = str(found["Status"])
        if status in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"):
            return ChangeSetStatus(status, str(found.get("StatusReason") or ""))
        sleep(interval)


def plan_of(cfn: Any, stack_name: str, arn: str, change_set_type: str) -> Plan:
    """The plan of a built change set (every page of its changes)."""
    changes: list[Change] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"ChangeSetName": arn}
        if token:
            kwargs["NextToken"] = token
        page = cfn.describe_change_set(**kwargs)
        for entry in page.get("Changes", []):
            rc = entry.get("ResourceChange", {})
            changes.append(
                Change(
                    action=str(rc.get("Action", "?")),
                    logical_id=str(rc.get("LogicalResourceId", "?")),
                    resource_type=str(rc.get("ResourceType", "?")),
                    replacement=rc.get("Replacement"),
                )
            )
        token = page.get("NextToken")
        if not token:
            break
    return Plan(stack_name, arn, change_set_type, tuple(changes))


def is_terminal(status: str) -> bool:
    """The stack has stopped moving: a COMPLETE (not cleaning up) or a FAILED status."""
    if status.endswith("_IN_PROGRESS"):
        return False
    return status.endswith("_COMPLETE") or status.endswith("_FAILED")


def is_failed(status: str) -> bool:
    """The stack's operation did not succeed (it failed, or rolled back)."""
    return "FAILED" in status or "ROLLBACK" in status


def failures(events: Sequence[StackEvent]) -> list[Failure]:
    """The resources that failed, oldest first, without the cancellations they caused."""
    out: list[Failure] = []
    for event in events:
        if not event.status.endswith("_FAILED"):
            continue
        if "cancelled" in event.reason.lower() and out:
            continue  # "Resource creation cancelled": a consequence, not a cause
        out.append(Failure(event.logical_id, event.resource_type, event.status, event.reason))
    return out


class EventReader:
    """New stack events, oldest first, each once (by ``EventId``).

    :meth:`prime` before the operation marks the events that already exist as seen, so that
    the display starts with the operation's own events whatever the local clock says.
    """

    def __init__(self, cfn: Any, stack: str) -> None:
        self._cfn = cfn
        self._stack = stack
        self._since: datetime | None = None
        self._seen: set[str] = set()
        self.events: list[StackEvent] = []
        """Every event read since :meth:`prime`."""

    def prime(self) -> None:
        """Mark the stack's current events as seen (none when the stack does not exist)."""
        from botocore.exceptions import ClientError

        try:
            page = self._cfn.describe_stack_events(StackName=self._stack)
        except ClientError:
            return
        for raw in page.get("StackEvents", []):
            event = _event(raw)
            self._seen.add(event.event_id)
            if self._since is None or event.ts > self._since:
                self._since = event.ts

    def read(self) -> list[StackEvent]:
        """The events that appeared since the last call."""
        from botocore.exceptions import ClientError

        fresh: list[StackEvent] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StackName": self._stack}
            if token:
                kwargs["NextToken"] = token
            try:
                page = self._cfn.describe_stack_events(**kwargs)
            except ClientError as exc:
                if "does not exist" in str(exc):
                    break  # deleted: by name, a deleted stack has no events to read
                raise
            old = False
            for raw in page.get("StackEvents", []):  # newest first
                event = _event(raw)
                if event.event_id in self._seen or (self._since and event.ts < self._since):
                    old = True
                    break
                self._seen.add(event.event_id)
                fresh.append(event)
            token = page.get("NextToken")
            if old or not token:
                break
        fresh.reverse()
        self.events.extend(fresh)
        return fresh


def _event(raw: dict[str, Any]) -> StackEvent:
    ts = raw.get("Timestamp")
    if not isinstance(ts, datetime):
        ts = datetime.now(UTC)
    elif ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return StackEvent(
        event_id=str(raw.get("EventId", "")),
        ts=ts,
        logical_id=str(raw.get("LogicalResourceId", "")),
        resource_type=str(raw.get("ResourceType", "")),
        status=str(raw.get("ResourceStatus", "")),
        reason=str(raw.get("ResourceStatusReason") or ""),
    )


def session_for(region: str | None, profile: str | None) -> Any:
    """A boto3 session for ``profile`` in ``region``.

    Raises:
        UsageError: the profile does not exist, or no region is configured.
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:
        raise UsageError(f"AWS profile: {exc}") from exc
    if not session.region_name:
        raise UsageError("no AWS region: pass --region or set AWS_REGION")
    return session


def aws_message(exc: Exception) -> str:
    """One line for a boto3 failure: the AWS error code and message."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        error = response["Error"]
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    # Other botocore errors can span lines (a stand-in's raw answer): keep the last one.
    lines = str(exc).strip().splitlines() or [""]
    return f"{type(exc).__name__}: {lines[-1][:300]}"
