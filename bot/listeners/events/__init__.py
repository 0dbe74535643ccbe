"""Events API listeners: @mentions, direct messages, App Home."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.listeners.events.app_home import app_home_opened
from bot.listeners.events.mention import app_mention, direct_message


def register(app: AsyncApp, deps: Deps) -> None:
    app.event("app_mention")(app_mention)
    app.event("message")(direct_message)
    app.event("app_home_opened")(app_home_opened)
