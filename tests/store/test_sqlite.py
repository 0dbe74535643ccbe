"""The SQLite store: URL forms, schema, persistence, and the constraints the watcher relies on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.store import open_store, sqlite_path
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
from bot.store.sqlite import SCHEMA_VERSION, SqliteStore

NOW = 1_700_000_000.0


@pytest.fixture
def store() -> SqliteStore:
    s = SqliteStore(":memory:")
    yield s
    s.close()


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative, absolute and in-memory SQLite URLs open the store where they say."""
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:///dis-bot.db") == "dis-bot.db"
    assert sqlite_path("sqlite:////var/lib/bot.db") == "/var/lib/bot.db"
    assert sqlite_path("sqlite:///:memory:") == ":memory:"
    relative = open_store("sqlite:///rel.db")
    relative.close()
    assert (tmp_path / "rel.db").exists()
    absolute = open_store(f"sqlite:///{tmp_path / 'abs.db'}")
    absolute.close()
    assert (tmp_path / "abs.db").exists()
    open_store("sqlite:///:memory:").close()


@pytest.mark.parametrize("url", ["postgresql://db/bot", "redis://localhost", "dis-bot.db", "sqlite://", "sqlite:///"])
def test_unsupported_urls_name_database_url(url: str) -> None:
    """Unknown schemes and malformed SQLite URLs are a ConfigError naming DATABASE_URL."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        open_store(url)


def test_missing_directory_names_database_url(tmp_path: Path) -> None:
    """A path into a directory that does not exist is refused with DATABASE_URL in the message."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        open_store(f"sqlite:///{tmp_path / 'nope' / 'bot.db'}")


def test_schema_version_and_wal(tmp_path: Path) -> None:
    """A new file gets the current schema version and WAL journaling; reopening keeps the data."""
    path = tmp_path / "bot.db"
    store = SqliteStore(str(path))
    assert store.schema_version == SCHEMA_VERSION
    store.upsert_subscription("C1", "orders", now=NOW)
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    again = SqliteStore(str(path))
    assert [s.stream for s in again.subscriptions()] == ["orders"]
    again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer bot is not silently used."""
    path = tmp_path / "bot.db"
    SqliteStore(str(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        open_store(f"sqlite:///{path}")


def test_subscription_upsert_and_sources(store: SqliteStore) -> None:
    """Adding twice updates; a person's watch outranks the configuration's; the mention changes only on request."""
    sub, created = store.upsert_subscription("C1", "orders", now=NOW, source=SOURCE_CONFIG)
    assert created and sub.source == SOURCE_CONFIG and sub.baseline_pending
    sub, created = store.upsert_subscription("C1", "orders", now=NOW, mention="<!subteam^S1>", set_mention=True)
    assert not created and sub.source == SOURCE_COMMAND and sub.mention == "<!subteam^S1>"
    sub, _ = store.upsert_subscription("C1", "orders", now=NOW, source=SOURCE_CONFIG)
    assert sub.source == SOURCE_COMMAND and sub.mention == "<!subteam^S1>"
    store.set_baseline_done("C1", "orders")
    store.set_delivery_error("C1", "not_in_channel", NOW)
    [sub] = store.subscriptions(channel_id="C1")
    assert not sub.baseline_pending and sub.delivery_error == "not_in_channel"
    assert store.remove_subscription("C1", "orders")
    assert not store.remove_subscription("C1", "orders")


def test_one_open_episode_per_task(store: SqliteStore) -> None:
    """Opening the same problem twice returns the open one; after it ends a new one can open."""
    first, created = store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    assert created
    again, created = store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ABNORMAL", started_at=NOW + 1
    )
    assert not created and again.id == first.id and again.state == "ERROR"
    other, created = store.open_episode(
        channel_id="C2", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    assert created and other.id != first.id
    blind, created = store.open_episode(
        channel_id="C1", stream="s", task_name="", kind=KIND_BLIND, state="auth", started_at=NOW
    )
    assert created
    store.close_episode(first.id, ended_at=NOW + 60, end_state="RUNNING")
    reopened, created = store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW + 120
    )
    assert created and reopened.id != first.id
    assert [e.id for e in store.open_episodes(channel_id="C1", kind=KIND_TASK)] == [reopened.id]
    assert {e.id for e in store.unalerted_episodes()} == {reopened.id, other.id, blind.id}


def test_outbox_keys_are_delivered_once(store: SqliteStore) -> None:
    """A key enqueued twice is queued once, even after it was delivered."""
    item = store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW, alert_id=1)
    assert item is not None and item.state == PENDING
    assert store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW) is None
    store.mark_sending(item.id)
    store.mark_done(item.id, NOW)
    assert store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW) is None
    assert store.outbox_item(item.id).state == DONE
    assert store.outbox_depth() == 0


def test_outbox_heads_are_fifo_per_channel(store: SqliteStore) -> None:
    """Only the oldest pending row of each channel is offered; payloads round-trip."""
    a1 = store.enqueue("a1", "C1", OUT_POST, now=NOW)
    store.enqueue("a2", "C1", OUT_REPLY, now=NOW, payload={"text": "hi", "blocks": []})
    b1 = store.enqueue("b1", "C2", OUT_REPLY, now=NOW, payload={"text": "yo"})
    heads = store.outbox_heads()
    assert [h.key for h in heads] == ["a1", "b1"]
    assert heads[1].payload == {"text": "yo"}
    store.mark_sending(a1.id)
    assert [h.key for h in store.outbox_heads()] == ["b1"]  # a2 waits while a1 is being sent
    store.mark_done(a1.id, NOW)
    store.mark_retry(b1.id, not_before=NOW + 5, error="ratelimited")
    heads = store.outbox_heads()
    assert [h.key for h in heads] == ["a2", "b1"]
    assert heads[1].not_before == NOW + 5 and heads[1].last_error == "ratelimited"


def test_new_alert_post_goes_before_other_alerts_rows(store: SqliteStore) -> None:
    """A new alert's post is offered before older edits, replies and messages of the same channel."""
    old = store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW, alert_id=1)
    store.mark_done(old.id, NOW)
    update = store.enqueue("alert:1:update:a", "C1", OUT_UPDATE, now=NOW, alert_id=1)
    for n in range(3):
        store.enqueue(f"alert:1:reminder:{n}", "C1", OUT_REPLY, now=NOW, alert_id=1, payload={"text": "still"})
    store.enqueue("alert:2:ack", "C1", OUT_REPLY, now=NOW, alert_id=2, payload={"text": "acked"})
    store.enqueue("note", "C1", OUT_MESSAGE, now=NOW, payload={"text": "note"})
    other = store.enqueue("alert:9:update:b", "C2", OUT_UPDATE, now=NOW, alert_id=9)
    assert [h.id for h in store.outbox_heads()] == [update.id, other.id]
    post = store.enqueue("alert:3:post", "C1", OUT_POST, now=NOW, alert_id=3)
    assert [h.key for h in store.outbox_heads()] == ["alert:9:update:b", "alert:3:post"]
    store.mark_sending(post.id)
    assert [h.key for h in store.outbox_heads()] == ["alert:9:update:b"]  # one call per channel at a time
    store.mark_done(post.id, NOW)
    assert [h.key for h in store.outbox_heads()] == ["alert:1:update:a", "alert:9:update:b"]


