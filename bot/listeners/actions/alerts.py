"""Acknowledge and Snooze buttons on watcher alerts.

Ack first (Slack wants an answer within 3 s), then record who pressed. The alert message itself is updated
through the watcher's outbox (rate-limited, retried), and the thread gets one line saying who did what;
the presser only gets an ephemeral note when nothing changed (already acknowledged, nothing to snooze).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.blocks.errors import error_message, store_refused_message
from bot.blocks.limits import Message, escape
from bot.deps import Deps
from bot.errors import StoreUnavailable
from bot.listeners.actions.views import where_of
from bot.listeners.common import button_value, deps_of, respond_with
from bot.services.watches import WatchService
from bot.watcher.ids import ALERT_ACK, ALERT_SNOOZE

logger = logging.getLogger("bot.slack")


def _clicked(body: dict[str, Any]) -> tuple[str, str, int | None]:
    """(user, channel, alert id) of a button press; the alert id is None if the value is not ours."""
    where = where_of(body)
    value = button_value(body)
    return where.user, where.channel, int(value) if value.isdigit() else None


def _service(context: dict[str, Any]) -> WatchService | None:
    service = deps_of(context).watches
    return service if isinstance(service, WatchService) else None


async def _note(respond: AsyncRespond, text: str) -> None:
    await respond_with(respond, Message(text, []), response_type="ephemeral", replace_original=False)


async def _refused(respond: AsyncRespond) -> None:
    # The database refuses writes: say so rather than leave the press unanswered (the store logs the fault).
    await respond_with(respond, store_refused_message(), response_type="ephemeral", replace_original=False)


async def acknowledge(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any]) -> None:
    """Acknowledge: the first press records who and stops reminders; the alert shows it."""
    await ack()
    user, channel, alert_id = _clicked(body)
    service = _service(context)
    if service is None or alert_id is None:
        return
    try:
        alert, first = (
            service.acknowledge_in(channel, alert_id, user) if channel else service.acknowledge(alert_id, user)
        )
    except StoreUnavailable:
        await _refused(respond)
        return
    if alert is None:
        await respond_with(
            respond,
            error_message("I no longer follow this alert.", "It may be older than the bot's history."),
            response_type="ephemeral",
            replace_original=False,
        )
    elif not first:
        await _note(respond, f":eyes: Already acknowledged by <@{escape(alert.acked_by or '?')}>.")


def snooze_callback(seconds: int) -> Any:
    """A listener for one Snooze button (1 h, 4 h, 24 h)."""

    async def snooze(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, context: dict[str, Any]) -> None:
        await ack()
        user, channel, alert_id = _clicked(body)
        service = _service(context)
        if service is None or alert_id is None:
            return
        try:
            alert = service.store.alert(alert_id)
            if alert is None or (channel and alert.channel_id != channel):
                await _note(respond, "I no longer follow this alert here.")
                return
            result = service.snooze(alert_id, user, seconds)
        except StoreUnavailable:
            await _refused(respond)
            return
        if not result.episodes:
            await _note(respond, "Nothing to snooze: every problem of this alert has ended.")

    return snooze


def register(app: AsyncApp, deps: Deps) -> None:
    app.action(ALERT_ACK)(acknowledge)
    for action_id, seconds in ALERT_SNOOZE.items():
        app.action(action_id)(snooze_callback(seconds))
