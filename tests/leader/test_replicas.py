"""Two and three `dis-bot serve` replicas on one PostgreSQL database: one leader, failover with no double and no
lost alert, an immediate handover on SIGTERM, and a `/dis watch` on a standby acted on by the leader.

WAITS ON THE WIRING: the PostgreSQL store and the lease are on main, but `serve` does not run the lease yet (issue
9); once it does, remove `pytestmark`'s skip. The harness (`tests/leader/replicas.py`) is ready.
"""

from __future__ import annotations

import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from tests.leader.replicas import fresh_database, leader_among, serve_replicas
from tests.test_serve_process import BOT_TOKEN

pytestmark = pytest.mark.skip(reason="waits on the leader lease being wired into dis-bot serve (issue 9)")

INTERVAL = 0.5  # WATCH_INTERVAL_SECONDS: failover is promised within 2 x this


async def test_two_replicas_lead_once_and_alert_once(sim, tmp_path, pg_server) -> None:
    """Two replicas: exactly one is leader on /metrics, and a failing task is alerted once, not once per replica."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="RUNNING")])
    async with fresh_database(pg_server) as url, FakeSlack(token=BOT_TOKEN) as fake:
        env = {"DIS_WATCH": "orders-prod=C0ALERTS", "WATCH_INTERVAL_SECONDS": str(INTERVAL)}
        async with serve_replicas(sim, fake, url, tmp_path, n=2, **env) as replicas:
            await leader_among(replicas)
            sim.set_state("orders-prod", "to-obs", "ERROR")
            await fake.wait_for("chat.postMessage", timeout=10)
            for replica in replicas:
                assert await replica.stop() == 0, replica.output
        assert len(fake.calls_to("chat.postMessage", ok=True)) == 1


async def test_sigkill_of_the_leader_loses_no_alert_and_doubles_none(sim, tmp_path, pg_server) -> None:
    """Three replicas; the leader is SIGKILLed with an alert open: another leads within 2 x the interval, the open
    alert is not posted again, and a task failing after the kill is alerted once."""
    sim.add_stream("orders-prod", [SimTask("to-obs", state="ERROR"), SimTask("to-dws", state="RUNNING")])
    async with fresh_database(pg_server) as url, FakeSlack(token=BOT_TOKEN) as fake:
        env = {"DIS_WATCH": "orders-prod=C0ALERTS", "WATCH_INTERVAL_SECONDS": str(INTERVAL)}
        async with serve_replicas(sim, fake, url, tmp_path, n=3, **env) as replicas:
            leader = await leader_among(replicas)
            await fake.wait_for("chat.postMessage", timeout=10)
            leader.kill()
            others = [r for r in replicas if r is not leader]
            await leader_among(others, timeout=2 * INTERVAL + 1)
            sim.set_state("orders-prod", "to-dws", "ERROR")
            await fake.wait_for("chat.postMessage", count=2, timeout=10)
            for replica in others:
                assert await replica.stop() == 0, replica.output
        posts = fake.calls_to("chat.postMessage", ok=True)
        assert len(posts) == 2 and ["to-obs" in posts[0].payload["text"], "to-dws" in posts[1].payload["text"]] == [
            True,
            True,
        ]


async def test_sigterm_on_the_leader_hands_over_at_once(sim, tmp_path, pg_server) -> None:
    """SIGTERM on the leader: it exits 0 after flushing, and a standby leads within a second of the signal."""
    import time

    async with fresh_database(pg_server) as url, FakeSlack(token=BOT_TOKEN) as fake:
        async with serve_replicas(sim, fake, url, tmp_path, n=2, WATCH_INTERVAL_SECONDS="5") as replicas:
            leader = await leader_among(replicas)
            [standby] = [r for r in replicas if r is not leader]
            stopped = time.monotonic()
            assert await leader.stop() == 0, leader.output
            assert await leader_among([standby], timeout=1.0) is standby
            assert time.monotonic() - stopped < 3  # the flush and exit, then the release NOTIFY
            assert "leader.lost" in leader.output and "stopped" in leader.output


async def test_watch_on_a_standby_is_polled_by_the_leader_within_a_cycle(sim, tmp_path, pg_server) -> None:
    """`/dis watch` sent to the standby: the leader polls the stream (and alerts its failing task) within a cycle."""
    sim.add_stream("payments", [SimTask("to-obs", state="ERROR")])
    async with fresh_database(pg_server) as url, FakeSlack(token=BOT_TOKEN) as fake:
        async with serve_replicas(sim, fake, url, tmp_path, n=2, WATCH_INTERVAL_SECONDS="5") as replicas:
            leader = await leader_among(replicas)
            [standby] = [r for r in replicas if r is not leader]
            assert await standby.command("watch payments", fake, channel="C0PAY") == 200
            # Well inside the 5 s interval: the NOTIFY woke the leader.
            [alert] = await fake.wait_for(
                "chat.postMessage", where=lambda c: c.payload["channel"] == "C0PAY", timeout=2
            )
            assert "to-obs" in alert.payload["text"]
