"""The App Home overview: read from the watcher's store, valid Block Kit, within 100 blocks for any stream count."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.views import View

from bot.blocks.home import home_view, message_link, pack
from bot.blocks.limits import MAX_HOME_BLOCKS
from bot.devtools.render import render_blocks
from bot.services.home import HomeOverview, StreamRow, collect_overview
from bot.store import SqlStore, open_store
from bot.store.base import KIND_BLIND, KIND_TASK, KnownTask
from tests.slack.blockkit import validate_blocks

NOW = 1_782_000_000.0
WORKSPACE = "https://acme.slack.com/"


@pytest.fixture
async def store():
    s = open_store("sqlite:///:memory:")
    yield s
    await s.close()


def valid_home(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Check the view with slack_sdk's models (limits included) and return its blocks."""
    View(**view).to_dict()  # validates the view and every block in it (validate_json alone skips the blocks)
    validate_blocks(view["blocks"], max_blocks=MAX_HOME_BLOCKS)
    assert view["type"] == "home"
    return view["blocks"]


def text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def watch(store: SqlStore, channel: str, stream: str, states: dict[str, str]) -> None:
    await store.upsert_subscription(channel, stream, now=NOW - 3600)
    await store.save_task_states(
        stream, [KnownTask(stream, name, state, since=NOW - 600) for name, state in states.items()]
    )


async def raise_alert(store: SqlStore, channel: str, stream: str, task: str, state: str, ts: str) -> int:
    episode, _ = await store.open_episode(
        channel_id=channel, stream=stream, task_name=task, kind=KIND_TASK, state=state, started_at=NOW - 300
    )
    alert = await store.create_alert(channel, KIND_TASK, now=NOW - 300)
    await store.attach_episodes([episode.id], alert.id)
    await store.set_alert_posted(alert.id, ts, NOW - 299)
    return alert.id


async def test_no_watches_explains_how_to_start(store) -> None:
    """With nothing watched the tab says so and how to add a watch."""
    overview = await collect_overview(store, project_id="p123", region="cn-north-4")
    blocks = valid_home(home_view(overview, now=NOW))
    assert len(blocks) == 3
    assert "Nothing is watched yet" in text(blocks)
    assert "/dis watch STREAM" in text(blocks)
    assert "project `p123` · cn-north-4" in text(blocks)


async def test_one_stream_with_an_open_alert(store) -> None:
    """One watched stream shows its channel, tasks per state, last read time and a link to its open alert."""
    await watch(store, "C1", "orders-prod", {"to-obs": "ERROR", "to-dws": "RUNNING", "to-dli": "RUNNING"})
    await raise_alert(store, "C1", "orders-prod", "to-obs", "ERROR", "1782000000.000100")
    overview = await collect_overview(store, last_reads={"orders-prod": NOW - 30})
    blocks = valid_home(home_view(overview, now=NOW, workspace_url=WORKSPACE))
    shown = "\n".join(render_blocks(blocks))
    assert "*orders-prod* → #C1" in shown
    assert "🔴 1 ERROR · 🟢 2 RUNNING · read 2026-06-20 23:59 UTC" in shown
    assert "1 stream watched" in shown
    assert "Open alerts (1)" in shown
    assert "*orders-prod* / to-obs ERROR" in shown
    assert "not acknowledged" in shown
    assert "<https://acme.slack.com/archives/C1/p1782000000000100|open message>" in text(blocks)
    assert f"<!date^{int(NOW - 30)}^" in text(blocks)  # each reader sees their own time zone


async def test_a_silent_problem_reads_as_what_it_is_not_as_recovering(store) -> None:
    """An open stalled or discarding alert on App Home names the problem ("stalled"), not "(recovering)"."""
    await watch(store, "C1", "orders-prod", {"to-obs": "RUNNING"})
    episode, _ = await store.open_episode(
        channel_id="C1",
        stream="orders-prod",
        task_name="to-obs",
        kind=KIND_TASK,
        state="stalled",
        started_at=NOW - 300,
        problem="stalled",
        detail={"backlog": 5},
    )
    alert = await store.create_alert("C1", KIND_TASK, now=NOW - 300)
    await store.attach_episodes([episode.id], alert.id)
    overview = await collect_overview(store, last_reads={"orders-prod": NOW - 30})
    shown = "\n".join(render_blocks(valid_home(home_view(overview, now=NOW, workspace_url=WORKSPACE))))
    assert "*orders-prod* / to-obs stalled" in shown and "recovering" not in shown


