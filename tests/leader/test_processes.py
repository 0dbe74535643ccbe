"""Leases in separate processes, as replicas run: one leader among three, a SIGKILLed leader replaced within a
retry, a SIGTERMed one at once, and a SIGSTOPped one losing the lock on the server by itself and learning it on
resume, before it acts."""

from __future__ import annotations

import asyncio
import signal

from bot.leader import LeaseTiming
from tests.conftest import eventually
from tests.leader.conftest import FAST, Pg
from tests.leader.processes import eventually_within, lease_processes, story


async def test_three_processes_one_leader_and_a_sigkill_hands_over(pg: Pg) -> None:
    """Three replica processes: exactly one leads; SIGKILL it and another leads within a retry, term 2."""
    async with lease_processes(pg.url, pg.key, "a", "b", "c") as children:
        assert [c.holder for c in children if c.leading] == ["a"]
        a, rest = children[0], children[1:]
        killed = a.signal(signal.SIGKILL)
        await eventually(lambda: sum(c.leading for c in rest) == 1)
        [b] = [c for c in rest if c.leading]
        [gained] = b.of("gained")
        assert gained["term"] == 2 and await pg.term() == 2 and await pg.holder() == b.holder
        # The kernel closes the dead process's socket, the server frees the lock: one retry_interval (0.1 s).
        assert gained["t"] - killed < FAST.lease
        assert await pg.lock_holders() == [gained["pid"]]


async def test_sigterm_hands_over_at_once(pg: Pg) -> None:
    """SIGTERM on the leader: it releases and notifies, so a standby retrying only every 5 s leads at once."""
    slow = LeaseTiming(lease=6.0, check_interval=1.0, check_timeout=2.0, retry_interval=5.0)
    async with lease_processes(pg.url, pg.key, "a", "b", timing=slow) as (a, b):
        assert a.leading and not b.leading
        stopped = a.signal(signal.SIGTERM)
        await b.wait(lambda c: c.leading)
        assert await asyncio.wait_for(a.proc.wait(), 5) == 0
        assert [e["reason"] for e in a.of("lost")] == ["stopped"] and a.of("stopped")
        assert b.of("gained")[0]["t"] - stopped < 1.0 and b.of("gained")[0]["term"] == 2


async def test_paused_leader_loses_the_lock_by_itself_and_learns_on_resume(pg: Pg) -> None:
    """SIGSTOP the leader: the server ends its silent session after the lease, a standby takes over under a new
    term; on SIGCONT the old leader does not act again, and reports the loss."""
    async with lease_processes(pg.url, pg.key, "a", "b") as (a, b):
        assert a.leading and not b.leading
        await a.wait(lambda c: bool(c.of("act")))
        paused = a.signal(signal.SIGSTOP)
        await eventually_within(FAST.lease + 8, lambda: b.leading, a, b)
        takeover = b.of("gained")[0]["t"] - paused
        # Not at once: the server waits out the lease from a's last check (a check_interval or so before the pause) ...
        assert takeover > FAST.lease / 2, story(a, b)
        # ... and soon after: the server's idle-session timer plus one standby retry (and room for a loaded machine).
        assert takeover < FAST.lease + FAST.retry_interval + 2.5, story(a, b)
        assert b.of("gained")[0]["term"] == 2 and await pg.term() == 2
        resumed = a.signal(signal.SIGCONT)
        await a.wait(lambda c: bool(c.of("lost")))
        # Whichever it notices first on waking: its own lease ran out, or the server's goodbye on the socket.
        assert not a.leading and a.of("lost")[0]["reason"].startswith(("lease expired", "connection closed"))
        assert all(e["t"] < resumed for e in a.of("act")), "acted after resuming on a lost lease"
        assert all(e["term"] == 1 for e in a.of("act"))
        assert b.leading and await pg.lock_holders() == [b.of("gained")[0]["pid"]]
