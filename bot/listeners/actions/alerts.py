"""Acknowledge and Snooze buttons on watcher alerts.

Ack first (Slack wants an answer within 3 s), then record who pressed. The alert message itself is updated
through the watcher's outbox (rate-limited, retried), and the thread gets one line saying who did what;
the presser only gets an ephemeral note when nothing changed (already acknowledged, nothing to snooze).

The button's value is only the alert's id, and a click acts only on an alert of the conversation it came from:
a forwarded copy, a crafted value, or a click in a view (App Home, which belongs to no conversation) changes
nothing and is told so. A value that is not an id gets a polite answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.errors import error_message, store_refused_message
from bot.blocks.limits import Message, quiet_user
from bot.deps import Deps
from bot.errors import StoreUnavailable
from bot.listeners.actions.views import where_of
from bot.listeners.common import Where, button_value, deps_of, refuse_button, respond_or_post, web_client
from bot.services.watches import WatchService
from bot.watcher.ids import ALERT_ACK, ALERT_SNOOZE

logger = logging.getLogger("bot.slack")

#: An alert id as the buttons write it: SQLite's integers stop at 19 digits, so a 40-digit "id" is no id.
_ALERT_ID = re.compile(r"[1-9][0-9]{0,17}")

FROM_A_VIEW = (
    ":information_source: Acknowledge and snooze work on the alert's own message: press the button there, in the "
    "channel the alert was posted to."
)


def alert_id_of(value: str) -> int | None:
    """The alert id a button value names, or None when it is not one."""
    return int(value) if _ALERT_ID.fullmatch(value) else None


def _service(context: dict[str, Any]) -> WatchService | None:
    """The watcher's service (None when this process runs no watcher: the buttons then say so)."""
    return deps_of(context).watches


class _Click:
    """One press of an alert button: who, where, which alert, and how to answer the presser."""

    def __init__(
        self, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
    ) -> None:
        self.body = body
        self.respond = respond
        self.client = web_client(context, client)
        self.where: Where = where_of(body)
        self.alert_id = alert_id_of(button_value(body))

    async def note(self, text: str) -> None:
        message = Message(text, [])
        await respond_or_post(
            self.respond, self.client, message, self.where, response_type="ephemeral", replace_original=False
        )

    async def checked_id(self) -> int | None:
        """The alert id when the click may act (the value names an alert, the click came from a conversation);
        else None, and the presser has been told why."""
        if self.alert_id is None:
            await refuse_button(self.respond, self.client, self.where, self.body)
            return None
        if not self.where.channel:  # a view: no conversation to match the alert against
            await refuse_button(self.respond, self.client, self.where, self.body, reason="view", text=FROM_A_VIEW)
            return None
        return self.alert_id


async def _refused(click: _Click) -> None:
    # The database refuses writes: say so rather than leave the press unanswered (the store logs the fault).
    await respond_or_post(
        click.respond,
        click.client,
        store_refused_message(),
        click.where,
        response_type="ephemeral",
        replace_original=False,
    )


async def acknowledge(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
) -> None:
    """Acknowledge: the first press records who and stops reminders; the alert shows it."""
    await ack()
    click = _Click(body, respond, context, client)
    service = _service(context)
    if service is None or (alert_id := await click.checked_id()) is None:
        return
    try:
        alert, first = await service.acknowledge_in(click.where.channel, alert_id, click.where.user)
    except StoreUnavailable:
        await _refused(click)
        return
    if alert is None:
        message = error_message("I no longer follow this alert here.", "It may be older than the bot's history.")
        await respond_or_post(
            respond, click.client, message, click.where, response_type="ephemeral", replace_original=False
        )
    elif not first:
        await click.note(f":eyes: Already acknowledged by {quiet_user(alert.acked_by or '?')}.")


def snooze_callback(seconds: int) -> Any:
    """A listener for one Snooze button (1 h, 4 h, 24 h)."""

    async def snooze(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        click = _Click(body, respond, context, client)
        service = _service(context)
        if service is None or (alert_id := await click.checked_id()) is None:
            return
        try:
            alert = await service.store.alert(alert_id)
            if alert is None or alert.channel_id != click.where.channel:
                await click.note("I no longer follow this alert here.")
                return
            result = await service.snooze(alert_id, click.where.user, seconds)
        except StoreUnavailable:
            await _refused(click)
            return
        if not result.episodes:
            await click.note("Nothing to snooze: every problem of this alert has ended.")

    return snooze


def register(app: AsyncApp, deps: Deps) -> None:
    app.action(ALERT_ACK)(acknowledge)
    for action_id, seconds in ALERT_SNOOZE.items():
        app.action(action_id)(snooze_callback(seconds))
