"""The outbox against the fake Slack: Retry-After, backoff, permanent channel errors, ordering, rate per channel."""

from __future__ import annotations

import asyncio
import json

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.blocks.limits import Message
from bot.dis.simulator import SimTask
from bot.store.base import DEAD, OUT_MESSAGE, PARKED, PENDING
from bot.watcher.outbox import Backoff, OutboxSender
from tests.watcher.conftest import BOT_TOKEN, CHANNEL, OTHER, FakeClock, MakeRig, Rig


async def failing(rig: Rig, channel: str = CHANNEL) -> None:
    rig.sim.add_stream("orders", [SimTask("to-obs")])
    await rig.watch("orders", channel=channel)
    rig.sim.set_state("orders", "to-obs", "ERROR")


def failures(error: str) -> float:
    return metrics.OUTBOX_FAILURES.labels(error=error)._value.get()


async def test_429_waits_for_retry_after_then_delivers(rig: Rig) -> None:
    """A 429 is retried only after Retry-After, then delivered exactly once, and counted."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, status=429, retry_after=7)
    before = failures("ratelimited")
    await rig.cycle()
    assert rig.posts() == [] and failures("ratelimited") == before + 1
    rig.clock.advance(6)
    await rig.watcher.flush()
    assert rig.fake.count("chat.postMessage") == 1
    rig.clock.advance(1)
    await rig.watcher.flush()
    assert len(rig.posts()) == 1 and rig.fake.count("chat.postMessage") == 2
    await rig.cycle()
    assert len(rig.posts()) == 1


async def test_slack_back_sends_rows_that_waited_for_slack_but_keeps_retry_after(make_rig: MakeRig) -> None:
    """`slack_back()`: a row that failed with a 5xx or a network error is sent at once, not after its 300 s backoff;
    a rate-limited row still waits for its Retry-After."""
    rig = make_rig(options={"backoff": Backoff(base=300.0, cap=300.0, jitter=False)})
    await rig.store.enqueue("note:5xx", CHANNEL, OUT_MESSAGE, now=rig.clock.now, payload={"text": "after a 503"})
    rig.fake.fail_next("chat.postMessage", 1, status=503)
    await rig.watcher.flush()
    await rig.store.enqueue("note:429", OTHER, OUT_MESSAGE, now=rig.clock.now, payload={"text": "after a 429"})
    rig.fake.fail_next("chat.postMessage", 1, status=429, retry_after=120)
    await rig.watcher.flush()
    assert {r.last_error: r.not_before - rig.clock.now for r in await rig.store.outbox(state=PENDING)} == {
        "server_error": 300.0,
        "ratelimited": 120.0,
    }
    rig.watcher.sender.slack_back()
    await rig.watcher.flush()
    assert [p.text for p in rig.posts()] == ["after a 503"]
    [row] = await rig.store.outbox(state=PENDING)
    assert row.last_error == "ratelimited" and row.not_before == rig.clock.now + 120
    rig.clock.advance(120)
    await rig.watcher.flush()
    assert [p.text for p in rig.posts()] == ["after a 503", "after a 429"]


async def test_429_end_to_end_with_the_real_clock(make_rig: MakeRig) -> None:
    """With the real loop and clock, the retry after a 429 comes no sooner than Retry-After."""
    import time

    rig = make_rig(rig_clock=time.time)  # type: ignore[arg-type]
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, status=429, retry_after=1)
    await rig.watcher.start()
    try:
        [post] = await rig.fake.wait_for("chat.postMessage", timeout=10)
    finally:
        assert await rig.watcher.stop(timeout=5)
    [refused] = rig.fake.calls_to("chat.postMessage", ok=False)
    assert post.at - refused.at >= 0.95


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_back_off_then_deliver(rig: Rig, status: int) -> None:
    """5xx: retried with growing backoff (1 s, 2 s) from the outbox until Slack takes it."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 2, status=status)
    await rig.cycle()
    [row] = await rig.store.outbox(state=PENDING)
    assert row.last_error == "server_error" and row.not_before == rig.clock.now + 1
    rig.clock.advance(1)
    await rig.watcher.flush()
    [row] = await rig.store.outbox(state=PENDING)
    assert row.not_before == rig.clock.now + 2
    rig.clock.advance(2)
    await rig.watcher.flush()
    assert len(rig.posts()) == 1 and await rig.store.outbox(state=PENDING) == []


