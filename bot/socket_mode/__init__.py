"""Socket Mode: our own small client on aiohttp, feeding envelopes to Bolt through Bolt's own helpers.

- `opener.py` — `apps.connections.open`: a fresh websocket URL for every attempt; failures classified once.
- `connection.py` — one websocket: reads until it closes, notices Slack's `hello` and `disconnect`, heartbeats.
- `client.py` — `SocketModeClient`: keeps a live connection for ever (backoff, replacement, readiness).
- `dispatch.py` — `EnvelopeDispatcher`: envelope -> Bolt request -> ack, each envelope_id run once.

Why not slack_sdk's aiohttp `SocketModeClient` (what Bolt's `AsyncSocketModeHandler` wraps), as of slack_sdk
3.48 — read in its source and tracker:

- On a `disconnect` (refresh_requested, warning) it closes the old connection *before* opening the new one
  (`connect()`), so envelopes Slack already sent on the old one are dropped, and acks written meanwhile go to a
  closed socket; Slack does not redeliver slash commands or clicks. Reconnection has broken before in this very
  path (slackapi/python-slack-sdk#1110, #1446).
- It asks for a new URL only when it has none: a failed URL is retried for ever (the same fault as #1379 in its
  websocket-client twin), and every failure logs a traceback.
- A closed or silent connection is noticed by a monitor that sleeps `ping_interval` (10 s in Bolt's handler)
  between checks, and a stale link only after 4 x `ping_interval` without pongs.
- `connect()` blocks until a connection is up, so the bot could not run (nor stop on SIGTERM) without Slack.
- At DEBUG it logs every received frame whole (`Received message (..., data: ...)`): each envelope carries a
  `response_url` anyone can post to.
- It dispatches an envelope_id delivered twice twice.

What we keep from the libraries: aiohttp's websocket and heartbeat, slack_sdk's `SocketModeRequest` /
`SocketModeResponse`, and Bolt's `run_async_bolt_app` / `send_async_response` for the envelope <-> Bolt part.
"""

from __future__ import annotations

from bot.socket_mode.client import SocketModeClient, SocketModeTiming
from bot.socket_mode.dispatch import EnvelopeDispatcher
from bot.socket_mode.opener import ConnectFailed, refusal

__all__ = ["ConnectFailed", "EnvelopeDispatcher", "SocketModeClient", "SocketModeTiming", "refusal"]
