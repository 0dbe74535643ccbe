"""The App Home tab: published when a user opens it."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.help import home_view
from bot.listeners.common import deps_of, web_client

logger = logging.getLogger("bot.slack")


async def app_home_opened(event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient) -> None:
    if event.get("tab") != "home":
        return
    deps = deps_of(context)
    view = home_view(actions_enabled=deps.settings.dis_actions_enabled)
    try:
        await web_client(context, client).views_publish(user_id=event.get("user", ""), view=view)
    except SlackApiError as exc:
        logger.warning("slack.home_publish_failed", extra={"error": exc.response.get("error")})
