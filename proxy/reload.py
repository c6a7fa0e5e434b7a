"""Re-read the config while running (admin API or SIGHUP).

A new config that does not validate is refused and the old one keeps
running.  Listening addresses and the state file cannot change without a
restart, so a config that changes them is refused too.  Sends in flight
finish on the objects they started with; new requests see the new ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from config.loader import ConfigError, load_settings
from config.settings import Settings
from proxy import heap

log = structlog.get_logger("smsproxy.reload")

Apply = Callable[[Settings], Awaitable[list[str]]]


@dataclass(frozen=True)
class ReloadOutcome:
    ok: bool
    message: str
    changes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "message": self.message, "changes": self.changes}


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    return [
        name
        for name, before, after in (
            ("listen", old.listen, new.listen),
            ("http", old.http, new.http),
            ("state", old.state, new.state),
            ("reports.spool_path", old.reports.spool_path, new.reports.spool_path),
        )
        if before != after
    ]


class Reloader:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._current: Callable[[], Settings] | None = None
        self._apply: Apply | None = None
        self._lock = asyncio.Lock()
        self.reloads = 0

    def bind(self, current: Callable[[], Settings], apply: Apply) -> None:
        """Called once the daemon's state exists: how to read and replace the config."""
        self._current, self._apply = current, apply

    def __repr__(self) -> str:
        return f"<Reloader {self.path} reloads={self.reloads}>"

    async def reload(self) -> ReloadOutcome:
        if self.path is None:
            return ReloadOutcome(False, "started without a config file: nothing to re-read")
        if self._current is None or self._apply is None:
            return ReloadOutcome(False, "the daemon is still starting")
        async with self._lock:
            try:
                new = load_settings(self.path)
            except ConfigError as exc:
                log.error("reload_refused", errors=str(exc))
                return ReloadOutcome(False, f"refused, the running config stays: {exc}")
            fixed = restart_only_changes(self._current(), new)
            if fixed:
                message = f"refused: changing {', '.join(fixed)} needs a restart"
                log.error("reload_refused", errors=message)
                return ReloadOutcome(False, message)
            changes = await self._apply(new)
            self.reloads += 1
            heap.after_reload()
            log.info("reloaded", changes=changes)
            return ReloadOutcome(True, "reloaded", changes)
