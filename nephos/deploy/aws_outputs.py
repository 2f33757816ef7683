"""What a deploy leaves on this machine: the stack's outputs, for ``nephos watch`` and ``tail``.

One JSON file per stack under ``~/.config/nephos/deploy/`` (``$NEPHOS_DEPLOY_DIR`` overrides
the directory). It holds the region, the outputs and the stream token, so the file is written
with mode 0600, like a config file that holds a hub token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nephos.errors import ConfigError

__all__ = [
    "SavedDeploy",
    "deploy_dir",
    "deployed_stream",
    "forget_deploy",
    "load_deploy",
    "save_deploy",
    "saved_stream",
]

ENV_DIR = "NEPHOS_DEPLOY_DIR"


@dataclass(frozen=True, slots=True)
class SavedDeploy:
    """A deployed stack as this machine remembers it."""

    stack_name: str
    region: str
    outputs: Mapping[str, str] = field(default_factory=dict)
    token: str | None = None
    deployed_at: str = ""

    @property
    def websocket_url(self) -> str | None:
        """The WebSocket URL clients connect to, when the stack has the API."""
        return self.outputs.get("WebSocketUrl")


def deploy_dir() -> Path:
    """Where saved deploys live."""
    explicit = os.environ.get(ENV_DIR)
    return Path(explicit) if explicit else Path.home() / ".config" / "nephos" / "deploy"


def _path(stack_name: str) -> Path:
    if not stack_name or "/" in stack_name or stack_name.startswith("."):
        raise ConfigError(f"{stack_name!r} is not a stack name")
    return deploy_dir() / f"{stack_name}.json"


def save_deploy(saved: SavedDeploy) -> Path:
    """Write ``saved`` (mode 0600, atomically) and return its path.

    Raises:
        ConfigError: the directory or the file cannot be written.
    """
    path = _path(saved.stack_name)
    body = {
        "stack_name": saved.stack_name,
        "region": saved.region,
        "outputs": dict(saved.outputs),
        "token": saved.token,
        "deployed_at": saved.deployed_at,
    }
    tmp = path.with_suffix(".json.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot save the deploy outputs to {path}: {exc.strerror}") from exc
    return path


def load_deploy(stack_name: str) -> SavedDeploy | None:
    """The saved deploy of ``stack_name``, or None when there is none (or it is unreadable)."""
    try:
        data: Any = json.loads(_path(stack_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), dict):
        return None
    return SavedDeploy(
        stack_name=str(data.get("stack_name", stack_name)),
        region=str(data.get("region", "")),
        outputs={str(k): str(v) for k, v in data["outputs"].items()},
        token=data.get("token") if isinstance(data.get("token"), str) else None,
        deployed_at=str(data.get("deployed_at", "")),
    )


def forget_deploy(stack_name: str) -> bool:
    """Remove the saved deploy of ``stack_name``; True if there was one."""
    try:
        _path(stack_name).unlink()
    except FileNotFoundError:
        return False
    return True


def saved_stream(stack_name: str | None = None) -> SavedDeploy | None:
    """The saved deploy whose WebSocket URL a client should use without flags.

    ``stack_name`` picks one; otherwise ``$NEPHOS_STACK``, else the stack named ``nephos``,
    else the only saved deploy there is. None when nothing fits.
    """
    name = stack_name or os.environ.get("NEPHOS_STACK")
    if name:
        saved = load_deploy(name)
        return saved if saved and saved.websocket_url else None
    default = load_deploy("nephos")
    if default and default.websocket_url:
        return default
    try:
        candidates = sorted(deploy_dir().glob("*.json"))
    except OSError:
        return None
    found = [s for s in (load_deploy(p.stem) for p in candidates) if s and s.websocket_url]
    return found[0] if len(found) == 1 else None


def deployed_stream(url: str | None, config: str | None) -> SavedDeploy | None:
    """The saved deploy that ``nephos watch`` and ``tail`` stream from, when nothing else says
    where the hub is: no ``--url``, no ``--config``, and no config file found by the usual
    lookup. None otherwise, or when no deploy is saved.

    Raises:
        ConfigError: ``$NEPHOS_CONFIG`` names a file that does not exist.
    """
    from nephos.config import find_config_file

    if url is not None or config is not None or find_config_file(None) is not None:
        return None
    return saved_stream()
