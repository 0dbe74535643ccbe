"""Alembic's environment: migrations run on the connection `bot.store.migrate` hands over, inside its locked
transaction (the bot never lets Alembic open connections of its own)."""

from __future__ import annotations

from alembic import context

from bot.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the bot's migrations through bot.store.migrate (it holds the migration lock)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
