"""Client passwords when daemons share a store: a change on one is seen by all."""

from __future__ import annotations

from pathlib import Path

from adapters.esms100.wire import password_digest
from config.settings import ClientSettings
from proxy.clients import ClientBook
from proxy.store.sqlite import SqliteStore

SETTINGS = [ClientSettings.model_validate({"cpid": "acme", "password": "old-pass"})]
OLD, NEW = password_digest("old-pass"), password_digest("new-pass")


async def test_a_password_changed_through_one_book_works_through_the_other(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "state.sqlite3")
    try:
        here = await ClientBook.load(SETTINGS, store)
        there = await ClientBook.load(SETTINGS, store)
        client = here.authenticate("acme", OLD, None)
        assert client is not None
        await here.change_password(client, "new-pass")

        assert await there.verify("acme", NEW, None) is not None  # looked up again
        assert await there.verify("acme", OLD, None) is None
        assert await there.verify("nobody", NEW, None) is None

        third = await ClientBook.load(SETTINGS, store)
        await here.change_password(client, "newer-pass")
        assert third.authenticate("acme", NEW, None) is not None  # not yet refreshed
        await third.refresh()
        assert third.authenticate("acme", NEW, None) is None
        assert third.authenticate("acme", password_digest("newer-pass"), None) is not None
    finally:
        await store.close()
