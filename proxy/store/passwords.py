"""Passwords a client set through ``/ent/``, overriding the configured ones."""

from __future__ import annotations

from typing import Protocol


class Passwords(Protocol):
    async def password_digest(self, cpid: str) -> str | None:
        """The password set through /ent/, overriding the configured one: as
        :mod:`proxy.passwords` keeps it (salted; the cppwd itself before that)."""
        ...

    async def set_password_digest(self, cpid: str, digest: str) -> None: ...

    async def replace_password_digest(self, cpid: str, old: str, new: str) -> bool:
        """Set ``new`` only while the stored password is still ``old``: True when it was."""
        ...

    async def drop_password_digest(self, cpid: str) -> bool:
        """Forget the /ent/ password, so the configured one works: True when there was one."""
        ...
