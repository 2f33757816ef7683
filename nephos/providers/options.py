"""Reading a provider's plain option mapping, with the config loader's wording for errors.

Each provider's :meth:`~nephos.providers.base.Provider.validate_options` reads its options
through an :class:`OptionReader`. Errors carry only a key path inside the options
(``regions[1]``); the loader adds ``providers.<name>.``, the file and the line.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from nephos.config.values import closest, format_duration, parse_duration, show
from nephos.errors import ConfigError

__all__ = ["OptionReader"]


class OptionReader:
    """One mapping of provider options, read key by key.

    Keys may be written in kebab-case; they are read (and returned) in snake_case.

    Args:
        options: the plain mapping from the config file.
        known: the keys it may hold (snake_case).
        path: the key path of this mapping inside the options, e.g. ``instances[2]``
            (empty for the options themselves).

    Raises:
        ConfigError: ``options`` is not a mapping, or holds an unknown key.
    """

    def __init__(self, options: Any, known: Collection[str], *, path: str = "") -> None:
        self.path = path
        if not isinstance(options, Mapping):
            raise ConfigError(f"expected a mapping of options, got {show(options)}", path=path)
        self._values: dict[str, Any] = {}
        self._written: dict[str, str] = {}
        for written, value in options.items():
            key = str(written).replace("-", "_")
            if key not in known:
                hint = closest(key, known)
                near = (
                    f"did you mean {hint}?" if hint else "known keys: " + ", ".join(sorted(known))
                )
                raise ConfigError(f"unknown key ({near})", path=self._join(str(written)))
            self._values[key] = value
            self._written[key] = str(written)

    def _join(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def path_of(self, key: str) -> str:
        """The key path of ``key`` as the user wrote it."""
        return self._join(self._written.get(key, key))

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError about ``key``."""
        return ConfigError(message, path=self.path_of(key))

    def has(self, key: str) -> bool:
        """Whether ``key`` is set to something other than null."""
        return self._values.get(key) is not None

    def get(self, key: str) -> Any:
        """The raw value of ``key``, or None."""
        return self._values.get(key)

    def text(
        self,
        key: str,
        default: str | None = None,
        *,
        required: bool = False,
        secret: bool = False,
        choices: Collection[str] | None = None,
    ) -> str | None:
        """A text value; numbers are read as their text.

        Empty text passes even when ``required``: it is what ``${VAR:-}`` gives for an unset
        variable, and the provider reports it when polled rather than the whole config failing.

        Raises:
            ConfigError: the value is missing or null (when ``required``), not text, or not one
                of ``choices``. A ``secret`` is never shown.
        """
        value = self._values.get(key)
        if value is None:
            if required:
                raise ConfigError(f"missing required key {key}", path=self.path or None)
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            shown = "a secret value" if secret else show(value)
            raise self.error(key, f"expected text, got {shown}")
        text = str(value)
        if choices is not None and text not in choices:
            raise self.error(key, f"{show(text)} is not one of {', '.join(choices)}")
        return text

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of non-empty texts; a single value counts as a list of one.

        Raises:
            ConfigError: the value is a mapping, or an item is not text or is empty.
        """
        value = self._values.get(key)
        if value is None:
            return ()
        if isinstance(value, Mapping):
            raise self.error(key, "expected a list, got a mapping")
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for index, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, str | int | float) or item == "":
                raise ConfigError(
                    f"expected text, got {show(item)}", path=f"{self.path_of(key)}[{index}]"
                )
            out.append(str(item))
        return tuple(out)

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false value.

        Raises:
            ConfigError: the value is not a boolean.
        """
        value = self._values.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {show(value)}")
        return value

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """A whole number within ``[minimum, maximum]``.

        Raises:
            ConfigError: the value is not a whole number or is out of range.
        """
        value = self._values.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected a whole number, got {show(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")
        return value

    def duration(
        self, key: str, default: timedelta, *, minimum: timedelta | None = None
    ) -> timedelta:
        """A duration (``90s``, ``2m``); a plain number is seconds.

        Raises:
            ConfigError: the value is not a duration or is below ``minimum``.
        """
        value = self._values.get(key)
        if value is None:
            return default
        try:
            parsed = parse_duration(value)
        except ConfigError as exc:
            raise self.error(key, exc.message) from exc
        if minimum is not None and parsed < minimum:
            raise self.error(
                key, f"{show(value)} is too short (minimum {format_duration(minimum)})"
            )
        return parsed

    def url(self, key: str, default: str | None = None) -> str | None:
        """An ``http://`` or ``https://`` URL with a host, without a trailing slash.

        Raises:
            ConfigError: the value is not such a URL.
        """
        text = self.text(key)
        if text is None:
            return default
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(key, f"{show(text)} is not an http:// or https:// URL")
        return text.rstrip("/")

    def mappings(self, key: str) -> list[tuple[str, Any]]:
        """The items of a list as ``(path, value)``, for lists of mappings.

        Raises:
            ConfigError: the value is not a list.
        """
        value = self._values.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {show(value)}")
        return [(f"{self.path_of(key)}[{index}]", item) for index, item in enumerate(value)]

    def text_mapping(self, key: str) -> dict[str, str]:
        """A mapping of names to text (tags, labels); null values read as empty text.

        Raises:
            ConfigError: the value is not a mapping, or a value is a list or mapping.
        """
        value = self._values.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping, got {show(value)}")
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, Mapping | list):
                raise ConfigError(
                    f"expected text, got {show(item)}", path=f"{self.path_of(key)}.{name}"
                )
            out[str(name)] = _as_text(item)
        return out


def _as_text(value: Any) -> str:
    """A YAML scalar as text: null is empty, booleans read as YAML writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
