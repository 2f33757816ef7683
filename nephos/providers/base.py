"""The Provider base class: a cloud (or a static list) whose instances nephos watches.

Each provider module (``aws``, ``vultr``, ``gcp``, ``azure``, ``static``) maps its API's shapes
to the normalised :class:`nephos.model.Instance` and :class:`nephos.model.MetricPoint` at the
boundary. An unmapped provider state becomes ``InstanceState.UNKNOWN``, never an error. A
provider that fails (no credentials, 403, timeouts) raises ProviderError; the inventory marks
it unavailable with the reason and carries on with the others.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from nephos.clock import Clock
from nephos.model import Instance, MetricPoint

__all__ = ["Provider", "ProviderStatus"]


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """Whether one provider answered on its last poll, and why not when it did not."""

    provider: str
    available: bool
    checked_at: datetime
    instances: int = 0
    reason: str | None = None


class Provider(abc.ABC):
    """Lists instances and, where the cloud offers them, their metrics."""

    name: ClassVar[str]
    """The provider's key in the config's ``providers`` section (``aws``, ``vultr``, ...)."""

    supports_metrics: ClassVar[bool] = False
    """Whether :meth:`fetch_metrics` returns anything (Vultr has no CPU/memory API)."""

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check this provider's ``providers.<name>`` options and return them cleaned.

        The config loader calls this with the plain YAML values (``${VAR}`` already
        substituted) and keeps what it returns; :meth:`__init__` later receives that mapping
        as ``options``. Return parsed values with defaults filled in (durations as
        ``timedelta``, lists as tuples). ``nephos.providers.options.OptionReader`` reads keys
        with the loader's wording. ``interval`` (how often the sentinel polls this provider)
        is common to every provider: the loader reads it, never passes it here, and adds it
        to the result as a ``timedelta`` when set. The default accepts any mapping unchanged.

        Raises:
            ConfigError: an option is unknown or invalid. Set ``path`` to the key path inside
                the options (``regions[1]``, ``api_key``) and leave ``file`` and ``line`` unset:
                the loader prefixes ``providers.<name>.`` and adds the file and line of the key.
                Never put a secret's value in the message.
        """
        return dict(options)

    def __init__(self, options: Mapping[str, Any], *, clock: Clock) -> None:
        self.options = options
        self.clock = clock

    @abc.abstractmethod
    async def list_instances(self) -> list[Instance]:
        """Every instance the configured credentials can see, normalised.

        Raises:
            ProviderError: the API could not be reached, refused the credentials, or failed.
        """

    async def fetch_metrics(
        self, instances: Sequence[Instance], *, start: datetime, end: datetime
    ) -> list[MetricPoint]:
        """CPU and memory points for ``instances`` between ``start`` and ``end``.

        Raises:
            ProviderError: the metrics API failed.
        """
        return []

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connection pools."""
