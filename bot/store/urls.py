"""DATABASE_URL: which engine, where, and how to show it without its password.

`sqlite:///relative.db`, `sqlite:////absolute/path.db`, `sqlite:///:memory:` (a `?mode=ro`-style part is SQLite
URI parameters), and `postgresql://…` or `postgres://…` (Heroku's form, `?sslmode=require` included: asyncpg
reads libpq's `sslmode` itself, so the URL is handed to it as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.errors import ConfigError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_PG_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed DATABASE_URL.

    Attributes:
        engine: "sqlite" or "postgresql".
        url: the URL as given (it may hold a password: never log it, use `shown`).
        path: SQLite's file path (or ":memory:").
        query: SQLite URI parameters (`mode=ro`), without the `?`.
    """

    engine: str
    url: str
    path: str = ""
    query: str = ""

    @property
    def shown(self) -> str:
        """The URL for messages and logs: a password becomes `***`."""
        return shown_url(self.url)


def shown_url(url: str) -> str:
    """`url` with any password replaced by `***` (DATABASE_URL of PostgreSQL carries one)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("@", 1)[-1] if "@" in url else url
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


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


def parse_database_url(database_url: str) -> DatabaseUrl:
    """Check DATABASE_URL's shape (nothing is opened).

    Raises:
        ConfigError: the scheme is not supported, the URL is malformed, or a SQLite file's directory does not
            exist; the message names DATABASE_URL (and never shows a password).
    """
    scheme = database_url.split(":", 1)[0].lower() if ":" in database_url else ""
    if scheme in _PG_SCHEMES:
        try:
            parts = urlsplit(database_url)
            host, _port = parts.hostname, parts.port
        except ValueError:
            host = None
        if not host or not parts.path.strip("/"):
            raise ConfigError(
                f"DATABASE_URL {shown_url(database_url)!r} is not a PostgreSQL URL: use "
                "postgresql://user:password@host:5432/database (postgres:// and ?sslmode=require work too)"
            )
        return DatabaseUrl(POSTGRESQL, database_url)
    if scheme != SQLITE:
        shown = scheme or shown_url(database_url)
        raise ConfigError(
            f"DATABASE_URL uses {shown!r}, which this bot cannot store to; supported: sqlite "
            "(e.g. sqlite:///dis-bot.db) and postgresql (postgresql://user:password@host/database)"
        )
    path = sqlite_path(database_url)
    query = database_url.split("?", 1)[1] if "?" in database_url else ""
    if path != ":memory:" and not Path(path).parent.exists():
        raise ConfigError(f"DATABASE_URL points into {str(Path(path).parent)!r}, which does not exist")
    return DatabaseUrl(SQLITE, database_url, path=path, query=query)
