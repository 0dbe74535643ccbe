"""Readiness: DIS and Slack must both have answered recently, and readiness flips when either fails."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from bot.errors import DisError
from bot.services.health import Health, chain, observe_slack
from tests.conftest import FAST_RETRY, ManualClock


def test_not_ready_until_both_answered() -> None:
    """A fresh tracker is not ready and says which dependency has not answered yet."""
    clock = ManualClock()
    health = Health(300, clock=clock)
    ready, detail = health.status()
    assert not ready
    assert detail["dis"]["reason"] == "no successful DIS call yet"
    assert detail["slack"]["reason"] == "no successful Slack call yet"
    health.mark_dis_ok()
    assert not health.status()[0]
    health.mark_slack_ok()
    ready, detail = health.status()
    assert ready
    assert detail["dis"] == {"ok": True, "last_ok_age_seconds": 0.0}


def test_success_older_than_the_limit_is_not_ready() -> None:
    """A success older than READY_MAX_AGE_SECONDS no longer counts."""
    clock = ManualClock()
    health = Health(300, clock=clock)
    health.mark_dis_ok()
    health.mark_slack_ok()
    clock.now += 300
    assert health.status()[0]
    clock.now += 1
    ready, detail = health.status()
    assert not ready
    assert detail["dis"]["reason"] == "last successful DIS call 301 s ago (limit 300 s)"


def test_failure_after_success_flips_until_the_next_success() -> None:
    """A failure after the last success makes it unready; the next success makes it ready again."""
    clock = ManualClock()
    health = Health(300, clock=clock)
    health.mark_dis_ok()
    health.mark_slack_ok()
    clock.now += 5
    health.mark_slack_failed("chat.postMessage: ratelimited")
    ready, detail = health.status()
    assert not ready
    assert detail["slack"]["reason"] == "Slack failing: chat.postMessage: ratelimited"
    assert detail["slack"]["consecutive_failures"] == 1
    assert detail["dis"]["ok"]
    health.mark_slack_ok()
    ready, detail = health.status()
    assert ready
    assert detail["slack"]["last_error"] == "chat.postMessage: ratelimited"  # history stays visible


@pytest.mark.parametrize(
    ("endpoint", "status", "effect"),
    [
        ("list_transfer_tasks", 200, "ok"),
        ("start_transfer_tasks", 204, "ok"),
        ("show_transfer_task", 400, "none"),  # DIS answered: the task does not exist
        ("list_transfer_tasks", 404, "none"),
        ("list_transfer_tasks", 401, "failed"),
        ("list_transfer_tasks", 403, "failed"),
        ("list_transfer_tasks", 441, "failed"),
        ("list_transfer_tasks", 429, "failed"),
        ("list_streams", 503, "failed"),
        ("list_streams", "timeout", "failed"),
        ("list_streams", "connect_error", "failed"),
        ("iam_login", 201, "none"),  # a token does not prove DIS answers
        ("iam_login", 401, "failed"),
        ("iam_login", 400, "failed"),
    ],
)
def test_dis_request_classification(endpoint: str, status: int | str, effect: str) -> None:
    """Each DIS attempt outcome marks DIS ok, failed, or leaves it alone."""
    health = Health(300, clock=ManualClock())
    health.on_dis_request(endpoint, status, 0.01)
    dis = health.dis
    assert (dis.last_ok is not None, dis.failures > 0) == {
        "ok": (True, False),
        "failed": (False, True),
        "none": (False, False),
    }[effect]


def test_chain_calls_every_hook_in_order() -> None:
    """`chain` lets metrics and health share DisClient's single on_request slot."""
    seen: list[tuple[str, object]] = []
    hook = chain(None, lambda *a: seen.append(("a", a)), lambda *a: seen.append(("b", a)))
    hook("list_streams", 200, 0.1)
    assert seen == [("a", ("list_streams", 200, 0.1)), ("b", ("list_streams", 200, 0.1))]


async def test_dis_readiness_flips_with_the_simulator(sim, make_client) -> None:
    """Real DIS traffic: a read marks DIS ok, a 503 burst that exhausts retries marks it failed, a read recovers."""
    sim.add_stream("orders-prod", [SimTask("to-obs")])
    client = make_client(sim)
    health = Health(300)
    health.mark_slack_ok()
    client.on_request = health.on_dis_request
    await client.list_transfer_tasks("orders-prod")
    assert health.status()[0]

    sim.fail_next(FAST_RETRY.attempts, status=503)
    with pytest.raises(DisError):
        await client.list_transfer_tasks("orders-prod")
    ready, detail = health.status()
    assert not ready
    assert detail["dis"]["reason"] == "DIS failing: list_transfer_tasks: HTTP 503"

    await client.list_transfer_tasks("orders-prod")
    assert health.status()[0]


