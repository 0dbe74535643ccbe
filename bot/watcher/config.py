"""`DIS_WATCH`: watches that come from configuration rather than from `/dis watch`.

Syntax: comma- (or whitespace-) separated `stream=CHANNEL_ID` pairs, e.g.
`DIS_WATCH="orders-prod=C0123ABC,orders-prod=C0456DEF,*=C0789GHI"`. A stream may go to several channels;
`*` watches every stream of the project. Errors name DIS_WATCH and the offending pair.
"""

from __future__ import annotations

import re

from bot.dis.names import validate_name
from bot.errors import ConfigError, InvalidName
from bot.store.base import ALL_STREAMS

#: Slack conversation ids: C (public), G (private / legacy), D (DM); upper-case letters and digits.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def parse_dis_watch(value: str | None) -> list[tuple[str, str]]:
    """Parse `DIS_WATCH` into (stream, channel_id) pairs, in order, without duplicates.

    Raises:
        ConfigError: naming DIS_WATCH and saying what is wrong with which pair.
    """
    pairs: list[tuple[str, str]] = []
    for raw in re.split(r"[,\s]+", value or ""):
        if not raw:
            continue
        stream, sep, channel = raw.partition("=")
        stream, channel = stream.strip(), channel.strip()
        if not sep or not stream or not channel:
            raise ConfigError(
                f"DIS_WATCH: {raw!r} is not a stream=CHANNEL_ID pair "
                '(example: DIS_WATCH="orders-prod=C0123ABC,*=C0456DEF")'
            )
        if stream != ALL_STREAMS:
            try:
                validate_name(stream, "stream")
            except InvalidName as exc:
                raise ConfigError(f"DIS_WATCH: {exc}") from None
        if channel.startswith("#") or not CHANNEL_ID.fullmatch(channel):
            raise ConfigError(
                f"DIS_WATCH: {channel!r} (for {stream}) is not a Slack channel ID; use the ID like C0123ABC "
                "(channel details → bottom of the About tab), not the #name"
            )
        if (stream, channel) not in pairs:
            pairs.append((stream, channel))
    return pairs
