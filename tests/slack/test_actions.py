"""Buttons through the real HTTP endpoint: Refresh, Share, paging, Details, and the guarded Start/Stop."""

from __future__ import annotations

import logging

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.dis.simulator import SimTask
from bot.ids import TaskRef
from tests.slack.blockkit import all_text, buttons, validate_message
from tests.slack.conftest import ADMIN, ALICE, CHANNEL

ADMIN_SETTINGS = {"DIS_ACTIONS_ENABLED": "true", "DIS_ADMIN_USER_IDS": f"{ADMIN}, U0OTHER"}


async def _tasks_answer(bot, stream="orders"):
    return (await bot.answer(await bot.command(f"tasks {stream}"))).payload


async def test_refresh_reads_dis_again_and_replaces_the_message(bot):
    """Refresh skips the cache (a new DIS read within the TTL) and replaces the original, Share kept."""
    bot.sim.add_stream("orders", [SimTask("t1")])
    first = await _tasks_answer(bot)
    bot.sim.set_state("orders", "t1", "ERROR")
    reads = bot.sim.count("/streams/orders/transfer-tasks")
    click = await bot.click("dis.refresh", buttons(first)["dis.refresh"]["value"])
    assert click.response.status_code == 200
    answer = await bot.answer(click)
    assert answer.payload["replace_original"] is True
    validate_message(answer.payload)
    assert "ERROR" in all_text(answer.payload)
    assert "dis.share" in buttons(answer.payload)
    assert bot.sim.count("/streams/orders/transfer-tasks") == reads + 1


async def test_refresh_of_an_in_channel_message_has_no_share_button(bot):
    """A message everybody sees (mention answer, shared answer) is refreshed without a Share button."""
    bot.sim.add_stream("orders", [SimTask("t1")])
    first = await _tasks_answer(bot)
    click = await bot.click("dis.refresh", buttons(first)["dis.refresh"]["value"], ephemeral=False)
    answer = await bot.answer(click)
    assert "dis.share" not in buttons(answer.payload)


async def test_share_posts_for_everyone_and_removes_the_ephemeral(bot):
    """Share in channel: the same answer in_channel, credited, without the Share button; then the copy goes."""
    bot.sim.add_stream("orders", [SimTask("t1", state="ERROR")])
    first = await _tasks_answer(bot)
    click = await bot.click("dis.share", buttons(first)["dis.share"]["value"])
    shared = await bot.answer(click)
    assert shared.payload["response_type"] == "in_channel"
    assert shared.payload.get("replace_original") is False
    validate_message(shared.payload)
    text = all_text(shared.payload)
    assert "t1" in text and f"Shared by `@{ALICE}`" in text
    assert "dis.share" not in buttons(shared.payload)
    deleted = await bot.answer(click, count=2)
    assert deleted.payload.get("delete_original") is True
    await bot.fake.wait_quiet(0.2)
    assert len([c for c in bot.fake.calls if c.hook_id == click.hook_id]) == 2  # of the 5 Slack allows
    assert bot.fake.count("chat.delete") == 0  # chat.delete cannot remove an ephemeral message


def _expired(bot) -> str:
    """A response_url that Slack no longer accepts (more than 30 minutes old)."""
    url = bot.fake.response_url()
    bot.fake.expire_response_url(url.rsplit("/", 1)[1])
    return url


async def test_refresh_of_a_channel_message_falls_back_to_chat_update(bot):
    """When the click's response_url is refused, Refresh on a message everyone sees updates it via chat.update."""
    bot.sim.add_stream("orders", [SimTask("t1")])
    await bot.mention("tasks orders")
    [post] = await bot.fake.wait_for("chat.postMessage")
    bot.sim.set_state("orders", "t1", "ERROR")
    value = buttons(post.payload)["dis.refresh"]["value"]
    ts = post.response["ts"]
    await bot.click("dis.refresh", value, response_url=_expired(bot), ephemeral=False, message_ts=ts)
    [update] = await bot.fake.wait_for("chat.update")
    assert (update.payload["channel"], update.payload["ts"]) == (CHANNEL, ts)
    assert "ERROR" in all_text(update.payload)
    assert "ERROR" in bot.fake.messages[(CHANNEL, ts)]["blocks"][1]["text"]["text"]


