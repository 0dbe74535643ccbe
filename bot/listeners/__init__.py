"""Bolt listeners grouped by Slack surface; `register_listeners` wires them all onto an app.

Handlers are module-level functions with Bolt's injected arguments; the process's `Deps` reach them through
`context["deps"]`, set by a middleware in `bot.app`.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.listeners import actions, commands, events


def register_listeners(app: AsyncApp, deps: Deps) -> None:
    """Attach every command, event and action listener to `app`."""
    commands.register(app, deps)
    events.register(app, deps)
    actions.register(app, deps)
