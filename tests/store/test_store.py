"""The store on both engines (the `store` fixture): persistence and the constraints the watcher relies on;
then what is SQLite's alone (URL forms, WAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.store import SqlStore, connect_store, open_store, sqlite_path
from bot.store.base import (
    DONE,
    KIND_BLIND,
    KIND_TASK,
    OUT_MENTION,
    OUT_MESSAGE,
    OUT_POST,
    OUT_REPLY,
    OUT_UPDATE,
    PARKED,
    PENDING,
    SOURCE_COMMAND,
    SOURCE_CONFIG,
    KnownTask,
    StreamHealth,
)

NOW = 1_700_000_000.0


async def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative, absolute and in-memory SQLite URLs open the store where they say."""
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:///dis-bot.db") == "dis-bot.db"
    assert sqlite_path("sqlite:////var/lib/bot.db") == "/var/lib/bot.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    relative = await connect_store("sqlite:///rel.db")
    await relative.close()
    assert (tmp_path / "rel.db").exists()
    absolute = await connect_store(f"sqlite:///{tmp_path / 'abs.db'}")
    await absolute.close()
    assert (tmp_path / "abs.db").exists()
    memory = await connect_store("sqlite:///:memory:")
    assert await memory.subscriptions() == []
    await memory.close()


@pytest.mark.parametrize(
    "url", ["postgresql:///bot", "postgres://", "redis://localhost", "dis-bot.db", "sqlite://", "sqlite:///"]
)
async def test_unsupported_urls_name_database_url(url: str) -> None:
    """Unknown schemes and malformed SQLite or PostgreSQL URLs are a ConfigError naming DATABASE_URL."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        open_store(url)


async def test_postgresql_urls_are_accepted_and_shown_without_their_password() -> None:
    """postgresql:// and Heroku's postgres://...?sslmode=require are PostgreSQL; messages never show the password."""
    heroku = open_store("postgres://u:s3cret@db.example:5432/bot?sslmode=require")
    assert heroku.is_postgresql and heroku.target.shown == "postgres://u:***@db.example:5432/bot?sslmode=require"
    assert open_store("postgresql://db.example/bot").is_postgresql
    with pytest.raises(ConfigError) as caught:
        open_store("postgresql://u:s3cret@/")
    assert "s3cret" not in str(caught.value) and "DATABASE_URL" in str(caught.value)


