"""The App Home tab: published each time a user opens it.

With a watcher in the process (`deps.watches`), the tab is the workspace's overview: every watched stream with its
tasks per state and last read, and the open alerts with links to their messages (`bot.blocks.home`). It is read
from the watcher's store and its last polls, so opening the tab never waits on DIS. Without a watcher it shows
how to use the bot (`bot.blocks.help.home_view`).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import help as help_blocks
from bot.blocks.home import home_view
from bot.deps import Deps
from bot.listeners.common import deps_of, web_client
from bot.services.home import collect_overview
from bot.services.watches import WatchService
from bot.slack_errors import error_code
from bot.store.base import ALL_STREAMS

logger = logging.getLogger("bot.slack")


async def last_reads(watches: WatchService) -> dict[str, float]:
    """When each stream was last read successfully, from the watcher's last polls (in memory; on a standby, the
    leader's as it recorded them)."""
    polls = await watches.polls()
    return {stream: poll.at for stream, poll in polls.items() if poll.ok and stream != ALL_STREAMS}


async def build_home(deps: Deps, *, workspace_url: str | None = None, now: float | None = None) -> dict[str, Any]:
    """The Home view for this process: the overview when a watcher runs, else the how-to."""
    watches = deps.watches
    if watches is None:
        return help_blocks.home_view(actions_enabled=deps.settings.dis_actions_enabled)
    store = watches.store
    reads = await last_reads(watches)
    # The store's calls leave the event loop free (aiosqlite's thread, asyncpg's socket): no thread hop here.
    overview = await collect_overview(
        store,
        last_reads=reads,
        project_id=deps.settings.dis_project_id,
        region=deps.settings.dis_region,
    )
    return home_view(overview, now=now, workspace_url=workspace_url)


async def workspace_url(deps: Deps, context: dict[str, Any], client: AsyncWebClient) -> str | None:
    """The workspace URL for message permalinks: from Bolt's authorize result when it has one, else from one
    `auth.test` per process (kept as `deps.workspace_url`), so links never cost a `chat.getPermalink` per alert."""
    result = context.get("authorize_result")
    url = result.url if isinstance(result, AuthorizeResult) else None
    if url is not None and url.startswith("https://"):
        return url
    if deps.workspace_url is not None:
        return deps.workspace_url
    try:
        answer = await client.auth_test()
    except SlackApiError:
        return None  # links fall back to opening the channel; try again at the next opening
    url = answer.get("url")
    if isinstance(url, str) and url.startswith("https://"):
        deps.workspace_url = url
        return url
    return None


async def app_home_opened(event: dict[str, Any], context: dict[str, Any], client: AsyncWebClient) -> None:
    if event.get("tab") != "home":
        return
    deps = deps_of(context)
    slack = web_client(context, client)
    view = await build_home(deps, workspace_url=await workspace_url(deps, context, slack))
    try:
        await slack.views_publish(user_id=event.get("user", ""), view=view)
    except SlackApiError as exc:
        logger.warning("slack.home_publish_failed", extra={"error": error_code(exc)})