async def test_network_errors_keep_the_row(rig: Rig) -> None:
    """Slack unreachable: the row stays pending with a backoff, nothing is lost."""
    await rig.store.enqueue("note:1", CHANNEL, OUT_MESSAGE, now=rig.clock.now, payload={"text": "hello"})
    # A port nobody listens on: the fake's port after it stopped.
    from bot.devtools.fake_slack import FakeSlack

    async with FakeSlack() as gone:
        url = gone.url
    sender = OutboxSender(
        rig.store,
        AsyncWebClient(token=BOT_TOKEN, base_url=url, retry_handlers=[]),
        rig.watcher.engine.render,
        clock=rig.clock,
        channel_interval=0,
        backoff=Backoff(base=4, jitter=False),
    )
    assert await sender.deliver_due() == 1
    [row] = await rig.store.outbox(state=PENDING)
    assert row.last_error == "network" and row.not_before == rig.clock.now + 4
    rig.clock.advance(4)
    assert await rig.watcher.flush() == 1
    assert rig.fake.calls_to("chat.postMessage")[0].text == "hello"


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_in_channel", "is_archived", "restricted_action", "no_permission"]
)
async def test_permanent_errors_are_shown_and_the_watch_stays(rig: Rig, error: str) -> None:
    """A channel Slack refuses: shown on the watch, rows parked, other channels unaffected; re-watch delivers."""
    await failing(rig)
    rig.sim.add_stream("billing", [SimTask("to-obs")])
    await rig.watch("billing", channel=OTHER)
    rig.fake.fail_next("chat.postMessage", 1, error=error)
    await rig.cycle()
    [status] = await rig.service.watching(CHANNEL)
    assert status.subscription.delivery_error == error
    assert [r.key for r in await rig.store.outbox(state=PARKED)] and await rig.store.subscriptions(channel_id=CHANNEL)
    rig.sim.set_state("billing", "to-obs", "ERROR")
    await rig.cycle()
    assert len(rig.posts(OTHER)) == 1
    assert rig.fake.count("chat.postMessage") == 2  # the parked channel is not hammered
    await rig.watch("orders")
    [post] = rig.posts(CHANNEL)
    assert "orders/to-obs" in post.text
    [status] = await rig.service.watching(CHANNEL)
    assert status.subscription.delivery_error is None


async def test_rate_limited_error_body_waits_too(rig: Rig) -> None:
    """`rate_limited` in an HTTP 200 body (no Retry-After) is a rate limit too: retried, not dropped."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, error="rate_limited")
    await rig.cycle()
    [row] = await rig.store.outbox(state=PENDING)
    assert row.last_error == "ratelimited"
    rig.clock.advance(1)
    await rig.watcher.flush()
    assert len(rig.posts()) == 1 and await rig.store.outbox(state=DEAD) == []


async def test_parked_rows_are_tried_again_later(rig: Rig) -> None:
    """Without anyone re-watching, a refused channel is probed again after the park delay."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, error="not_in_channel")
    await rig.cycle()
    rig.clock.advance(899)
    await rig.watcher.flush()
    assert rig.posts() == []
    rig.clock.advance(2)
    await rig.watcher.flush()
    assert len(rig.posts()) == 1


async def test_update_waits_for_its_post(rig: Rig) -> None:
    """A recovery while the alert's post waits on Retry-After: the post shows it resolved, the update is skipped."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, status=429, retry_after=30)
    await rig.cycle()
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    assert rig.fake.calls_to("chat.postMessage", ok=True) == [] and rig.fake.calls_to("chat.update") == []
    rig.clock.advance(30)
    await rig.watcher.flush()
    [post] = rig.posts()
    assert post.blocks[0]["text"]["text"].startswith("✅ Resolved")
    assert rig.fake.calls_to("chat.update") == []
    [reply] = rig.replies(post.response["ts"])
    assert "RUNNING again" in reply.text


async def test_deleted_alert_message_is_not_retried(rig: Rig) -> None:
    """If someone deleted the alert, its update fails with message_not_found and is dropped, not retried."""
    await failing(rig)
    await rig.cycle()
    [post] = rig.posts()
    del rig.fake.messages[(CHANNEL, post.response["ts"])]
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.cycle()
    assert [r.last_error for r in await rig.store.outbox(state=DEAD)] == ["message_not_found"]
    await rig.cycle()
    assert len(rig.fake.calls_to("chat.update")) == 1


async def test_refused_blocks_fall_back_to_text(rig: Rig) -> None:
    """When Slack refuses the blocks, the alert goes out as plain text instead of being lost."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, error="invalid_blocks")
    await rig.cycle()
    [post] = rig.posts()
    assert post.blocks == [] and "orders/to-obs" in post.text


