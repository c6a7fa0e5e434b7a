"""Read and validate a config file; every error names the file and the option."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from config.settings import Settings
from config.vendor_kinds import VENDOR_SETTINGS

_KINDS = frozenset(VENDOR_SETTINGS)


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


def exposed_secrets(path: Path, settings: Settings) -> list[str]:
    """The options whose secret is written in ``path`` itself (not ``{ env = "NAME" }``),
    when users other than its owner may read it (group or world); else none."""
    try:
        if not path.stat().st_mode & 0o044:
            return []
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # read a moment ago: changed since, and the next start will tell
    return [_option(loc) for loc in _secrets(settings, ()) if isinstance(_at(data, loc), str)]


Loc = tuple[int | str, ...]


def _secrets(value: object, loc: Loc) -> Iterator[Loc]:
    if isinstance(value, SecretStr):
        yield loc
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name), (*loc, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secrets(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secrets(item, (*loc, str(key)))


def _at(data: object, loc: Loc) -> object:
    """What the file holds at ``loc``; None when it holds nothing there (a default,
    or a value from the environment)."""
    for part in loc:
        if isinstance(part, int) and isinstance(data, list) and part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data
