"""Button listeners (block_actions): views (Refresh, paging, Share, Details) and task Start/Stop.

The watcher's alert buttons (Acknowledge, Snooze) live in `bot.listeners.actions.alerts`.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot import ids
from bot.deps import Deps
from bot.listeners.actions import alerts
from bot.listeners.actions.task_control import start_task, stop_task
from bot.listeners.actions.views import details, navigate, refresh, share


def register(app: AsyncApp, deps: Deps) -> None:
    app.action(ids.REFRESH)(refresh)
    app.action(ids.PAGE_PREV)(navigate)
    app.action(ids.PAGE_NEXT)(navigate)
    app.action(ids.TASKS)(navigate)
    app.action(ids.SHARE)(share)
    app.action(ids.DETAILS)(details)
    app.action(ids.TASK_START)(start_task)
    app.action(ids.TASK_STOP)(stop_task)
    alerts.register(app, deps)