def test_posts_go_out_in_queue_order(store: SqliteStore) -> None:
    """Two new alerts in one channel are posted oldest first, both ahead of an older reply."""
    store.enqueue("alert:1:ended:1", "C1", OUT_REPLY, now=NOW, alert_id=1, payload={"text": "ok"})
    first = store.enqueue("alert:2:post", "C1", OUT_POST, now=NOW, alert_id=2)
    store.enqueue("alert:3:post", "C1", OUT_POST, now=NOW, alert_id=3)
    assert [h.key for h in store.outbox_heads()] == ["alert:2:post"]
    store.mark_done(first.id, NOW)
    assert [h.key for h in store.outbox_heads()] == ["alert:3:post"]


def test_alert_rows_never_overtake_their_post(store: SqliteStore) -> None:
    """An alert's edit and reply wait for its post (retried or parked), and stay in order among themselves."""
    post = store.enqueue("alert:1:post", "C1", OUT_POST, now=NOW, alert_id=1)
    update = store.enqueue("alert:1:update:a", "C1", OUT_UPDATE, now=NOW, alert_id=1)
    store.enqueue("alert:1:mention:x", "C1", OUT_MENTION, now=NOW, alert_id=1, payload={"text": "x"})
    store.mark_retry(post.id, not_before=NOW + 30, error="server_error")
    assert [h.key for h in store.outbox_heads()] == ["alert:1:post"]  # the channel waits for it
    store.park_channel("C1", "not_in_channel", not_before=NOW + 900)
    store.enqueue("alert:1:ended:1", "C1", OUT_REPLY, now=NOW, alert_id=1, payload={"text": "ok"})
    assert store.outbox_heads() == []  # queued after the park, still behind the parked post
    store.unpark("C1", NOW)
    store.mark_done(post.id, NOW)
    assert [h.key for h in store.outbox_heads()] == ["alert:1:update:a"]
    store.mark_done(update.id, NOW)
    assert [h.key for h in store.outbox_heads()] == ["alert:1:mention:x"]


def test_update_being_sent_does_not_count_as_waiting(store: SqliteStore) -> None:
    """A pending update absorbs later changes; one already being sent does not (it was rendered before them)."""
    item = store.enqueue("alert:1:update:a", "C1", "update", now=NOW, alert_id=1)
    assert store.pending_update(1)
    store.mark_sending(item.id)
    assert not store.pending_update(1)