async def test_refresh_of_an_ephemeral_with_a_used_up_response_url_posts_a_fresh_ephemeral(bot):
    """An ephemeral cannot be updated through the Web API: a new ephemeral goes to the clicker, Share kept."""
    bot.sim.add_stream("orders", [SimTask("t1")])
    first = await _tasks_answer(bot)
    url = bot.fake.response_url()
    for i in range(5):  # Slack's limit: five posts per response_url
        await AsyncWebhookClient(url).send_dict({"text": f"earlier answer {i}"})
    await bot.click("dis.refresh", buttons(first)["dis.refresh"]["value"], response_url=url)
    [ephemeral] = await bot.fake.wait_for("chat.postEphemeral")
    assert (ephemeral.payload["channel"], ephemeral.payload["user"]) == (CHANNEL, ALICE)
    assert {"dis.refresh", "dis.share"} <= set(buttons(ephemeral.payload))
    assert bot.fake.calls_to("response_url")[-1].error == "used_url"


async def test_share_with_an_expired_response_url_posts_with_chat_post_message(bot):
    """Share still reaches everyone when the response_url is refused: chat.postMessage in the channel."""
    bot.sim.add_stream("orders", [SimTask("t1", state="ERROR")])
    first = await _tasks_answer(bot)
    await bot.click("dis.share", buttons(first)["dis.share"]["value"], response_url=_expired(bot))
    [post] = await bot.fake.wait_for("chat.postMessage")
    assert post.payload["channel"] == CHANNEL
    assert f"Shared by `@{ALICE}`" in all_text(post.payload) and "dis.share" not in buttons(post.payload)


async def test_next_page_button_shows_the_next_tasks(bot):
    """A stream with 45 tasks: Next shows 41-45 in place of the first page."""
    bot.sim.add_stream("big", [SimTask(f"task-{i:02d}") for i in range(45)])
    first = await _tasks_answer(bot, "big")
    assert "Showing 1-40 of 45" in all_text(first)
    click = await bot.click("dis.page.next", buttons(first)["dis.page.next"]["value"])
    answer = await bot.answer(click)
    assert answer.payload["replace_original"] is True
    assert "Showing 41-45 of 45" in all_text(answer.payload)
    assert "task-44" in all_text(answer.payload)


async def test_details_button_answers_the_clicker_only(bot):
    """Details opens the task's details as a new ephemeral message; no Start/Stop for a non-admin."""
    bot.sim.add_stream("orders", [SimTask("t1")], partitions=2)
    first = await _tasks_answer(bot)
    click = await bot.click("dis.details", buttons(first)["dis.details"]["value"])
    answer = await bot.answer(click)
    assert answer.payload["response_type"] == "ephemeral" and answer.payload["replace_original"] is False
    validate_message(answer.payload)
    assert "orders / t1" in all_text(answer.payload)
    assert {"dis.task.start", "dis.task.stop"}.isdisjoint(buttons(answer.payload))


async def test_admin_sees_start_stop_and_stop_works_with_audit(make_bot, caplog):
    """An admin with actions enabled: Stop calls DIS, the result replaces the buttons, an audit line is written."""
    bot = await make_bot(**ADMIN_SETTINGS)
    bot.sim.add_stream("orders", [SimTask("t1", state="RUNNING")])
    details = (await bot.answer(await bot.command("task orders t1", user=ADMIN))).payload
    stop = buttons(details)["dis.task.stop"]
    assert stop["confirm"]["confirm"]["text"] == "Stop"
    caplog.set_level(logging.INFO, logger="bot.audit")
    click = await bot.click("dis.task.stop", stop["value"], user=ADMIN)
    answer = await bot.answer(click)
    assert answer.payload["replace_original"] is True
    validate_message(answer.payload)
    assert {"dis.task.start", "dis.task.stop"}.isdisjoint(buttons(answer.payload))
    assert "Stop requested" in all_text(answer.payload) and "PAUSED" in all_text(answer.payload)
    assert bot.sim.task("orders", "t1").state == "PAUSED"
    [audit] = [r for r in caplog.records if r.name == "bot.audit"]
    assert audit.getMessage() == "action.stop"
    assert (audit.user, audit.stream, audit.task, audit.outcome) == (ADMIN, "orders", "t1", "ok")


