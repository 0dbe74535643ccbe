"""The watcher under test for real: DIS simulator + fake Slack Web API on 127.0.0.1 + a SQLite file.

Cycles are driven by hand (`await rig.cycle()` = one poll of everything, then deliver what is due), and time
for reminders, snoozes and retry delays comes from a `FakeClock` the test moves forward: no sleeps.

    async def test_x(rig):
        rig.sim.add_stream("orders", [SimTask("to-obs")])
        await rig.watch("orders")
        rig.sim.set_state("orders", "to-obs", "ERROR")
        await rig.cycle()
        [post] = rig.posts()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alerts import BLOCK_KIT_ALERTS
from bot.devtools.fake_slack import Call, FakeSlack
from bot.dis.client import DisClient
from bot.dis.simulator import DisSimulator
from bot.services.tasks import TaskService
from bot.services.watches import WatchResult, WatchService
from bot.store import SqlStore, connect_store, open_store
from bot.watcher.outbox import Backoff
from bot.watcher.watcher import CycleReport, Watcher
from tests.conftest import settings_for

BOT_TOKEN = "xoxb-watch-test-0123456789"
CHANNEL = "C0OPS"
OTHER = "C0OTHER"
ONCALL = "<!subteam^S0ONCALL>"


class FakeClock:
    """Wall-clock time that only moves when the test says so."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Rig:
    """One watcher process (a restart is a second Rig on the same database file)."""

    def __init__(self, sim: DisSimulator, fake: FakeSlack, watcher: Watcher, clock: FakeClock, db: Path) -> None:
        self.sim = sim
        self.fake = fake
        self.watcher = watcher
        self.clock = clock
        self.db = db
        self.store = watcher.store
        self.service = WatchService.of(watcher)

    async def watch(self, stream: str, channel: str = CHANNEL, mention: str | None = None) -> WatchResult:
        result = await self.service.watch(
            channel, stream, mention=mention, set_mention=mention is not None, user_id="U0ALICE"
        )
        await self.watcher.flush()
        return result

    async def cycle(self) -> CycleReport:
        report = await self.watcher.run_cycle()
        await self.watcher.flush()
        return report

    async def cycle_live(self) -> CycleReport:
        """One cycle with the outbox delivering while it polls (as in the running bot), then what is left."""
        sender = asyncio.create_task(self.watcher.sender.run())
        try:
            report = await self.watcher.run_cycle()
        finally:
            self.watcher.sender.request_stop()
            await sender
        await self.watcher.flush()
        return report

    def hold_reads_until_posted(self, first: str, posts: int = 1) -> None:
        """Reads of every stream but `first` wait until Slack has `posts` top-level messages, so the cycle's
        later problems meet an alert already posted (an order, not a timing)."""
        read = self.watcher.tasks.tasks

        def top_level(call: Call) -> bool:
            return not call.payload.get("thread_ts")

        async def held(stream: str, **kwargs: Any) -> Any:
            if stream != first:
                await self.fake.wait_for("chat.postMessage", posts, timeout=5, where=top_level)
            return await read(stream, **kwargs)

        self.watcher.tasks.tasks = held  # type: ignore[method-assign]

    def posts(self, channel: str | None = None) -> list[Call]:
        """Top-level messages the fake accepted (alerts and warnings), oldest first."""
        return [
            c
            for c in self.fake.calls_to("chat.postMessage", ok=True)
            if not c.payload.get("thread_ts") and (channel is None or c.payload.get("channel") == channel)
        ]

    def replies(self, ts: str | None = None) -> list[Call]:
        """Thread replies the fake accepted (to `ts` if given)."""
        return [
            c
            for c in self.fake.calls_to("chat.postMessage", ok=True)
            if c.payload.get("thread_ts") and (ts is None or c.payload["thread_ts"] == ts)
        ]

    def updates(self, ts: str | None = None) -> list[Call]:
        return [c for c in self.fake.calls_to("chat.update", ok=True) if ts is None or c.payload.get("ts") == ts]

    def message(self, post: Call, channel: str = CHANNEL) -> dict[str, Any]:
        """The message as it looks now in the fake (after every chat.update)."""
        return self.fake.messages[(channel, post.response["ts"])]


MakeRig = Callable[..., Rig]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=BOT_TOKEN) as fake_slack:
        yield fake_slack


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_rig(
    sim: DisSimulator, fake: FakeSlack, make_client: Callable[..., DisClient], tmp_path: Path, clock: FakeClock
) -> AsyncIterator[MakeRig]:
    """Factory `make_rig(WATCH_REPEAT_MINUTES=60, ..., db=path, clock=FakeClock(), options={watcher options},
    store_options={SqlStore options})`."""
    stores: list[SqlStore] = []
    # Migrated before the test, as a running bot's file is: a lock a test then holds meets a store, not a migration.
    await (await connect_store(f"sqlite:///{tmp_path / 'dis-bot.db'}")).close()

    def make(
        *,
        db: Path | None = None,
        rig_clock: FakeClock | None = None,
        options: dict[str, Any] | None = None,
        store_options: dict[str, Any] | None = None,
        **env: Any,
    ) -> Rig:
        values: dict[str, Any] = {"WATCH_INTERVAL_SECONDS": 1, "WATCH_FAILURES_BEFORE_WARNING": 3}
        values.update(env)
        settings = settings_for(sim, **values)
        path = db or tmp_path / "dis-bot.db"
        store = open_store(f"sqlite:///{path}", **(store_options or {}))
        stores.append(store)
        dis_env = {k: v for k, v in values.items() if k.startswith("DIS_")}  # the client's settings (timeouts)
        tasks = TaskService(make_client(sim, **dis_env), settings.cache_ttl_seconds)
        slack = AsyncWebClient(token=BOT_TOKEN, base_url=fake.url, retry_handlers=[])
        opts: dict[str, Any] = {
            "clock": rig_clock or clock,
            "spread": 0.0,
            "channel_interval": 0.0,
            "backoff": Backoff(base=1.0, cap=60.0, jitter=False),
            "discovery_interval": 0.0,
        }
        opts.update(options or {})
        watcher = Watcher(settings, store, tasks, slack, renderer=BLOCK_KIT_ALERTS, **opts)
        return Rig(sim, fake, watcher, opts["clock"], path)

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig()
