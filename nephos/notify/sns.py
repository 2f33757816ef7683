"""The ``sns`` notifier: publish to an Amazon SNS topic with boto3, in a worker thread.

Options: ``topic_arn`` (required), ``region`` (default: the region in the ARN),
``endpoint_url`` (optional, for SNS-compatible endpoints). Credentials come from boto3's
standard chain (environment, profile, instance role); none are read or logged here. The
subject obeys SNS rules (printable ASCII, one line, at most 100 characters) and the message
carries ``severity``, ``state`` and ``event`` as message attributes for subscription filters.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

from nephos.errors import ConfigError, NotifyError
from nephos.notify.base import Notification, Notifier

__all__ = ["SnsNotifier", "sns_subject"]

_SUBJECT_MAX = 100
_MESSAGE_MAX = 256 * 1024 - 1024  # stay under the 256 KiB limit with room for attributes


def sns_subject(title: str) -> str:
    """``title`` made acceptable as an SNS subject.

    Args:
        title: the rendered notification title.

    Returns:
        Printable ASCII on one line, at most 100 characters, never empty.
    """
    ascii_only = title.encode("ascii", "replace").decode("ascii")
    printable = "".join(c if c.isprintable() else " " for c in ascii_only)
    subject = " ".join(printable.split())
    if len(subject) > _SUBJECT_MAX:
        subject = subject[: _SUBJECT_MAX - 3].rstrip() + "..."
    return subject or "nephos alert"


class SnsNotifier(Notifier):
    """Publishes to an SNS topic."""

    type: ClassVar[str] = "sns"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        """Read the options.

        Raises:
            ConfigError: ``topic_arn`` is missing or not an SNS ARN.
        """
        super().__init__(name, options)
        arn = options.get("topic_arn")
        parts = arn.split(":") if isinstance(arn, str) else []
        if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sns":
            raise ConfigError(
                "topic_arn must look like arn:aws:sns:REGION:ACCOUNT:NAME",
                path=f"notifiers.{name}.topic_arn",
            )
        self.topic_arn = str(arn)
        self.region = str(options.get("region") or parts[3])
        endpoint = options.get("endpoint_url")
        self.endpoint_url = str(endpoint) if endpoint else None
        self._client: Any = None
        self._lock = threading.Lock()

    def _sns(self) -> Any:
        # boto3 is heavy to import and its clients are thread-safe once built; build one lazily.
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client(
                    "sns", region_name=self.region, endpoint_url=self.endpoint_url
                )
            return self._client

    def _publish(self, notification: Notification) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        alert = notification.alert
        message = f"{notification.title}\n\n{notification.text}"
        attributes = {
            "severity": {"DataType": "String", "StringValue": alert.severity.value},
            "state": {"DataType": "String", "StringValue": alert.state.value},
            "event": {"DataType": "String", "StringValue": notification.event},
        }
        try:
            answer = self._sns().publish(
                TopicArn=self.topic_arn,
                Subject=sns_subject(notification.title),
                Message=message.encode("utf-8")[:_MESSAGE_MAX].decode("utf-8", "ignore"),
                MessageAttributes=attributes,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise NotifyError(f"sns {self.name}: {code}") from exc
        except BotoCoreError as exc:
            # e.g. NoCredentialsError, EndpointConnectionError: the class name is the message.
            raise NotifyError(f"sns {self.name}: {type(exc).__name__}") from exc
        return str(answer.get("MessageId", ""))

    async def send(self, notification: Notification) -> None:
        """Publish the notification.

        Raises:
            NotifyError: SNS refused it or could not be reached, or no credentials were found.
        """
        await asyncio.to_thread(self._publish, notification)