async def test_one_call_per_second_per_channel(make_rig: MakeRig) -> None:
    """The rate governor spaces calls to one channel by channel_interval; other channels are not held up."""
    clock = FakeClock()
    rig = make_rig(rig_clock=clock, options={"channel_interval": 1.0})
    for i in range(3):
        await rig.store.enqueue(f"a{i}", CHANNEL, OUT_MESSAGE, now=clock.now, payload={"text": f"a{i}"})
    await rig.store.enqueue("b0", OTHER, OUT_MESSAGE, now=clock.now, payload={"text": "b0"})
    await rig.watcher.flush()
    assert [c.text for c in rig.fake.calls] == ["a0", "b0"] or [c.text for c in rig.fake.calls] == ["b0", "a0"]
    clock.advance(0.5)
    await rig.watcher.flush()
    assert len(rig.fake.calls) == 2
    clock.advance(0.5)
    await rig.watcher.flush()
    clock.advance(1)
    await rig.watcher.flush()
    assert [c.text for c in rig.fake.calls if c.payload["channel"] == CHANNEL] == ["a0", "a1", "a2"]


async def test_messages_keep_their_order_per_channel(rig: Rig) -> None:
    """A reply queued together with its alert's post goes after it, into its thread (FIFO per channel)."""
    await failing(rig)
    await rig.watcher.run_cycle()
    rig.sim.set_state("orders", "to-obs", "RUNNING")
    await rig.watcher.run_cycle()
    await rig.watcher.flush()
    post, reply = rig.fake.calls
    assert (post.method, reply.method) == ("chat.postMessage", "chat.postMessage")
    assert "thread_ts" not in post.payload and reply.payload["thread_ts"] == post.response["ts"]
    assert json.dumps(post.blocks).count("Resolved") == 1


async def test_stop_flushes_within_the_timeout(make_rig: MakeRig) -> None:
    """stop() delivers what is queued, waiting out a short Retry-After, and reports success."""
    import time

    rig = make_rig(rig_clock=time.time)  # type: ignore[arg-type]
    await rig.watcher.start()
    for i in range(3):
        await rig.store.enqueue(f"m{i}", CHANNEL, OUT_MESSAGE, now=time.time(), payload={"text": f"m{i}"})
    rig.fake.fail_next("chat.postMessage", 1, status=429, retry_after=1)
    rig.watcher.sender.wake()
    assert await rig.watcher.stop(timeout=8)
    assert [c.text for c in rig.fake.calls_to("chat.postMessage", ok=True)] == ["m0", "m1", "m2"]


async def test_stop_gives_up_at_the_timeout(make_rig: MakeRig) -> None:
    """A Retry-After longer than the budget: stop() returns in time, the row stays for the next start."""
    import time

    rig = make_rig(rig_clock=time.time)  # type: ignore[arg-type]
    await rig.watcher.start()
    await rig.store.enqueue("m0", CHANNEL, OUT_MESSAGE, now=time.time(), payload={"text": "m0"})
    rig.fake.fail_next("chat.postMessage", 1, status=429, retry_after=30)
    rig.watcher.sender.wake()
    await rig.fake.wait_for("chat.postMessage", ok=False, timeout=5)
    started = asyncio.get_running_loop().time()
    assert not await rig.watcher.stop(timeout=0.5)
    assert asyncio.get_running_loop().time() - started < 2
    assert [r.key for r in await rig.store.outbox(state=PENDING)] == ["m0"]


def test_message_payload_round_trip() -> None:
    """Payload-carrying rows keep text and blocks."""
    assert Message("x", [{"type": "divider"}]).to_dict() == {"text": "x", "blocks": [{"type": "divider"}]}


@pytest.mark.parametrize("error", ["not_allowed_token_type", "fatal_error", "team_added_to_org"])
async def test_token_and_workspace_refusals_keep_the_alert(rig: Rig, error: str) -> None:
    """A refused token or workspace-wide trouble (codes read by `bot.slack_errors`) is retried, never dropped."""
    await failing(rig)
    rig.fake.fail_next("chat.postMessage", 1, error=error)
    await rig.cycle()
    assert rig.posts() == [] and rig.fake.calls_to("chat.postMessage", ok=False)[0].error == error
    rig.clock.advance(1)
    await rig.watcher.flush()
    assert len(rig.posts()) == 1
