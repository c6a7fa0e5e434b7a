"""Read and validate a config file; every error names the file and the option."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.registry import VENDOR_KINDS
from config.settings import Settings

_KINDS = frozenset(vk.kind for vk in VENDOR_KINDS)


class ConfigError(Exception):
    """A config that can not run; ``str()`` is the message to show the operator."""


def load_settings(path: Path) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return settings_from(data, str(path))


def settings_from(data: dict[str, Any], source: str) -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source)) from None
    except ValueError as exc:  # raised by validators outside a field
        raise ConfigError(f"{source}: {exc}") from None


def format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} error(s) in the configuration"]
    for err in exc.errors(include_url=False, include_input=False):
        option = _option(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown option"
        elif err["type"] == "missing":
            message = "required option is missing"
        if not option:
            # A cross-check names its own option in its message.
            lines.append(f"  {source}: {message.removeprefix('Value error, ')}")
        else:
            lines.append(f"  {source}: {option}: {message}")
    return "\n".join(lines)


def _option(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        # A discriminated union adds the tag ("esms100") after the list index.
        if isinstance(item, str) and isinstance(previous, int) and item in _KINDS:
            previous = item
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
        previous = item
    return "".join(parts)
