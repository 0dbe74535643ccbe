"""The watcher's durable state: `open_store(DATABASE_URL)` picks SQLite or PostgreSQL by the URL's scheme.

store = open_store(settings.database_url)   # checks the URL, connects to nothing yet
await store.open()                          # connects, migrates (under a lock)
...
await store.close()
"""

from __future__ import annotations

import logging
from typing import Any

from bot.errors import ConfigError, StoreUnavailable
from bot.store.base import Store
from bot.store.sql import SqlStore
from bot.store.urls import DatabaseUrl, parse_database_url, shown_url, sqlite_path

__all__ = ["SqlStore", "Store", "check_database_writable", "connect_store", "open_store", "shown_url", "sqlite_path"]

logger = logging.getLogger("bot.store")


def open_store(database_url: str, **options: Any) -> SqlStore:
    """The store named by `DATABASE_URL`, not connected yet (`await store.open()` connects and migrates).

    Args:
        options: `SqlStore` options (`busy_timeout`, `faults`, `pool_size`, `migrate_timeout`).

    Raises:
        ConfigError: the scheme is not supported or the URL is malformed; the message names DATABASE_URL.
    """
    return SqlStore(parse_database_url(database_url), **options)


async def connect_store(database_url: str, **options: Any) -> SqlStore:
    """`open_store` and `open()`: a store ready to use (created or migrated).

    Raises:
        ConfigError: as `open_store`; the database is read-only and needs migrating; or it cannot be opened
            at all (a file that is not a database); the message names DATABASE_URL (never its password).
        StoreUnavailable: a passing fault (locked, unreachable); the store is closed again.
    """
    store = open_store(database_url, **options)
    try:
        await store.open()
    except StoreUnavailable as exc:
        await store.close()
        _refuse(store.target, exc)
        raise
    except ConfigError as exc:
        await store.close()
        raise ConfigError(f"DATABASE_URL {store.target.shown!r}: {exc}") from None
    return store


async def check_database_writable(database_url: str) -> None:
    """Migrate, then stop the start when `DATABASE_URL` can be read but not written (`serve` calls this first).

    Such a bot would start, answer commands and then record no alert: better to refuse with a clear message.
    A fault that passes (the database locked by another process, a full disk, a server not up yet) only logs a
    warning: the bot starts, and its store migrates and recovers by itself once it answers.

    Raises:
        ConfigError: naming DATABASE_URL and saying "read-only" (or why it cannot be used at all: the server
            refuses our credentials, the database does not exist, a newer bot migrated it).
    """
    try:
        store = await connect_store(database_url)
    except StoreUnavailable as exc:
        logger.warning("store.start_write_failed", extra={"error": exc.message, "code": exc.code})
        return
    try:
        await store.check_writable()
    except StoreUnavailable as exc:
        _refuse(store.target, exc)
        logger.warning("store.start_write_failed", extra={"error": exc.message, "code": exc.code})
    finally:
        await store.close()


def _refuse(target: DatabaseUrl, exc: StoreUnavailable) -> None:
    """Raise the ConfigError of a fault that will not pass by itself; return for one that will."""
    code = exc.code or ""
    if exc.read_only:
        raise ConfigError(
            f"DATABASE_URL {target.shown!r} is read-only ({exc.message}): the bot records its watches and alerts "
            "there, so it must be able to write it (check the file, its directory and the mount, or that the "
            "server is a primary)"
        ) from None
    if code.startswith("28") or code == "3D000":
        raise ConfigError(f"DATABASE_URL {target.shown!r} is refused by the server ({exc.message})") from None
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_CANTOPEN")):
        raise ConfigError(f"DATABASE_URL {target.shown!r} cannot be opened: {exc.message}") from None
