"""Button listeners (block_actions): views (Refresh, paging, Share, Details) and task Start/Stop.

The watcher's alert buttons (`bot.listeners.actions.alerts`) are registered here too when that module exists.
"""

from __future__ import annotations

import importlib

from slack_bolt.async_app import AsyncApp

from bot import ids
from bot.deps import Deps
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
    _register_optional(app, deps, "bot.listeners.actions.alerts")


def _register_optional(app: AsyncApp, deps: Deps, module_name: str) -> None:
    """Register a listener module written by another part of the bot, if it is installed."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return
    module.register(app, deps)