async def test_admin_start_works(make_bot):
    """Start on a paused task calls DIS start with the task's ID."""
    bot = await make_bot(**ADMIN_SETTINGS)
    bot.sim.add_stream("orders", [SimTask("t1", state="PAUSED")])
    details = (await bot.answer(await bot.command("task orders t1", user=ADMIN))).payload
    click = await bot.click("dis.task.start", buttons(details)["dis.task.start"]["value"], user=ADMIN)
    answer = await bot.answer(click)
    assert "Start requested" in all_text(answer.payload)
    assert bot.sim.count("/transfer-tasks/action") == 1
    assert bot.sim.task("orders", "t1").state in ("STARTING", "RUNNING")


async def test_non_admin_click_is_refused_and_nothing_is_called(make_bot, caplog):
    """A Start click from someone not in DIS_ADMIN_USER_IDS (a forwarded button) is refused politely."""
    bot = await make_bot(**ADMIN_SETTINGS)
    bot.sim.add_stream("orders", [SimTask("t1", state="PAUSED")])
    details = (await bot.answer(await bot.command("task orders t1", user=ADMIN))).payload
    caplog.set_level(logging.INFO, logger="bot.audit")
    click = await bot.click("dis.task.start", buttons(details)["dis.task.start"]["value"], user=ALICE)
    answer = await bot.answer(click)
    assert "only the bot's admins" in all_text(answer.payload)
    assert answer.payload["replace_original"] is False
    assert bot.sim.count("/transfer-tasks/action") == 0
    assert bot.sim.task("orders", "t1").state == "PAUSED"
    [audit] = [r for r in caplog.records if r.name == "bot.audit"]
    assert (audit.user, audit.outcome) == (ALICE, "refused")


async def test_actions_disabled_refuses_even_an_admin(make_bot):
    """With DIS_ACTIONS_ENABLED off, an admin's click is refused and DIS is not called."""
    bot = await make_bot(DIS_ADMIN_USER_IDS=ADMIN)
    bot.sim.add_stream("orders", [SimTask("t1", state="PAUSED")])
    task_id = bot.sim.task("orders", "t1").task_id
    value = TaskRef("orders", "t1", task_id).encode()
    answer = await bot.answer(await bot.click("dis.task.start", value, user=ADMIN))
    assert "turned off" in all_text(answer.payload)
    assert bot.sim.count("/transfer-tasks/action") == 0


async def test_dis_failure_during_an_action_is_shown_in_place_of_the_buttons(make_bot, caplog):
    """DIS refusing the start: the user reads what failed, the audit line says error."""
    bot = await make_bot(**ADMIN_SETTINGS)
    bot.sim.add_stream("orders", [SimTask("t1", state="PAUSED")])
    details = (await bot.answer(await bot.command("task orders t1", user=ADMIN))).payload
    caplog.set_level(logging.INFO, logger="bot.audit")
    bot.sim.fail_next(5, status=503, path="/transfer-tasks/action")
    click = await bot.click("dis.task.start", buttons(details)["dis.task.start"]["value"], user=ADMIN)
    answer = await bot.answer(click, timeout=10)
    assert "Start failed" in all_text(answer.payload)
    [audit] = [r for r in caplog.records if r.name == "bot.audit"]
    assert audit.outcome.startswith("error:")


async def test_garbage_button_value_gets_a_polite_answer(bot):
    """A button value we did not write is acknowledged and answered politely to the clicker, never a crash."""
    click = await bot.click("dis.refresh", "not json")
    assert click.response.status_code == 200
    answer = await bot.answer(click)
    assert "could not read that button" in all_text(answer.payload)
    assert answer.payload["response_type"] == "ephemeral" and answer.payload["replace_original"] is False
