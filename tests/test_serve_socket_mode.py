"""`dis-bot serve` in Socket Mode as a real process: a refused app token ends it at once with exit code 2 and one
line naming SLACK_APP_TOKEN; SIGTERM ends it within 10 s whether Slack is connected, unreachable or hanging."""

from __future__ import annotations

import pytest

from bot.devtools.fake_slack import FakeSlack
from tests.conftest import SIM_TOKEN, free_port
from tests.test_serve_process import BOT_TOKEN, run_serve, serve_env, served_bot

APP_TOKEN = "xapp-1-A0PROC-0123456789-processapptoken"


@pytest.mark.parametrize(
    ("token", "script", "expected"),
    [
        ("xapp-1-A0PROC-9999-wrongapptoken", (), "Slack refused SLACK_APP_TOKEN (invalid_auth)"),
        (APP_TOKEN, ({"error": "token_revoked"},), "Slack refused SLACK_APP_TOKEN (token_revoked)"),
        ("xoxb-a-bot-token-pasted-here-0123", (), "SLACK_APP_TOKEN is not an app-level token"),
        (
            APP_TOKEN,
            ({"error": "missing_scope"},),
            "Slack refused SLACK_APP_TOKEN (missing_scope): it needs the connections:write",
        ),
        # The start-up check meets Slack's 503 (no refusal: serve starts), the client's next attempt the refusal.
        (APP_TOKEN, ({"status": 503}, {"error": "not_allowed_token_type", "n": 100}), "(not_allowed_token_type)"),
    ],
    ids=["invalid_auth", "revoked", "wrong_prefix", "missing_scope", "refused_after_a_503"],
)
async def test_a_refused_app_token_exits_2_with_one_line_naming_it(sim, tmp_path, token, script, expected) -> None:
    """Slack refuses SLACK_APP_TOKEN (or it is no xapp- token), at the start-up check or on a later attempt before
    any connection worked: exit 2 within seconds, one stderr line names the variable, no traceback, the token
    nowhere."""
    async with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        for failure in script:
            fake.fail_next("apps.connections.open", **failure)
        env = serve_env(sim, fake, free_port(), SLACK_APP_TOKEN=token, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db")
        code, out, err, seconds = await run_serve(env, tmp_path, timeout=15)
    output = out + err
    assert code == 2, output
    assert seconds < 10, output
    lines = [line for line in err.splitlines() if "SLACK_APP_TOKEN" in line]
    assert len(lines) == 1, err
    [line] = lines
    assert line.startswith("dis-bot: configuration error: ") and expected in line
    assert "Traceback" not in output
    assert token not in output and BOT_TOKEN not in output


@pytest.mark.parametrize("state", ["connected", "unreachable", "hanging"])
async def test_sigterm_ends_serve_within_10_s_in_every_state(sim, tmp_path, state) -> None:
    """SIGTERM while connected, while Slack is unreachable (retrying), or while Slack accepts connections and never
    answers (a start-up check waiting): exit 0 within 10 s, no traceback, no secret in the output."""
    async with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        extra = {"SLACK_APP_TOKEN": APP_TOKEN, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"}
        if state == "unreachable":
            extra["SLACK_API_URL"] = f"http://127.0.0.1:{free_port()}/api/"
        if state == "hanging":
            fake.hold("auth.test", "apps.connections.open", effect=False)
        env = serve_env(sim, fake, free_port(), **extra)
        until = {"connected": "socket_mode.connected", "unreachable": "socket_mode.connect_failed", "hanging": None}
        async with served_bot(env, tmp_path, until=until[state]) as bot:
            if state == "hanging":
                await fake.wait_for("auth.test", ok=False, timeout=20)  # the start-up check is waiting for Slack
            code, seconds = await bot.stop()
        output = bot.output
        assert code == 0, output
        assert seconds < 10, output
        assert "Traceback" not in output, output
        for secret in (APP_TOKEN, BOT_TOKEN, SIM_TOKEN, "ticket="):
            assert secret not in output
