"""Wake-ups between replicas: PostgreSQL LISTEN/NOTIFY on named channels.

A replica that changes something the leader must act on sends a notification; the leader, whose lease connection
LISTENs (`PostgresLease(listen={channel: callback})`), wakes within a round trip instead of at its next cycle:

- `WATCHES_CHANGED`: a `/dis watch` (or unwatch) was recorded, possibly on a standby: poll it now.
- `OUTBOX_QUEUED`: a row was queued for Slack: drain the outbox now.

Send it inside the transaction that made the change (`NOTIFY_SQL`): PostgreSQL delivers a notification only when
that transaction commits, so the leader never wakes to look for a row it cannot see yet, and a rolled-back change
wakes no one. A notification is a hint, never the data: whoever wakes reads the database, and a missed one (the
leader was reconnecting) costs at most one cycle, since the lease calls every callback once after a reconnect.
"""

from __future__ import annotations

import asyncpg

WATCHES_CHANGED = "disbot_watches_changed"
OUTBOX_QUEUED = "disbot_outbox_queued"
CHANNELS = (WATCHES_CHANGED, OUTBOX_QUEUED)

#: The statement to run inside a transaction (asyncpg numbering; SQLAlchemy: `SELECT pg_notify(:channel, :payload)`).
NOTIFY_SQL = "SELECT pg_notify($1, $2)"


async def notify(conn: asyncpg.Connection, channel: str, payload: str = "") -> None:
    """Send a wake-up on `channel` (delivered at the commit of `conn`'s transaction, at once outside one).

    Payloads are for logs and tests only (ids, never secrets or user text); PostgreSQL caps them at 8000 bytes.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown wake-up channel {channel!r}")
    await conn.execute(NOTIFY_SQL, channel, payload)
