"""The watcher's durable state: `open_store(DATABASE_URL)` picks the engine by the URL's scheme."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from bot.errors import ConfigError, StoreUnavailable
from bot.store.base import Store
from bot.store.sqlite import SqliteStore

__all__ = ["Store", "check_database_writable", "open_store", "sqlite_path"]

logger = logging.getLogger("bot.store")


def sqlite_path(database_url: str) -> str:
    """The file path of a `sqlite:///relative.db`, `sqlite:////abs/path.db` or `sqlite:///:memory:` URL.

    A `?...` part (SQLite URI parameters such as `mode=rw`) is not part of the path.

    Raises:
        ConfigError: naming DATABASE_URL if the URL is not one of those shapes.
    """
    prefix = "sqlite:///"
    path = database_url[len(prefix) :].split("?", 1)[0]
    if not database_url.startswith(prefix) or not path:
        raise ConfigError(
            f"DATABASE_URL {database_url!r} is not a SQLite URL: use sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    return path


def open_store(database_url: str) -> Store:
    """Open (creating or migrating) the store named by `DATABASE_URL`.

    Raises:
        ConfigError: the scheme is not supported, or the database cannot be opened; the message names
            DATABASE_URL (and says "read-only" when it can be read but not written).
    """
    scheme = database_url.split(":", 1)[0].lower() if ":" in database_url else ""
    if scheme != "sqlite":
        shown = scheme or database_url
        raise ConfigError(
            f"DATABASE_URL uses {shown!r}, which this bot cannot store to; supported: sqlite "
            "(e.g. sqlite:///dis-bot.db)"
        )
    path = sqlite_path(database_url)
    query = database_url.split("?", 1)[1] if "?" in database_url else ""
    if path != ":memory:" and not Path(path).parent.exists():
        raise ConfigError(f"DATABASE_URL points into {str(Path(path).parent)!r}, which does not exist")
    try:
        return SqliteStore(path, uri_query=query)
    except StoreUnavailable as exc:
        if exc.read_only:
            raise _read_only(database_url, exc) from None
        raise ConfigError(f"DATABASE_URL {database_url!r} cannot be opened: {exc}") from None
    except (sqlite3.Error, RuntimeError) as exc:
        if str(getattr(exc, "sqlite_errorname", "")).startswith("SQLITE_READONLY"):
            raise _read_only(database_url, StoreUnavailable(str(exc), code="SQLITE_READONLY")) from None
        raise ConfigError(f"DATABASE_URL {database_url!r} cannot be opened: {exc}") from None


def check_database_writable(database_url: str) -> None:
    """Stop the start when `DATABASE_URL` can be read but not written (`serve` calls this before listening).

    Such a bot would start, answer commands and then record no alert: better to refuse with a clear message.
    A fault that passes (the database locked by another process, a full disk) only logs a warning: the bot
    starts and its store recovers by itself once writes work.

    Raises:
        ConfigError: naming DATABASE_URL and saying "read-only" (or why it cannot be opened at all).
    """
    store = open_store(database_url)
    try:
        store.check_writable()
    except StoreUnavailable as exc:
        if exc.read_only:
            raise _read_only(database_url, exc) from None
        logger.warning("store.start_write_failed", extra={"error": exc.message, "code": exc.code})
    finally:
        store.close()


def _read_only(database_url: str, exc: StoreUnavailable) -> ConfigError:
    return ConfigError(
        f"DATABASE_URL {database_url!r} is read-only ({exc.message}): the bot records its watches and alerts "
        "there, so it must be able to write it (check the file, its directory and the mount)"
    )
