"""Request bodies shaped like Slack's (slash command, event callback, block_actions), as raw strings to sign."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

TEAM = "T0FAKE"
APP = "A0DISBOT"


def slash_command(text: str, *, user: str, channel: str, response_url: str, command: str = "/dis") -> str:
    """A form-encoded slash command body, fields in Slack's order."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex[:8]}",
        }
    )


def event_callback(event: dict[str, Any], *, bot_user_id: str, event_id: str | None = None) -> str:
    """A JSON Events API envelope around `event`."""
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": APP,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": bot_user_id, "is_bot": True}],
        }
    )


def block_actions(
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str,
    response_url: str,
    message_ts: str = "1700000000.000100",
    ephemeral: bool = True,
    thread_ts: str | None = None,
) -> str:
    """A form-encoded `payload=` body for a button click."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel,
        "is_ephemeral": ephemeral,
    }
    if thread_ts:
        container["thread_ts"] = thread_ts
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "container": container,
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex[:8]}",
        "team": {"id": TEAM, "domain": "fake"},
        "channel": {"id": channel, "name": "ops"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "value": value,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }
    if not ephemeral:
        payload["message"] = {"type": "message", "ts": message_ts, "text": "", "blocks": []}
    return urlencode({"payload": json.dumps(payload)})


def socket_payload(body: str) -> dict[str, Any]:
    """The `payload` of a Socket Mode envelope for a body built above: Slack sends the same fields as JSON."""
    if body.startswith("{"):
        return json.loads(body)
    fields = dict(parse_qsl(body))
    return json.loads(fields["payload"]) if set(fields) == {"payload"} else fields


def view_block_actions(action_id: str, value: str, *, user: str, view_type: str = "home") -> str:
    """A form-encoded `payload=` body for a click in a view (App Home): no channel and no response_url."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": TEAM},
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": "V0HOME"},
        "trigger_id": f"{int(time.time())}.1.{uuid.uuid4().hex[:8]}",
        "team": {"id": TEAM, "domain": "fake"},
        "view": {"id": "V0HOME", "type": view_type, "blocks": [], "app_id": APP, "team_id": TEAM},
        "actions": [
            {"action_id": action_id, "block_id": "b1", "value": value, "type": "button", "action_ts": str(time.time())}
        ],
    }
    return urlencode({"payload": json.dumps(payload)})
