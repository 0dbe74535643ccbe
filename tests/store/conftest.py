"""The store suite runs on both engines: `store` is a migrated, empty store on SQLite (a file) and on PostgreSQL
(a fresh schema; skipped, and said so, without DISBOT_TEST_POSTGRES_URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import SqlStore, connect_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """DATABASE_URL of an empty database of each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    s = await connect_store(store_url)
    yield s
    await s.close()