async def test_missing_directory_names_database_url(tmp_path: Path) -> None:
    """A path into a directory that does not exist is refused with DATABASE_URL in the message."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 'bot.db'}")


async def test_a_new_sqlite_file_is_migrated_and_uses_wal(tmp_path: Path) -> None:
    """A new file gets the newest revision and WAL journaling; reopening keeps the data."""
    from bot.store.migrate import head

    path = tmp_path / "bot.db"
    store = await connect_store(f"sqlite:///{path}")
    await store.upsert_subscription("C1", "orders", now=NOW)
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head()
    conn.close()
    again = await connect_store(f"sqlite:///{path}")
    assert [s.stream for s in await again.subscriptions()] == ["orders"]
    await again.close()


async def test_a_database_migrated_by_a_newer_bot_is_refused(store_url: str) -> None:
    """A database at a revision this bot does not know is not silently used."""
    import sqlalchemy as sa

    store = await connect_store(store_url)
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    await store.close()
    with pytest.raises(ConfigError, match=r"DATABASE_URL .*newer than this bot"):
        await connect_store(store_url)


async def test_subscription_upsert_and_sources(store: SqlStore) -> None:
    """Adding twice updates; a person's watch outranks the configuration's; the mention changes only on request."""
    sub, created = await store.upsert_subscription("C1", "orders", now=NOW, source=SOURCE_CONFIG)
    assert created and sub.source == SOURCE_CONFIG and sub.baseline_pending
    sub, created = await store.upsert_subscription("C1", "orders", now=NOW, mention="<!subteam^S1>", set_mention=True)
    assert not created and sub.source == SOURCE_COMMAND and sub.mention == "<!subteam^S1>"
    sub, _ = await store.upsert_subscription("C1", "orders", now=NOW, source=SOURCE_CONFIG)
    assert sub.source == SOURCE_COMMAND and sub.mention == "<!subteam^S1>"
    await store.set_baseline_done("C1", "orders")
    await store.set_delivery_error("C1", "not_in_channel", NOW)
    [sub] = await store.subscriptions(channel_id="C1")
    assert not sub.baseline_pending and sub.delivery_error == "not_in_channel"
    assert await store.remove_subscription("C1", "orders")
    assert not await store.remove_subscription("C1", "orders")


async def test_one_open_episode_per_task(store: SqlStore) -> None:
    """Opening the same problem twice returns the open one; after it ends a new one can open."""
    first, created = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    assert created
    again, created = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ABNORMAL", started_at=NOW + 1
    )
    assert not created and again.id == first.id and again.state == "ERROR"
    other, created = await store.open_episode(
        channel_id="C2", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    assert created and other.id != first.id
    blind, created = await store.open_episode(
        channel_id="C1", stream="s", task_name="", kind=KIND_BLIND, state="auth", started_at=NOW
    )
    assert created
    await store.close_episode(first.id, ended_at=NOW + 60, end_state="RUNNING")
    reopened, created = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW + 120
    )
    assert created and reopened.id != first.id
    assert [e.id for e in await store.open_episodes(channel_id="C1", kind=KIND_TASK)] == [reopened.id]
    assert {e.id for e in await store.unalerted_episodes()} == {reopened.id, other.id, blind.id}


async def test_outbox_keys_are_delivered_once(store: SqlStore) -> None:
    """A key enqueued twice is queued once, even after it was delivered."""
    item = await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW, alert_id=1)
    assert item is not None and item.state == PENDING
    assert await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW) is None
    await store.mark_sending(item.id)
    await store.mark_done(item.id, NOW)
    assert await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW) is None
    assert (await store.outbox_item(item.id)).state == DONE
    assert await store.outbox_depth() == 0


async def test_outbox_heads_are_fifo_per_channel(store: SqlStore) -> None:
    """Only the oldest pending row of each channel is offered; payloads round-trip."""
    a1 = await store.enqueue("a1", "C1", OUT_POST, now=NOW)
    await store.enqueue("a2", "C1", OUT_REPLY, now=NOW, payload={"text": "hi", "blocks": []})
    b1 = await store.enqueue("b1", "C2", OUT_REPLY, now=NOW, payload={"text": "yo"})
    heads = await store.outbox_heads()
    assert [h.key for h in heads] == ["a1", "b1"]
    assert heads[1].payload == {"text": "yo"}
    await store.mark_sending(a1.id)
    assert [h.key for h in await store.outbox_heads()] == ["b1"]  # a2 waits while a1 is being sent
    await store.mark_done(a1.id, NOW)
    await store.mark_retry(b1.id, not_before=NOW + 5, error="ratelimited")
    heads = await store.outbox_heads()
    assert [h.key for h in heads] == ["a2", "b1"]
    assert heads[1].not_before == NOW + 5 and heads[1].last_error == "ratelimited"


async def test_new_alert_post_goes_before_other_alerts_rows(store: SqlStore) -> None:
    """A new alert's post is offered before older edits, replies and messages of the same channel."""
    old = await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW, alert_id=1)
    await store.mark_done(old.id, NOW)
    update = await store.enqueue("alert:1:update:a", "C1", OUT_UPDATE, now=NOW, alert_id=1)
    for n in range(3):
        await store.enqueue(f"alert:1:reminder:{n}", "C1", OUT_REPLY, now=NOW, alert_id=1, payload={"text": "still"})
    await store.enqueue("alert:2:ack", "C1", OUT_REPLY, now=NOW, alert_id=2, payload={"text": "acked"})
    await store.enqueue("note", "C1", OUT_MESSAGE, now=NOW, payload={"text": "note"})
    other = await store.enqueue("alert:9:update:b", "C2", OUT_UPDATE, now=NOW, alert_id=9)
    assert [h.id for h in await store.outbox_heads()] == [update.id, other.id]
    post = await store.enqueue("alert:3:post", "C1", OUT_POST, now=NOW, alert_id=3)
    assert [h.key for h in await store.outbox_heads()] == ["alert:9:update:b", "alert:3:post"]
    await store.mark_sending(post.id)
    assert [h.key for h in await store.outbox_heads()] == ["alert:9:update:b"]  # one call per channel at a time
    await store.mark_done(post.id, NOW)
    assert [h.key for h in await store.outbox_heads()] == ["alert:1:update:a", "alert:9:update:b"]