async def test_dis_unreachable_marks_failed(sim, make_client) -> None:
    """A stopped simulator (connection refused) marks DIS failed."""
    client = make_client(sim)
    health = Health(300)
    client.on_request = health.on_dis_request
    await client.list_streams()
    assert health.dis.last_ok is not None
    await sim.stop()
    with pytest.raises(DisError):
        await client.list_streams()
    assert health.status()[1]["dis"]["reason"] == "DIS failing: list_streams: connect_error"


async def test_slack_readiness_flips_with_the_fake() -> None:
    """Real Slack traffic: ok calls mark Slack ok, 5xx, 429 and auth errors fail it, channel errors do not."""
    health = Health(300)
    health.mark_dis_ok()
    async with FakeSlack() as fake:
        client = observe_slack(AsyncWebClient(token="xoxb-test", base_url=fake.url, retry_handlers=[]), health)
        await client.chat_postMessage(channel="C1", text="hi")
        assert health.status()[0]

        fake.fail_next("chat.postMessage", status=500)
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C1", text="hi")
        assert health.status()[1]["slack"]["reason"] == "Slack failing: chat.postMessage: HTTP 500"

        await client.auth_test()
        assert health.status()[0]

        fake.fail_next("chat.postMessage", error="channel_not_found")
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C404", text="hi")
        assert health.status()[0]  # Slack answered; our request was wrong

        fake.fail_next("chat.update", status=429)
        with pytest.raises(SlackApiError):
            await client.chat_update(channel="C1", ts="1.2", text="x")
        assert health.status()[1]["slack"]["reason"] == "Slack failing: chat.update: ratelimited"

        fake.fail_next("auth.test", error="invalid_auth")
        with pytest.raises(SlackApiError):
            await client.auth_test()
        assert health.status()[1]["slack"]["reason"] == "Slack failing: auth.test: invalid_auth"

        url = fake.url
    client = observe_slack(AsyncWebClient(token="xoxb-test", base_url=url, retry_handlers=[]), health)
    with pytest.raises(OSError):
        await client.auth_test()
    assert health.status()[1]["slack"]["reason"].startswith("Slack failing: auth.test: network (")


def test_observe_slack_is_idempotent() -> None:
    """Observing a client twice reports each call once."""
    health = Health(300)
    client = AsyncWebClient(token="xoxb-test")
    observe_slack(client, health)
    wrapped = client.api_call
    observe_slack(client, health)
    assert client.api_call is wrapped


async def test_probes_refresh_a_quiet_bot(sim, make_client) -> None:
    """With no traffic, probes (a DIS read and auth.test) make the bot ready; a failing probe makes it unready."""
    client = make_client(sim)
    async with FakeSlack() as fake:
        slack = AsyncWebClient(token="xoxb-test", base_url=fake.url, retry_handlers=[])
        health = Health(300, dis_probe=client.list_streams, slack_probe=slack.auth_test, probe_interval=0)
        ready, detail = await health.refresh()
        assert ready, detail
        assert sim.count("/streams") == 1
        assert fake.count("auth.test") == 1

        # Fresh successes: nothing is due, no traffic.
        await health.refresh()
        assert sim.count("/streams") == 1
        assert fake.count("auth.test") == 1

        fake.fail_next("auth.test", error="invalid_auth")
        health.slack.last_ok = health.clock() - 200  # quiet for more than half the limit
        ready, detail = await health.refresh()
        assert not ready
        assert detail["slack"]["reason"] == "Slack failing: probe: invalid_auth"


async def test_probe_interval_limits_probing() -> None:
    """A failing dependency is probed at most once per probe_interval."""
    clock = ManualClock()
    calls = []

    async def probe() -> None:
        calls.append(clock.now)
        raise TimeoutError

    health = Health(300, clock=clock, dis_probe=probe, probe_interval=15, probe_timeout=1)
    await health.refresh()
    await health.refresh()
    assert len(calls) == 1
    assert health.status()[1]["dis"]["reason"] == "DIS failing: probe timed out after 1 s"
    clock.now += 15
    await health.refresh()
    assert len(calls) == 2


def test_added_check_joins_readiness() -> None:
    """A check added with add_check appears in the status under its name and makes the bot unready when it fails."""
    clock = ManualClock()
    health = Health(60, clock=clock)
    health.mark_dis_ok()
    health.mark_slack_ok()
    failing = {"value": True}
    health.add_check("store", lambda now: (not failing["value"], {"ok": not failing["value"], "reason": "writes fail"}))
    ready, detail = health.status()
    assert not ready and detail["store"]["reason"] == "writes fail"
    failing["value"] = False
    assert health.status()[0]
