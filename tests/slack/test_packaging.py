"""The app manifest creates the whole app in one paste, and the Procfile serves $PORT."""

from __future__ import annotations

import re
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


#: Bot scopes each Web API method the bot calls needs (None: no scope beyond a bot token). A new method in the
#: code fails `test_manifest_grants_every_web_api_method_the_code_calls` until it is listed here.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",  # + chat:write.public for public channels the bot has not joined
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "views_publish": None,
}
#: Scope each subscribed bot event needs.
EVENT_SCOPES: dict[str, str | None] = {
    "app_mention": "app_mentions:read",
    "message.im": "im:history",
    "app_home_opened": None,
}
_WEB_API_CALL = re.compile(
    r"""[."](auth_test|(?:chat|views|conversations|users|usergroups|reactions|files)_[A-Za-z]+)[("]"""
)


def test_manifest_fields_within_slacks_schema(manifest):
    """Lengths and formats from Slack's manifest schema (name 35, description 140, command 32, hint 1000)."""
    info = manifest["display_information"]
    assert len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert re.fullmatch(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}", info["background_color"])
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", manifest["features"]["bot_user"]["display_name"])
    [command] = manifest["features"]["slash_commands"]
    assert command["command"].startswith("/") and len(command["command"]) <= 32
    assert len(command["description"]) <= 2000
    assert command["should_escape"] is True  # `watch STREAM mention @group` needs the group's ID
    assert set(manifest) <= {"_metadata", "display_information", "features", "oauth_config", "settings"}


def test_socket_mode_manifest_has_no_request_urls(manifest):
    """With Socket Mode on, Slack needs no URL anywhere: the manifest pastes as is."""
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert "request_url" not in manifest["settings"]["interactivity"]


def test_manifest_grants_every_web_api_method_the_code_calls(manifest):
    """Every Web API method called anywhere in bot/ is known, and its scope (and each event's) is requested."""
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    called = set()
    for path in (ROOT / "bot").rglob("*.py"):
        if "devtools" not in path.parts:
            called.update(_WEB_API_CALL.findall(path.read_text()))
    assert {"chat_postMessage", "chat_update", "views_publish"} <= called  # the scan sees the calls
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these methods (and their scopes) to METHOD_SCOPES and manifest.yml: {unknown}"
    needed = {METHOD_SCOPES[m] for m in called} | {
        EVENT_SCOPES[e] for e in manifest["settings"]["event_subscriptions"]["bot_events"]
    }
    assert needed - {None} <= scopes


def test_build_output_is_ignored_by_git():
    """`pip wheel .` / `python -m build` leave build/ and dist/: git ignores both, so they are never committed."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("build/lib/bot/cli.py", "dist/dis_bot-0.1.0.tar.gz"):
        check = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, capture_output=True, timeout=30)
        assert check.returncode == 0, f"{path} is not ignored"
