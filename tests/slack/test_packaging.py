"""The app manifest creates the whole app in one paste, and the Procfile serves $PORT."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import ids

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manifest() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_declares_the_slash_command_with_usage_hint(manifest):
    """/dis is declared with a description and a usage hint naming every command."""
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == ids.COMMAND
    assert command["description"]
    for word in ("status", "tasks STREAM", "task STREAM TASK", "streams", "watch STREAM", "help"):
        assert word in command["usage_hint"]
    assert len(command["usage_hint"]) <= 1000


def test_manifest_scopes_events_interactivity_and_socket_mode(manifest):
    """Bot scopes cover every subscribed event; interactivity, Socket Mode and the Home tab are on."""
    assert manifest["_metadata"]["major_version"] == 1
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "app_home_opened", "message.im"} <= events
    assert {"commands", "chat:write", "chat:write.public", "app_mentions:read", "im:history"} <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "dis-bot"
    assert 174 <= len(manifest["display_information"]["long_description"]) <= 4000


def test_procfile_runs_the_web_process_on_port():
    """`web: dis-bot serve`; serve binds $PORT (Settings.port reads PORT)."""
    lines = (ROOT / "Procfile").read_text().strip().splitlines()
    assert lines == ["web: dis-bot serve"]
