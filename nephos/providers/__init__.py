"""The provider registry: a provider class by its config name, and the configured providers.

Each provider lives in its own module (``nephos.providers.aws``, ...), imported only when a
config names it, so that ``nephos --help`` never loads boto3 or an HTTP stack. ``demo`` is a
config name too, but the demo command builds its simulated clouds itself.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

from nephos.errors import ConfigError
from nephos.providers.base import Provider, ProviderStatus

if TYPE_CHECKING:
    from nephos.clock import Clock
    from nephos.config.types import Config

__all__ = ["PROVIDER_NAMES", "Provider", "ProviderStatus", "build_providers", "provider_class"]

PROVIDER_NAMES = ("aws", "vultr", "gcp", "azure", "static")
"""The config names that have a provider class, in display order."""


def provider_class(name: str) -> type[Provider]:
    """The provider class registered for config name ``name``.

    The class is the one :class:`Provider` subclass in ``nephos.providers.<name>`` whose
    ``name`` is ``name``.

    Raises:
        ConfigError: no provider has that name, or its module is missing from this install.
    """
    if name not in PROVIDER_NAMES:
        raise ConfigError(f"unknown provider {name!r} (known: {', '.join(PROVIDER_NAMES)})")
    module_name = f"nephos.providers.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a dependency of the module is missing: a broken install, not a config error
        raise ConfigError(f"provider {name} is not available in this install") from exc
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Provider)
            and not inspect.isabstract(value)
            and getattr(value, "name", None) == name
        ):
            return value
    raise ConfigError(f"provider {name} is not available in this install")


def build_providers(config: Config, *, clock: Clock) -> list[Provider]:
    """One provider per entry of the config's ``providers`` section, in display order.

    The options were validated (and cleaned) by the config loader through each class's
    :meth:`Provider.validate_options`.

    Args:
        config: the loaded configuration.
        clock: the clock the providers read (metric windows, ``updated_at``).

    Raises:
        ConfigError: a configured provider is not available in this install.
    """
    return [
        provider_class(name)(config.providers[name], clock=clock)
        for name in PROVIDER_NAMES
        if name in config.providers
    ]
