"""The root command group that imports a command's module only when that command runs.

Importing every command module costs a fresh ``nephos`` process about 0.1 s (Rich tables,
the config loader, the sentinel's output, the analytics), which ``nephos summary`` never uses.
Here a command's module is imported when the command is looked up by name; listing the
commands (``nephos --help``, shell completion, an unknown name) imports them all, and builds
them in the order Typer would have, so the help reads exactly as before.

Each module still exposes ``register(app)``; it registers onto a Typer of its own, which is
turned into Click commands with Typer's own builders.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any

import click
import typer
import typer.core
import typer.main

__all__ = ["lazy_group"]

_Built = tuple[dict[str, click.Command], dict[str, click.Command]]


def _build(module: str, markup: Any, short: bool) -> _Built:
    """The plain commands and the groups that ``module.register`` makes, each in its order."""
    sub = typer.Typer()
    importlib.import_module(module).register(sub)
    commands: dict[str, click.Command] = {}
    groups: dict[str, click.Command] = {}
    for info in sub.registered_commands:
        command = typer.main.get_command_from_info(
            info, pretty_exceptions_short=short, rich_markup_mode=markup
        )
        if command.name:
            commands[command.name] = command
    for group_info in sub.registered_groups:
        group = typer.main.get_group_from_info(
            group_info, pretty_exceptions_short=short, rich_markup_mode=markup
        )
        if group.name:
            groups[group.name] = group
        else:  # an unnamed add_typer: Typer lists its commands in the group's place
            groups.update(group.commands)
    return commands, groups


class _LazyCommands(dict[str, click.Command]):
    """The root group's ``commands``: a lookup by name loads the command's module; anything
    that lists them (iteration, ``items()``, ``len()``) loads every module first."""

    def __init__(
        self,
        direct: Mapping[str, click.Command],
        modules: Sequence[str],
        homes: Mapping[str, str],
        build: Callable[[str], _Built],
    ) -> None:
        super().__init__(direct)
        self._direct = dict(direct)  # registered on the app itself, outside the modules
        self._modules = modules
        self._homes = homes
        self._build = build
        self._built: dict[str, _Built] = {}
        self._complete = False

    def _load(self, module: str) -> None:
        if module in self._built:
            return
        commands, groups = self._built[module] = self._build(module)
        for name, command in (*commands.items(), *groups.items()):
            if not dict.__contains__(self, name):
                dict.__setitem__(self, name, command)

    def _find(self, name: object) -> None:
        if self._complete or not isinstance(name, str) or dict.__contains__(self, name):
            return
        home = self._homes.get(name)
        if home is not None:
            self._load(home)
        if not dict.__contains__(self, name):
            self._everything()  # a module missing from the table, or no such command

    def _everything(self) -> None:
        """Load every module and order the commands as ``typer.main.get_group`` would: plain
        commands before groups, each in registration order (modules first, then the app's)."""
        if self._complete:
            return
        for module in self._modules:
            self._load(module)
        plain = {n: c for n, c in self._direct.items() if not isinstance(c, click.Group)}
        nested = {n: c for n, c in self._direct.items() if isinstance(c, click.Group)}
        ordered: dict[str, click.Command] = {}
        for module in self._modules:
            ordered.update(self._built[module][0])
        ordered.update(plain)
        for module in self._modules:
            ordered.update(self._built[module][1])
        ordered.update(nested)
        added = {n: c for n, c in dict.items(self) if n not in ordered}  # add_command since
        dict.clear(self)
        dict.update(self, {**ordered, **added})
        self._complete = True

    # Lookups by name.
    def __getitem__(self, name: str) -> click.Command:
        self._find(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        self._find(name)
        return dict.__contains__(self, name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The command called ``name``, importing its module on first use."""
        self._find(name)
        return dict.get(self, name, default)

    def pop(self, name: str, *default: Any) -> Any:  # type: ignore[override]
        """Remove and return the command called ``name``."""
        self._find(name)
        return dict.pop(self, name, *default)

    # Listings.
    def __iter__(self) -> Iterator[str]:
        self._everything()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._everything()
        return dict.__len__(self)

    def __repr__(self) -> str:
        self._everything()
        return dict.__repr__(self)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        """Every command name, in help order."""
        self._everything()
        return dict.keys(self)

    def values(self) -> ValuesView[click.Command]:  # type: ignore[override]
        """Every command, in help order."""
        self._everything()
        return dict.values(self)

    def items(self) -> ItemsView[str, click.Command]:  # type: ignore[override]
        """Every ``(name, command)``, in help order."""
        self._everything()
        return dict.items(self)


def lazy_group(
    modules: Sequence[str], homes: Mapping[str, str], *, pretty_exceptions_short: bool = True
) -> type[typer.core.TyperGroup]:
    """A TyperGroup class for ``typer.Typer(cls=...)`` whose commands come from ``modules``.

    Args:
        modules: the command modules, in registration order; each has ``register(app)``.
        homes: command name to the module that registers it; a name missing here still
            works (every module is then imported), only more slowly.
        pretty_exceptions_short: as given to the app's ``typer.Typer``.
    """

    class LazyGroup(typer.core.TyperGroup):
        """The root group: commands built from their modules on first use."""

        def __init__(self, **attrs: Any) -> None:
            commands = attrs.pop("commands", None) or {}
            super().__init__(**attrs)
            markup = self.rich_markup_mode
            self.commands = _LazyCommands(
                commands,
                modules,
                homes,
                lambda module: _build(module, markup, pretty_exceptions_short),
            )

    return LazyGroup
