"""A legacy client's password: how it is kept, checked and changed.

A client proves who it is with ``cppwd``, the uppercase MD5 of its password,
so that digest is all a password ever is here.  The store keeps a password
changed through ``/ent/`` as a salted SHA-256 of the digest,
``sha256$<salt hex>$<hash hex>``: what the store holds does not work as a
``cppwd`` itself.  A store written before that holds the digest as it is;
it is still read (and replaced by its salted form, see
:meth:`proxy.clients.ClientBook.refresh`).

Checking costs one SHA-256 and one constant-time comparison, whichever the
password's origin (the configured one is held salted in memory too), so the
time an answer takes tells nothing about the account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCHEME = "sha256"
SALT_BYTES = 16
MAX_CHARS = 20  # esms100.txt, 8: newpwd is 1 to 20 characters
_PLAIN = re.compile(r"[0-9A-Fa-f]{32}")
_HASHED = re.compile(rf"{SCHEME}\$([0-9a-f]{{{2 * SALT_BYTES}}})\$([0-9a-f]{{64}})")


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """What an offered ``cppwd`` is checked against."""

    salt: bytes
    hashed: bytes  # sha256(salt + the uppercase cppwd)

    def __repr__(self) -> str:
        return "<PasswordCheck>"  # never the salt or the hash

    @classmethod
    def of_digest(cls, digest: str) -> PasswordCheck:
        salt = secrets.token_bytes(SALT_BYTES)
        return cls(salt, _hash(salt, digest))

    @classmethod
    def of_stored(cls, stored: str) -> PasswordCheck | None:
        """The check a stored password makes; None when it is unreadable."""
        found = _HASHED.fullmatch(stored)
        if found is not None:
            return cls(bytes.fromhex(found[1]), bytes.fromhex(found[2]))
        if is_plain(stored):
            return cls.of_digest(stored)
        return None

    @classmethod
    def unmatchable(cls) -> PasswordCheck:
        """As costly to check as any, and matching no cppwd anyone knows."""
        return cls.of_digest(secrets.token_hex(16))

    def matches(self, cppwd: str) -> bool:
        return hmac.compare_digest(_hash(self.salt, cppwd), self.hashed)

    def stored(self) -> str:
        """How the store keeps it."""
        return f"{SCHEME}${self.salt.hex()}${self.hashed.hex()}"


def _hash(salt: bytes, cppwd: str) -> bytes:
    return hashlib.sha256(salt + cppwd.upper().encode("utf-8", "replace")).digest()


def is_plain(stored: str) -> bool:
    """A stored password from before salting: the cppwd itself."""
    return _PLAIN.fullmatch(stored) is not None


def new_password_problem(password: str | None, min_chars: int) -> str | None:
    """Why ``/ent/`` refuses ``password`` as a new one, or None.

    ``password`` is the value exactly as sent (never trimmed: ``newpwd=+a+``
    is `` a ``, and refused for its spaces, not stored as ``a``).  The
    reason never contains the password.
    """
    if password is None or password == "":
        return "missing or unreadable"
    if " " in password:
        return "contains a space"
    if not all("\x21" <= c <= "\x7e" for c in password):
        return "a character other than printable ASCII (0x21-0x7E)"
    if len(password) < min_chars:
        return f"shorter than {min_chars} characters (login.min_password_chars)"
    if len(password) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    return None
