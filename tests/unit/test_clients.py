"""Client passwords: kept salted, seen by every daemon sharing a store, reset by an operator."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from adapters.esms100.wire import password_digest
from config.loader import settings_from
from proxy.clients import ClientBook
from proxy.metrics import Metrics
from proxy.store.base import Store
from proxy.store.sqlite.store import SqliteStore

SETTINGS = settings_from({"clients": [{"cpid": "acme", "password": "old-pass"}]}, "(test)")
OLD, NEW = password_digest("old-pass"), password_digest("new-pass")


async def book_on(store: Store) -> ClientBook:
    return await ClientBook.load(SETTINGS, store, Metrics(CollectorRegistry(), [], []))


async def test_a_password_changed_through_one_book_works_through_the_other(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        here = await book_on(store)
        there = await book_on(store)
        client = here.authenticate("acme", OLD, None)
        assert client is not None
        await here.change_password(client, "new-pass")

        assert await there.verify("acme", NEW, None) is not None  # looked up again
        assert await there.verify("acme", OLD, None) is None
        assert await there.verify("nobody", NEW, None) is None

        third = await book_on(store)
        await here.change_password(client, "newer-pass")
        assert third.authenticate("acme", NEW, None) is not None  # not yet refreshed
        await third.refresh()
        assert third.authenticate("acme", NEW, None) is None
        assert third.authenticate("acme", password_digest("newer-pass"), None) is not None
    finally:
        await store.close()


async def test_the_stored_password_is_salted_and_does_not_work_as_cppwd(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        book = await book_on(store)
        client = book.authenticate("acme", OLD, None)
        assert client is not None
        await book.change_password(client, "new-pass")
        stored = await store.passwords.password_digest("acme")
        assert stored is not None and stored.startswith("sha256$"), stored
        assert NEW not in stored.upper()
        assert await book.verify("acme", stored, None) is None
        assert await book.verify("acme", NEW.lower(), None) is not None
        # The same password changed twice is stored under another salt.
        await book.change_password(client, "new-pass")
        assert await store.passwords.password_digest("acme") != stored
    finally:
        await store.close()


async def test_a_plain_digest_stored_before_salting_still_works_and_is_salted(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        await store.passwords.set_password_digest("acme", NEW)  # as an older version wrote it
        book = await book_on(store)
        assert book.authenticate("acme", NEW, None) is not None
        assert book.authenticate("acme", OLD, None) is None
        stored = await store.passwords.password_digest("acme")
        assert stored is not None and stored.startswith("sha256$"), stored
        assert (await book_on(store)).authenticate("acme", NEW, None) is not None
    finally:
        await store.close()


async def test_an_operator_reset_brings_the_configured_password_back_everywhere(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        here, there = await book_on(store), await book_on(store)
        client = here.authenticate("acme", OLD, None)
        assert client is not None
        await here.change_password(client, "new-pass")
        await there.refresh()
        assert there.authenticate("acme", OLD, None) is None

        assert await here.reset_password("acme") is True
        assert await store.passwords.password_digest("acme") is None
        assert here.authenticate("acme", OLD, None) is not None
        assert here.authenticate("acme", NEW, None) is None
        # Another daemon: the configured password works there at once ...
        assert await there.verify("acme", OLD, None) is not None
        # ... and a restart keeps the reset.
        assert (await book_on(store)).authenticate("acme", OLD, None) is not None

        assert await here.reset_password("acme") is False  # nothing left to drop
        assert await here.reset_password("nobody") is None
    finally:
        await store.close()


async def test_a_successful_login_needs_no_store(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    book = await book_on(store)
    await store.close()  # any store call now fails
    for _ in range(3):
        assert await book.verify("acme", OLD, "10.0.0.1") is not None
