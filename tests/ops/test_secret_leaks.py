"""No token, AK/SK, password or signing secret in any log line, metric, readiness answer or Slack message: every
auth mode, JSON and text logs at DEBUG, every error path: DIS 401, 429, 5xx, a garbled body, timeouts; IAM logins
refused, failing or garbled; Slack refusing an answer (response_url 500) or a call (auth error, 429, 500); the
watcher's alert posts refused (429, 5xx, auth error, channel error) and its polls failing (401, 503).

The redaction filter in `bot.logs` is a safety net; this test also checks that the net caught nothing, i.e.
that no code path tried to log a secret in the first place.
"""

from __future__ import annotations

import json
import time

import pytest

from bot import metrics
from bot.config import AuthMode
from bot.server import build_watcher
from bot.store import open_store
from tests.conftest import FAST_RETRY, SECRETS
from tests.ops.conftest import SLACK_SECRETS, Bot

ATTEMPTS = FAST_RETRY.attempts


def dis_statuses(endpoint: str | None = None) -> dict[str, float]:
    """DIS attempts so far by status (of one endpoint, or all), from the metrics registry."""
    out: dict[str, float] = {}
    for metric in metrics.REGISTRY.collect():
        if metric.name == "disbot_dis_requests":
            for sample in metric.samples:
                if sample.name == "disbot_dis_requests_total" and endpoint in (None, sample.labels["endpoint"]):
                    out[sample.labels["status"]] = out.get(sample.labels["status"], 0) + sample.value
    return out


async def home_opened(bot: Bot) -> None:
    """Open the Home tab and wait until the bot tried views.publish."""
    before = bot.fake.count("views.publish")
    await bot.home_opened()
    await bot.fake.wait_for("views.publish", count=before + 1, ok=None)


async def exercise(bot: Bot, mode: AuthMode) -> set[str]:
    """Drive every error path through the bot; return the runtime secrets (IAM tokens) seen on the way."""
    runtime: set[str] = set()
    sim = bot.sim
    await bot.command("tasks orders-prod")  # success
    runtime |= set(bot.client.auth.secrets())
    sim.fail_next(2, status=401)  # rejected credentials (IAM mode renews once, then gives up)
    await bot.command("tasks orders-prod")
    await bot.command("tasks orders-prod")  # IAM mode logs in again; the next failures hit DIS itself
    sim.fail_next(ATTEMPTS, status=429, headers={"Retry-After": "0"})  # throttled, without the wait
    await bot.command("tasks orders-prod")
    sim.fail_next(ATTEMPTS, status=503)
    await bot.command("task orders-prod to-obs")
    sim.fail_next(ATTEMPTS, status=200, body="{not json at all")  # garbled body
    await bot.command("tasks orders-prod")
    sim.fail_next(ATTEMPTS, status=500, body="<html>upstream exploded</html>")
    await bot.command("streams")
    sim.latency = 0.3  # > DIS_TIMEOUT_SECONDS: every attempt times out
    await bot.command("tasks orders-prod")
    sim.latency = 0.0
    if mode is AuthMode.IAM_PASSWORD:
        # The renewal login fails: refused, IAM down, then an answer without a token (garbled).
        for status, body in ((401, None), (500, None), (201, "{not json")):
            sim.expire_tokens()
            sim.fail_next(ATTEMPTS, status=status, body=body, path="/v3/auth/tokens")
            await bot.command("tasks orders-prod")
        await bot.command("tasks orders-prod")  # logs in again
        runtime |= set(bot.client.auth.secrets())
    # Slack failing: the response_url, then a Web API method (views.publish) with an auth error and a 500.
    bot.fake.fail_next("response_url", status=500)
    await bot.command("streams", ok=False)
    bot.fake.fail_next("views.publish", error="invalid_auth")
    await home_opened(bot)
    bot.fake.fail_next("views.publish", status=500)
    await home_opened(bot)
    bot.fake.fail_next("views.publish", status=429)
    await home_opened(bot)
    await exercise_watcher(bot)
    runtime |= set(bot.client.auth.secrets())
    return runtime


async def exercise_watcher(bot: Bot) -> None:
    """The watcher's error paths: Slack refusing alert posts (429, 5xx, an auth error, a channel error) and DIS
    failing whole polls (401, 503) until the channels are warned."""
    store = open_store("sqlite:///:memory:")
    try:
        watcher = build_watcher(bot.deps, store=store, spread=0, channel_interval=0)
        for channel in ("C0W1", "C0W2", "C0W3", "C0W4"):  # one alert each (to-dws is ERROR)
            await store.upsert_subscription(channel, "orders-prod", now=time.time())
        bot.fake.fail_next("chat.postMessage", status=429)
        bot.fake.fail_next("chat.postMessage", error="invalid_auth")
        bot.fake.fail_next("chat.postMessage", status=500)
        bot.fake.fail_next("chat.postMessage", error="not_in_channel")
        await watcher.run_cycle()
        await watcher.flush()
        for status in (401, 503):
            bot.sim.fail_next(ATTEMPTS, status=status)
            await watcher.run_cycle()
            await watcher.flush()
    finally:
        await store.close()


@pytest.mark.parametrize("log_format", ["json", "text"])
@pytest.mark.parametrize("mode", [AuthMode.TOKEN, AuthMode.AKSK, AuthMode.IAM_PASSWORD])
async def test_no_secret_in_logs_metrics_or_readiness(make_bot, capture_logs, mode, log_format) -> None:
    """Across every error path, no configured or issued secret appears anywhere the bot writes."""
    bot: Bot = await make_bot(
        mode, LOG_FORMAT=log_format, LOG_LEVEL="DEBUG", DIS_TIMEOUT_SECONDS=0.1, WATCH_FAILURES_BEFORE_WARNING=1
    )
    buffer = capture_logs(bot.settings)
    redact = None
    for handler in __import__("logging").getLogger().handlers:
        for f in handler.filters:
            if hasattr(f, "add"):
                redact = f
    assert redact is not None
    bot.client.on_secret = redact.add  # as production wires it: IAM tokens are secrets too

    before, logins = dis_statuses(), dis_statuses("iam_login")
    runtime = await exercise(bot, mode)

    output = buffer.getvalue()
    assert output.count("\n") > 50  # DEBUG logging really was on
    if log_format == "json":
        for line in output.splitlines():
            json.loads(line)
    exposed = {
        "logs": output,
        "metrics": metrics.render().decode(),
        "readiness": json.dumps(bot.health.status()),
        "Slack calls": json.dumps([c.payload for c in bot.fake.calls], default=str),
    }
    secrets = [s for s in (*SECRETS, *SLACK_SECRETS, *runtime) if s]
    assert len(secrets) >= len(SECRETS) + len(SLACK_SECRETS)
    for where, text in exposed.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}…) appears in the {where}"
    assert "[redacted]" not in output, "some code tried to log a secret (the filter caught it)"
    # The error paths really ran (event names are the same in both formats).
    for event in (
        "command.dis_auth_failed",
        "command.dis_throttled",
        "command.dis_unavailable",
        "dis.gave_up",
        "slack.respond_refused",
        "slack.home_publish_failed",
        "outbox.retry",
        "outbox.channel_refused",
        "watch.poll_failed",
    ):
        assert event in output, event
    grew = {status for status, n in dis_statuses().items() if n > before.get(status, 0)}
    assert grew >= {"401", "429", "500", "503", "timeout"}, grew
    if mode is AuthMode.IAM_PASSWORD:
        failed = {status for status, n in dis_statuses("iam_login").items() if n > logins.get(status, 0)}
        assert failed >= {"401", "500", "201"}, failed
