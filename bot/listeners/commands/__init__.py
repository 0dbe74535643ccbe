"""Slash command listeners."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot import ids
from bot.deps import Deps
from bot.listeners.commands.dis import dis_command


def register(app: AsyncApp, deps: Deps) -> None:
    app.command(ids.COMMAND)(dis_command)
