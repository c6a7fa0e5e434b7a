"""The passwords' part of the store contract."""

from __future__ import annotations

from proxy.store.base import Store


async def test_password_digest(store: Store) -> None:
    assert await store.passwords.password_digest("acme") is None
    await store.passwords.set_password_digest("acme", "A" * 32)
    await store.passwords.set_password_digest("acme", "B" * 32)
    assert await store.passwords.password_digest("acme") == "B" * 32


async def test_a_password_is_replaced_only_while_unchanged_and_dropped(store: Store) -> None:
    salted = "sha256$" + "1" * 32 + "$" + "2" * 64
    assert not await store.passwords.replace_password_digest("acme", "A" * 32, salted)
    assert await store.passwords.password_digest("acme") is None
    assert not await store.passwords.drop_password_digest("acme")
    await store.passwords.set_password_digest("acme", "A" * 32)
    await store.passwords.set_password_digest("other", "A" * 32)
    # Changed meanwhile: not replaced.
    assert not await store.passwords.replace_password_digest("acme", "B" * 32, salted)
    assert await store.passwords.password_digest("acme") == "A" * 32
    assert await store.passwords.replace_password_digest("acme", "A" * 32, salted)
    assert await store.passwords.password_digest("acme") == salted
    assert await store.passwords.drop_password_digest("acme")
    assert await store.passwords.password_digest("acme") is None
    assert await store.passwords.password_digest("other") == "A" * 32
