"""The NephosError tree: every expected failure a user can meet, with its exit code.

    NephosError                  exit 1 unless a subclass says otherwise
    ├── ConfigError              exit 3: a config file or a command line is wrong
    │   └── ConditionSyntaxError a condition does not parse (at load time, never at check time)
    ├── UsageError               exit 3: a command was used wrongly (unknown alert id, bad value)
    ├── BackendError             exit 4: a store, warehouse, cloud API or hub could not be reached
    │   ├── StoreError           the hot store could not be read or written
    │   │   └── StoreUnavailable the store is down; writes should be spooled
    │   ├── WarehouseError
    │   ├── ProviderError        a cloud provider API failed (no credentials, 403, timeouts)
    │   └── StreamError          the hub could not be reached or closed the stream
    ├── ProbeError               a check could not be run (reported in its result, not raised)
    └── NotifyError              a notifier failed to deliver (retried and logged, never fatal)

Third-party exceptions are mapped to these at the boundary where they arise
(``raise StoreUnavailable(...) from exc``). The CLI catches NephosError, prints ``str(exc)``
as one line on stderr and exits with ``exc.exit_code``.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConditionSyntaxError",
    "ConfigError",
    "NephosError",
    "NotifyError",
    "ProbeError",
    "ProviderError",
    "StoreError",
    "StoreUnavailable",
    "StreamError",
    "UsageError",
    "WarehouseError",
]


class NephosError(Exception):
    """Base of every error nephos raises on purpose."""

    exit_code: int = 1


class ConfigError(NephosError):
    """A configuration file or value is invalid.

    ``str()`` reads ``nephos.yaml:14: targets[2].interval: "2 minutes" is not a duration (try 2m)``.
    """

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}{self.message}"


class ConditionSyntaxError(ConfigError):
    """A condition expression does not parse; ``column`` is 1-based within the expression."""

    def __init__(self, message: str, *, expression: str, column: int | None = None) -> None:
        self.expression = expression
        self.column = column
        super().__init__(message)


class UsageError(NephosError):
    """A command was used wrongly: an unknown id, a bad argument value."""

    exit_code = 3


class BackendError(NephosError):
    """A backend could not be reached or answered with an error."""

    exit_code = 4


class StoreError(BackendError):
    """The hot store failed."""


class StoreUnavailable(StoreError):
    """The hot store cannot be written right now (disk full, locked, file removed)."""


class WarehouseError(BackendError):
    """The warehouse failed."""


class ProviderError(BackendError):
    """A cloud provider API failed."""


class StreamError(BackendError):
    """The live stream could not be reached or was closed."""


class ProbeError(NephosError):
    """A check could not be run; carried in its result as words."""


class NotifyError(NephosError):
    """A notification could not be delivered."""
