"""DIS_WATCH parsing."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.watcher.config import parse_dis_watch


def test_pairs_several_channels_and_wildcard() -> None:
    """Pairs keep their order, a stream may go to several channels, `*` is accepted, duplicates collapse."""
    value = "stream-a=C0123ABC, stream-b=C0456DEF\nstream-a=G0789XYZ *=C0123ABC,stream-a=C0123ABC"
    assert parse_dis_watch(value) == [
        ("stream-a", "C0123ABC"),
        ("stream-b", "C0456DEF"),
        ("stream-a", "G0789XYZ"),
        ("*", "C0123ABC"),
    ]


def test_empty_means_no_watches() -> None:
    """An unset or blank DIS_WATCH configures nothing."""
    assert parse_dis_watch("") == [] and parse_dis_watch(None) == [] and parse_dis_watch(" , ") == []


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("stream-a", "not a stream=CHANNEL_ID pair"),
        ("=C0123ABC", "not a stream=CHANNEL_ID pair"),
        ("stream-a=", "not a stream=CHANNEL_ID pair"),
        ("stream-a=#alerts", "not a Slack channel ID"),
        ("stream-a=c0123abc", "not a Slack channel ID"),
        ("bad.name=C0123ABC", "not a valid stream name"),
    ],
)
def test_errors_name_dis_watch(value: str, fragment: str) -> None:
    """Every mistake is a ConfigError that names DIS_WATCH and says what is wrong."""
    with pytest.raises(ConfigError) as info:
        parse_dis_watch(value)
    assert str(info.value).startswith("DIS_WATCH") and fragment in str(info.value)