async def test_posts_go_out_in_queue_order(store: SqlStore) -> None:
    """Two new alerts in one channel are posted oldest first, both ahead of an older reply."""
    await store.enqueue("alert:1:ended:1", "C1", OUT_REPLY, now=NOW, alert_id=1, payload={"text": "ok"})
    first = await store.enqueue("alert:2:post", "C1", OUT_POST, now=NOW, alert_id=2)
    await store.enqueue("alert:3:post", "C1", OUT_POST, now=NOW, alert_id=3)
    assert [h.key for h in await store.outbox_heads()] == ["alert:2:post"]
    await store.mark_done(first.id, NOW)
    assert [h.key for h in await store.outbox_heads()] == ["alert:3:post"]


async def test_alert_rows_never_overtake_their_post(store: SqlStore) -> None:
    """An alert's edit and reply wait for its post (retried or parked), and stay in order among themselves."""
    post = await store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW, alert_id=1)
    update = await store.enqueue("alert:1:update:a", "C1", OUT_UPDATE, now=NOW, alert_id=1)
    await store.enqueue("alert:1:mention:x", "C1", OUT_MENTION, now=NOW, alert_id=1, payload={"text": "x"})
    await store.mark_retry(post.id, not_before=NOW + 30, error="server_error")
    assert [h.key for h in await store.outbox_heads()] == ["alert:1:post"]  # the channel waits for it
    await store.park_channel("C1", "not_in_channel", not_before=NOW + 900)
    await store.enqueue("alert:1:ended:1", "C1", OUT_REPLY, now=NOW, alert_id=1, payload={"text": "ok"})
    assert await store.outbox_heads() == []  # queued after the park, still behind the parked post
    await store.unpark("C1", NOW)
    await store.mark_done(post.id, NOW)
    assert [h.key for h in await store.outbox_heads()] == ["alert:1:update:a"]
    await store.mark_done(update.id, NOW)
    assert [h.key for h in await store.outbox_heads()] == ["alert:1:mention:x"]


async def test_update_being_sent_does_not_count_as_waiting(store: SqlStore) -> None:
    """A pending update absorbs later changes; one already being sent does not (it was rendered before them)."""
    item = await store.enqueue("alert:1:update:a", "C1", "update", now=NOW, alert_id=1)
    assert await store.pending_update(1)
    await store.mark_sending(item.id)
    assert not await store.pending_update(1)


async def test_park_and_unpark_a_channel(store: SqlStore) -> None:
    """A refused channel's rows are parked together and come back together."""
    await store.enqueue("a1", "C1", OUT_POST, now=NOW)
    await store.enqueue("a2", "C1", OUT_POST, now=NOW)
    await store.enqueue("b1", "C2", OUT_POST, now=NOW)
    assert await store.park_channel("C1", "not_in_channel", not_before=NOW + 900) == 2
    assert [h.key for h in await store.outbox_heads()] == ["b1"]
    assert await store.parked_channels() == {"C1": NOW + 900}
    assert await store.outbox_depth() == 3
    assert await store.unpark("C1", NOW) == 2
    assert [h.key for h in await store.outbox_heads()] == ["a1", "b1"]
    assert not await store.outbox(state=PARKED)