async def test_acked_alert_and_unreadable_stream(store) -> None:
    """An acknowledged alert names who acked; a stream the watcher cannot read says so, first in the list."""
    from bot.store.base import StreamHealth

    await watch(store, "C1", "a-fine", {"t": "RUNNING"})
    await watch(store, "C1", "z-blind", {})
    await store.put_stream_health(
        StreamHealth("z-blind", failures=3, first_failure_at=NOW - 900, error_kind="auth_error")
    )
    episode, _ = await store.open_episode(
        channel_id="C1",
        stream="z-blind",
        task_name="",
        kind=KIND_BLIND,
        state="",
        started_at=NOW - 900,
        reason="DIS refused the credentials",
    )
    alert = await store.create_alert("C1", KIND_BLIND, now=NOW - 900)
    await store.attach_episodes([episode.id], alert.id)
    await store.set_alert_posted(alert.id, "1782000000.000200", NOW - 899)
    await store.ack_alert(alert.id, "U42", NOW - 800)
    blocks = valid_home(home_view(await collect_overview(store), now=NOW, workspace_url=WORKSPACE))
    shown = "\n".join(render_blocks(blocks))
    assert "cannot read *z-blind*: DIS refused the credentials" in shown
    assert "acked by `@U42`" in shown
    assert shown.index("*z-blind*") < shown.index("*a-fine*")
    assert "⚠ cannot read since" in shown and "auth_error" in shown
    assert "1 unreadable" in shown


async def test_wildcard_watch_lists_every_stream_read(store) -> None:
    """A channel watching `*` is named once, and every stream the watcher read is listed."""
    await store.upsert_subscription("C9", "*", now=NOW)
    await store.save_task_states("s1", [KnownTask("s1", "t", "RUNNING")])
    await store.save_task_states("s2", [KnownTask("s2", "t", "ABNORMAL")])
    blocks = valid_home(home_view(await collect_overview(store), now=NOW))
    shown = "\n".join(render_blocks(blocks))
    assert "#C9 watches every stream of the project" in shown
    assert "Watched streams (2)" in shown
    assert shown.index("*s2*") < shown.index("*s1*")  # the one with a problem first


async def test_300_streams_fit_in_100_blocks(store) -> None:
    """300 watched streams, each with an open alert, fit in a valid Home tab that still names every one."""
    async with store.transaction():  # one commit for the setup
        for i in range(300):
            stream = f"stream-{i:03d}"
            states = {"to-obs": "ERROR" if i % 3 == 0 else "RUNNING", "to-dws": "RUNNING"}
            await watch(store, f"C{i % 7}", stream, states)
            if i % 3 == 0:
                await raise_alert(store, f"C{i % 7}", stream, "to-obs", "ERROR", f"1782000000.{i:06d}")
    overview = await collect_overview(store, last_reads={f"stream-{i:03d}": NOW - i for i in range(300)})
    assert len(overview.streams) == 300
    assert len(overview.alerts) == 100
    blocks = valid_home(home_view(overview, now=NOW, workspace_url=WORKSPACE))
    body = text(blocks)
    assert all(f"*stream-{i:03d}*" in body for i in range(300))
    assert "not shown" not in body
    assert "Watched streams (300)" in body and "Open alerts (100)" in body


def test_beyond_what_fits_the_rest_is_counted() -> None:
    """With more streams than 100 blocks can hold, problem streams come first and the rest are counted."""
    streams = [StreamRow(f"s-{i:05d}", ("C1",), {"RUNNING": 5}, NOW) for i in range(5000)]
    streams.insert(0, StreamRow("broken", ("C1",), {"ERROR": 1}, NOW))
    blocks = valid_home(home_view(HomeOverview(streams=streams), now=NOW))
    body = text(blocks)
    assert "*broken*" in body
    shown = sum(1 for s in streams if f"*{s.stream}*" in body)
    left = len(streams) - shown
    assert left > 0
    assert f"…and {left} more streams not shown" in body


def test_pack_keeps_within_a_budget_of_one() -> None:
    """Even a budget of one block holds a packed section with the remainder counted."""
    blocks = pack([f"row {i}" for i in range(2000)], 1, "rows")
    assert len(blocks) == 1
    assert "more rows not shown" in blocks[0]["text"]["text"]


def test_message_link_forms() -> None:
    """Permalink when the workspace URL is known; the channel redirect otherwise."""
    assert message_link("C1", "1700000000.000100", "https://acme.slack.com") == (
        "https://acme.slack.com/archives/C1/p1700000000000100"
    )
    assert message_link("C1", "1700000000.000100") == "https://slack.com/app_redirect?channel=C1"
