"""A silent failure through a real `dis-bot serve` process: a RUNNING task that sends nothing while records wait is
alerted once, a restart in between posts nothing again, and data moving again resolves it with a thread reply."""

from __future__ import annotations

import asyncio

from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.simulator import SimTask
from tests.conftest import free_port
from tests.test_serve_process import BOT_TOKEN, metric, serve_env, served_bot


def top_level(call: Call) -> bool:
    return not call.payload.get("thread_ts")


async def cycles(port: int, n: int) -> None:
    """Wait until the served bot has run `n` more watcher cycles (its /metrics is all another process shows)."""
    start = await metric(port, "disbot_watch_cycle_seconds_count")
    async with asyncio.timeout(20):
        while await metric(port, "disbot_watch_cycle_seconds_count") < start + n:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_stalled_task_is_alerted_once_across_a_restart_and_recovers(sim, tmp_path) -> None:
    """Served with WATCH_STALL_MINUTES=1: the stalled task is posted once; the restarted bot does not post it
    again; once the task transfers, the alert gets one "transferring again" reply."""
    sim.add_stream("orders-prod", [SimTask("to-obs"), SimTask("to-dws")], partitions=2)
    sim.produce("orders-prod", 100)
    sim.flow()
    sim.stall("orders-prod", "to-obs", ago=120)  # nothing sent for 2 minutes...
    sim.produce("orders-prod", 500)  # ...while records arrive
    sim.flow()  # the other task sends them
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(
            sim,
            fake,
            port,
            DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            DIS_WATCH="orders-prod=C0ALERTS",
            WATCH_INTERVAL_SECONDS="0.2",
            WATCH_STALL_MINUTES="1",
        )
        async with served_bot(env, tmp_path) as first:
            [post] = await fake.wait_for("chat.postMessage", timeout=20, where=top_level)
            await cycles(port, 3)
            code, _ = await first.stop()
        assert code == 0, first.output
        assert "to-obs" in post.payload["text"] and "stalled" in post.payload["text"]
        assert "500 waiting" in str(post.payload["blocks"])
        async with served_bot(env, tmp_path) as second:
            await cycles(port, 5)
            assert len(fake.calls_to("chat.postMessage", ok=True)) == 1
            sim.stall("orders-prod", "to-obs", on=False)
            sim.flow()
            [reply] = await fake.wait_for(
                "chat.postMessage", timeout=20, where=lambda c: c.payload.get("thread_ts") == post.response["ts"]
            )
            await cycles(port, 3)
            code, _ = await second.stop()
        assert code == 0, second.output
        assert "`to-obs` (orders-prod) transferring again, backlog cleared in" in reply.payload["text"]
        assert [c for c in fake.calls_to("chat.postMessage", ok=True) if top_level(c)] == [post]
        assert "Traceback" not in first.output + second.output


async def test_failed_partitions_and_discards_are_alerted_edited_and_recovered_across_a_sigkill(sim, tmp_path) -> None:
    """Served: a failed partition and a task's discards are each posted once, edited as they grow, not posted again
    by a bot restarted after SIGKILL (its discard baseline kept), and each recovery is one thread reply."""
    sim.add_stream("orders-prod", [SimTask("to-dws")], partitions=4)
    sim.add_stream("clickstream", [SimTask("to-dli")], partitions=2)
    sim.discard("clickstream", "to-dli", 40)  # an old count: a baseline, not news
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(
            sim,
            fake,
            port,
            DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            DIS_WATCH="orders-prod=C0ORDERS,clickstream=C0CLICKS",
            WATCH_INTERVAL_SECONDS="0.2",
            WATCH_STALL_MINUTES="0.05",  # discards end after 3 s without growth
            WATCH_DEEP_INTERVAL_SECONDS="0.4",
        )

        def posts(channel: str) -> list[Call]:
            return [c for c in fake.calls_to("chat.postMessage", ok=True) if c.payload["channel"] == channel]

        def updates(channel: str, text: str) -> list[Call]:
            return [
                c
                for c in fake.calls_to("chat.update", ok=True)
                if c.payload["channel"] == channel and text in str(c.payload)
            ]

        async with served_bot(env, tmp_path) as first:
            await cycles(port, 4)  # every task read in detail at least once: the baseline is taken
            assert fake.calls_to("chat.postMessage") == []
            sim.fail_partition("orders-prod", "to-dws", 1)
            sim.discard("clickstream", "to-dli", 1204)
            [failed] = await fake.wait_for(
                "chat.postMessage", timeout=20, where=lambda c: c.payload["channel"] == "C0ORDERS"
            )
            [dropped] = await fake.wait_for(
                "chat.postMessage", timeout=20, where=lambda c: c.payload["channel"] == "C0CLICKS"
            )
            assert "1 of 4 partitions ERROR" in str(failed.payload["blocks"])
            assert "1,204" in str(dropped.payload["blocks"]) and "1,244" not in str(dropped.payload["blocks"])
            sim.fail_partition("orders-prod", "to-dws", 2)
            sim.discard("clickstream", "to-dli", 1300)  # the shown total more than doubles: an edit
            await fake.wait_for("chat.update", timeout=20, where=lambda c: "2 of 4 partitions ERROR" in str(c.payload))
            await fake.wait_for("chat.update", timeout=20, where=lambda c: "2,504" in str(c.payload))
            first.proc.kill()  # mid-cycle: no flush, no goodbye
            await first.proc.wait()
        async with served_bot(env, tmp_path) as second:
            await cycles(port, 6)
            # No alert again (a lost baseline would alert the whole count anew); the discards may have ended
            # meanwhile (3 s without growth), which is a reply in the alert's thread.
            assert [c for c in posts("C0ORDERS") if top_level(c)] == [failed]
            assert [c for c in posts("C0CLICKS") if top_level(c)] == [dropped]
            sim.fail_partition("orders-prod", "to-dws", 1, state=None)
            sim.fail_partition("orders-prod", "to-dws", 2, state=None)
            [healed] = await fake.wait_for(
                "chat.postMessage", timeout=20, where=lambda c: c.payload.get("thread_ts") == failed.response["ts"]
            )
            [quiet] = await fake.wait_for(
                "chat.postMessage", timeout=20, where=lambda c: c.payload.get("thread_ts") == dropped.response["ts"]
            )
            await cycles(port, 5)
            code, _ = await second.stop()
        assert code == 0, second.output
        assert "all partitions OK again" in healed.payload["text"]
        assert "no more discards" in quiet.payload["text"] and "2,504" in quiet.payload["text"]
        assert posts("C0ORDERS") == [failed, healed] and posts("C0CLICKS") == [dropped, quiet]
        assert updates("C0CLICKS", "2,504") and updates("C0ORDERS", "2 of 4")
        assert "Traceback" not in first.output + second.output