def test_park_and_unpark_a_channel(store: SqliteStore) -> None:
    """A refused channel's rows are parked together and come back together."""
    store.enqueue("a1", "C1", OUT_POST, now=NOW)
    store.enqueue("a2", "C1", OUT_POST, now=NOW)
    store.enqueue("b1", "C2", OUT_POST, now=NOW)
    assert store.park_channel("C1", "not_in_channel", not_before=NOW + 900) == 2
    assert [h.key for h in store.outbox_heads()] == ["b1"]
    assert store.parked_channels() == {"C1": NOW + 900}
    assert store.outbox_depth() == 3
    assert store.unpark("C1", NOW) == 2
    assert [h.key for h in store.outbox_heads()] == ["a1", "b1"]
    assert not store.outbox(state=PARKED)


def test_sending_rows_are_resent_after_a_crash(store: SqliteStore) -> None:
    """A row caught mid-send goes back to pending (at least once)."""
    item = store.enqueue("a1", "C1", OUT_POST, now=NOW)
    store.mark_sending(item.id)
    assert store.outbox_heads() == []
    assert store.recover_sending() == 1
    [head] = store.outbox_heads()
    assert head.id == item.id and head.attempts == 1


def test_transaction_rolls_back_everything(store: SqliteStore) -> None:
    """A failure inside a transaction leaves nothing behind, nested calls included."""
    with pytest.raises(RuntimeError), store.transaction():
        alert = store.create_alert("C1", KIND_TASK, now=NOW)
        store.enqueue(f"alert:{alert.id}:post", "C1", OUT_POST, now=NOW, alert_id=alert.id)
        raise RuntimeError("boom")
    assert store.open_alerts() == []
    assert store.outbox() == []


def test_task_states_and_health_round_trip(store: SqliteStore) -> None:
    """Task states and stream health persist; forgetting a stream drops both."""
    store.save_task_states("s", [KnownTask("s", "t1", "RUNNING", "id1", NOW, 5), KnownTask("s", "t2", "ERROR")])
    store.save_task_states("s", [KnownTask("s", "t1", "ERROR", "id1", NOW + 1)], delete=["t2"])
    states = store.task_states()
    assert list(states["s"]) == ["t1"] and states["s"]["t1"].state == "ERROR"
    store.put_stream_health(StreamHealth("s", failures=3, first_failure_at=NOW, error_kind="auth", error="no"))
    assert store.stream_health()["s"].failures == 3
    store.forget_stream("s")
    assert store.task_states() == {} and store.stream_health() == {}


def test_snoozes_expire(store: SqliteStore) -> None:
    """A snooze is in force until its time, and a second snooze replaces the first."""
    store.snooze("C1", "s", "t", until=NOW + 3600, by="U1")
    assert [z.by for z in store.snoozes(now=NOW)] == ["U1"]
    store.snooze("C1", "s", "t", until=NOW + 60, by="U2")
    assert [z.until for z in store.snoozes(now=NOW)] == [NOW + 60]
    assert store.snoozes(now=NOW + 61) == []


def test_acknowledge_first_wins(store: SqliteStore) -> None:
    """The first acknowledgement is kept."""
    alert = store.create_alert("C1", KIND_TASK, now=NOW)
    assert store.ack_alert(alert.id, "U1", NOW)
    assert not store.ack_alert(alert.id, "U2", NOW + 1)
    assert store.alert(alert.id).acked_by == "U1"
    assert store.mark_reminded(alert.id, NOW) == 1 and store.mark_reminded(alert.id, NOW) == 2


def test_prune_keeps_open_work(store: SqliteStore) -> None:
    """Old delivered rows and finished episodes go; open alerts, open episodes and pending rows stay."""
    old = store.create_alert("C1", KIND_TASK, now=NOW)
    ep, _ = store.open_episode(
        channel_id="C1", stream="s", task_name="t", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    store.attach_episodes([ep.id], old.id)
    store.close_episode(ep.id, ended_at=NOW + 10, end_state="RUNNING")
    store.mark_recoveries_noted([ep.id])
    store.resolve_alert(old.id, NOW + 10)
    done = store.enqueue("x", "C1", OUT_POST, now=NOW, alert_id=old.id)
    store.mark_done(done.id, NOW)
    live = store.create_alert("C1", KIND_TASK, now=NOW)
    open_ep, _ = store.open_episode(
        channel_id="C1", stream="s", task_name="u", kind=KIND_TASK, state="ERROR", started_at=NOW
    )
    store.attach_episodes([open_ep.id], live.id)
    store.enqueue("y", "C1", OUT_REPLY, now=NOW, alert_id=live.id)
    assert store.prune(NOW + 100) == 3
    assert store.alert(old.id) is None
    assert store.alert(live.id) is not None
    assert [e.id for e in store.open_episodes()] == [open_ep.id]
    assert [o.key for o in store.outbox()] == ["y"]
