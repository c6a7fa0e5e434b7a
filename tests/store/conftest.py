"""The store contract's fixtures: each test that takes them runs on every engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from proxy.store.base import Store
from tests.store.contract import ENGINES, State


@pytest.fixture(params=list(ENGINES))
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Awaitable[Store]]:
    engine = ENGINES[request.param]
    state = State(tmp_path, f"test-{uuid.uuid4().hex[:12]}:", request)

    async def open_() -> Store:
        return await engine(state)

    return open_


@pytest.fixture
async def store(opener: Callable[[], Awaitable[Store]]) -> AsyncIterator[Store]:
    s = await opener()
    yield s
    await s.close()


@pytest.fixture
async def two(opener: Callable[[], Awaitable[Store]]) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one state, as two daemons sharing it have."""
    first = await opener()
    second = await opener()
    yield first, second
    await second.close()
    await first.close()
