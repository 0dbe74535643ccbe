"""Action ids of the alert buttons, imported by the block builders and by the listeners that handle them."""

from __future__ import annotations

ALERT_ACK = "dis_alert_ack"

#: Snooze buttons: action id -> seconds. Each button needs its own id (ids are unique within a block).
ALERT_SNOOZE: dict[str, int] = {
    "dis_alert_snooze_1h": 3600,
    "dis_alert_snooze_4h": 4 * 3600,
    "dis_alert_snooze_24h": 24 * 3600,
}

#: Block id of the actions block on alert messages.
ALERT_ACTIONS_BLOCK = "dis_alert_actions"

#: `event_type` of the metadata on every message the outbox posts (alerts and their thread replies); its
#: `event_payload.key` is the idempotency key, so a message sent twice (see bot/watcher/outbox.py) shows it twice.
ALERT_METADATA_EVENT = "dis_bot_alert"
