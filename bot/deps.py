"""The long-lived objects one bot process shares, built once at start-up (`bot.server.build_deps`) and passed to
listeners, commands and the ops endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.dis.api import DisApi
from bot.services.health import Health
from bot.services.tasks import TaskService
from bot.services.watches import WatchService


@dataclass
class Deps:
    """Everything a listener may need; tests build one around a simulator and a fake Slack.

    Attributes:
        settings: the process settings.
        dis: the DIS client (`bot.dis.client.DisClient`): start/stop actions go straight to it.
        tasks: cached, single-flight reads for people.
        health: readiness (`/readyz`), fed by the traffic of `dis` and `slack` (`bot.services.health.connect_health`).
        slack: the Web API client (base URL `SLACK_API_URL`) the app and its listeners call, observed by `health`.
        watches: the watcher's subscriptions and alert buttons, when a watcher runs in this process.
        workspace_url: "https://acme.slack.com/", learned from the first `auth.test` (App Home links).
    """

    settings: Settings
    dis: DisApi
    tasks: TaskService
    health: Health
    slack: AsyncWebClient
    watches: WatchService | None = None
    workspace_url: str | None = None
