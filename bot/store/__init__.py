"""The watcher's durable state: `open_store(DATABASE_URL)` picks the engine by the URL's scheme."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.errors import ConfigError
from bot.store.base import Store
from bot.store.sqlite import SqliteStore

__all__ = ["Store", "open_store", "sqlite_path"]


def sqlite_path(database_url: str) -> str:
    """The file path of a `sqlite:///relative.db`, `sqlite:////abs/path.db` or `sqlite:///:memory:` URL.

    Raises:
        ConfigError: naming DATABASE_URL if the URL is not one of those shapes.
    """
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or len(database_url) == len(prefix):
        raise ConfigError(
            f"DATABASE_URL {database_url!r} is not a SQLite URL: use sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite:///:memory:"
        )
    return database_url[len(prefix) :]


def open_store(database_url: str) -> Store:
    """Open (creating or migrating) the store named by `DATABASE_URL`.

    Raises:
        ConfigError: the scheme is not supported, or the database cannot be opened; the message names
            DATABASE_URL.
    """
    scheme = database_url.split(":", 1)[0].lower() if ":" in database_url else ""
    if scheme != "sqlite":
        shown = scheme or database_url
        raise ConfigError(
            f"DATABASE_URL uses {shown!r}, which this bot cannot store to; supported: sqlite "
            "(e.g. sqlite:///dis-bot.db)"
        )
    path = sqlite_path(database_url)
    if path != ":memory:" and not Path(path).parent.exists():
        raise ConfigError(f"DATABASE_URL points into {str(Path(path).parent)!r}, which does not exist")
    try:
        return SqliteStore(path)
    except (sqlite3.Error, RuntimeError) as exc:
        raise ConfigError(f"DATABASE_URL {database_url!r} cannot be opened: {exc}") from None