async def test_sending_rows_are_resent_after_a_crash(store: SqlStore) -> None:
    """A row caught mid-send goes back to pending (at least once)."""
    item = await store.enqueue("a1", "C1", OUT_POST, now=NOW)
    await store.mark_sending(item.id)
    assert await store.outbox_heads() == []
    assert await store.recover_sending() == 1
    [head] = await store.outbox_heads()
    assert head.id == item.id and head.attempts == 1


async def test_transaction_rolls_back_everything(store: SqlStore) -> None:
    """A failure inside a transaction leaves nothing behind, nested calls included."""
    with pytest.raises(RuntimeError):
        async with store.transaction():
            alert = await store.create_alert("C1", KIND_TASK, now=NOW)
            await store.enqueue(f"alert:{alert.id}:post", "C1", OUT_POST, now=NOW, alert_id=alert.id)
            raise RuntimeError("boom")
    assert await store.open_alerts() == []
    assert await store.outbox() == []


async def test_task_states_and_health_round_trip(store: SqlStore) -> None:
    """Task states and stream health persist; forgetting a stream drops both."""
    await store.save_task_states("s", [KnownTask("s", "t1", "RUNNING", "id1", NOW, 5), KnownTask("s", "t2", "ERROR")])
    await store.save_task_states("s", [KnownTask("s", "t1", "ERROR", "id1", NOW + 1)], delete=["t2"])
    states = await store.task_states()
    assert list(states["s"]) == ["t1"] and states["s"]["t1"].state == "ERROR"
    await store.put_stream_health(StreamHealth("s", failures=3, first_failure_at=NOW, error_kind="auth", error="no"))
    assert (await store.stream_health())["s"].failures == 3
    await store.forget_stream("s")
    assert await store.task_states() == {} and await store.stream_health() == {}


async def test_snoozes_expire(store: SqlStore) -> None:
    """A snooze is in force until its time, and a second snooze replaces the first."""
    await store.snooze("C1", "s", "t", until=NOW + 3600, by="U1")
    assert [z.by for z in await store.snoozes(now=NOW)] == ["U1"]
    await store.snooze("C1", "s", "t", until=NOW + 60, by="U2")
    assert [z.until for z in await store.snoozes(now=NOW)] == [NOW + 60]
    assert await store.snoozes(now=NOW + 61) == []


async def test_acknowledge_first_wins(store: SqlStore) -> None:
    """The first acknowledgement is kept."""
    alert = await store.create_alert("C1", KIND_TASK, now=NOW)
    assert await store.ack_alert(alert.id, "U1", NOW)
    assert not await store.ack_alert(alert.id, "U2", NOW + 1)
    assert (await store.alert(alert.id)).acked_by == "U1"
    assert await store.mark_reminded(alert.id, NOW) == 1 and await store.mark_reminded(alert.id, NOW) == 2


async def test_prune_keeps_open_work(store: SqlStore) -> None:
    """Old delivered rows and finished episodes go; open alerts, open episodes and pending rows stay."""
    old = await store.create_alert("C1", KIND_TASK, now=NOW)
    ep, _ = await store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    await store.attach_episodes([ep.id], old.id)
    await store.close_episode(ep.id, ended_at=NOW + 10, end_state="RUNNING")
    await store.mark_recoveries_noted([ep.id])
    await store.resolve_alert(old.id, NOW + 10)
    done = await store.enqueue("x", "C1", OUT_POST, now=NOW, alert_id=old.id)
    await store.mark_done(done.id, NOW)
    live = await store.create_alert("C1", KIND_TASK, now=NOW)
    open_ep, _ = await store.open_episode(
        channel_id="C1", stream="s", task_name="u", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    await store.attach_episodes([open_ep.id], live.id)
    await store.enqueue("y", "C1", OUT_REPLY, now=NOW, alert_id=live.id)
    assert await store.prune(NOW + 100) == 3
    assert await store.alert(old.id) is None
    assert await store.alert(live.id) is not None
    assert [e.id for e in await store.open_episodes()] == [open_ep.id]
    assert [o.key for o in await store.outbox()] == ["y"]
