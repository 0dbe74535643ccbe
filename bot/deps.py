"""The long-lived objects one bot process shares, built once at start-up and passed to listeners and services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.services.tasks import TaskService

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient


@dataclass
class Deps:
    """Everything a listener may need; tests build one around a simulator and a fake Slack.

    Attributes:
        settings: the process settings.
        dis: the DIS client (`bot.dis.client.DisClient`): start/stop actions go straight to it.
        tasks: cached, single-flight reads for people.
        slack: the Web API client (base URL `SLACK_API_URL`), shared by the app and the watcher.
        watches: the watcher's subscription service (`bot.services.watches.WatchService`), when a store exists.
        extras: room for services added later (health, app home) without changing every constructor.
    """

    settings: Settings
    dis: Any
    tasks: TaskService
    slack: AsyncWebClient | None = None
    watches: Any = None
    extras: dict[str, Any] = field(default_factory=dict)
