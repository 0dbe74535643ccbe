"""DisClient against the DIS simulator over real loopback HTTP: endpoints, errors, retries, validation, logs."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from bot.dis.client import DisClient
from bot.dis.retry import RetryPolicy
from bot.dis.simulator import DisSimulator, SimTask
from bot.errors import AuthError, Garbled, InvalidName, NotFound, RequestRejected, Throttled, Unavailable
from tests.conftest import FAST_RETRY, free_port, new_simulator, settings_for

TASKS_PATH = "/transfer-tasks"


class RecordingSleep:
    """A `RetryPolicy.sleep` that records the delays it was asked for and yields without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def recording_policy(**kwargs: object) -> tuple[RetryPolicy, RecordingSleep]:
    sleep = RecordingSleep()
    options: dict[str, object] = {"attempts": 4, "base_delay": 0.001, "max_delay": 0.002, "sleep": sleep}
    options.update(kwargs)
    return RetryPolicy(**options), sleep  # type: ignore[arg-type]


# --- reading ---


async def test_list_transfer_tasks_keeps_ids_and_unknown_states(sim: DisSimulator, make_client) -> None:
    """Tasks come back with their task_id, and a state DIS invents later stays as the raw string."""
    sim.add_stream("orders", [SimTask("to-obs", state="ERROR"), SimTask("to-dli", state="FROZEN")])
    tasks = await make_client(sim).list_transfer_tasks("orders")
    assert tasks.stream == "orders"
    assert tasks.total_number == 2 and tasks.quota == 5
    by_name = {t.task_name: t for t in tasks.tasks}
    assert by_name["to-obs"].state == "ERROR" and by_name["to-obs"].is_problem
    assert by_name["to-dli"].state == "FROZEN"
    assert by_name["to-obs"].task_id == sim.task("orders", "to-obs").task_id


async def test_legacy_list_shape_is_understood(sim: DisSimulator, make_client) -> None:
    """The old `{"has_more_tasks", "details"}` answer parses like the current one."""
    sim.add_stream("orders")
    legacy = {"has_more_tasks": False, "total_number": 1, "details": [{"task_name": "old", "state": "RUNNING"}]}
    sim.fail_next(1, status=200, body=json.dumps(legacy), path=TASKS_PATH)
    tasks = await make_client(sim).list_transfer_tasks("orders")
    assert [(t.task_name, t.state) for t in tasks.tasks] == [("old", "RUNNING")]


async def test_show_transfer_task_has_partitions_and_destination(sim: DisSimulator, make_client) -> None:
    """Show-task returns the camelCase partitions and the destination block."""
    sim.add_stream("orders", [SimTask("to-obs", state="ABNORMAL")], partitions=3)
    detail = await make_client(sim).show_transfer_task("orders", "to-obs")
    assert detail.task_name == "to-obs" and detail.state == "ABNORMAL"
    assert [p.partition_id for p in detail.partitions] == [f"shardId-000000000{i}" for i in range(3)]
    assert detail.destination.get("agency_name") == "dis_admin_agency"
    assert detail.task_id == sim.task("orders", "to-obs").task_id


async def test_list_streams_follows_every_page(sim: DisSimulator, make_client) -> None:
    """250 streams arrive in three pages of at most 100, all of them, once each."""
    names = [f"s-{i:03d}" for i in range(250)]
    for name in names:
        sim.add_stream(name)
    streams = await make_client(sim).list_streams()
    assert [s.stream_name for s in streams] == sorted(names)
    assert sim.count(path="/streams", method="GET") == 3


async def test_list_streams_of_an_empty_project(sim: DisSimulator, make_client) -> None:
    """A project without streams gives an empty list after one request."""
    assert await make_client(sim).list_streams() == []
    assert sim.count() == 1


# --- start / stop ---


async def test_stop_then_start_by_task_id(sim: DisSimulator, make_client) -> None:
    """Stop pauses and start resumes the tasks named by their task_id in one POST each."""
    sim.add_stream("orders", [SimTask("a"), SimTask("b")])
    client = make_client(sim, "aksk")
    ids = [sim.task("orders", "a").task_id, sim.task("orders", "b").task_id]
    await client.stop_transfer_tasks("orders", ids)
    assert {sim.task("orders", n).state for n in "ab"} == {"PAUSED"}
    await client.start_transfer_tasks("orders", ids[:1])
    assert sim.task("orders", "a").state == "RUNNING" and sim.task("orders", "b").state == "PAUSED"
    assert sim.count(path="/transfer-tasks/action", method="POST") == 2


async def test_start_unknown_task_id_is_not_found(sim: DisSimulator, make_client) -> None:
    """A task_id DIS does not know gives NotFound (DIS.4354) naming the stream."""
    sim.add_stream("orders", [SimTask("a")])
    with pytest.raises(NotFound) as caught:
        await make_client(sim).start_transfer_tasks("orders", ["NoSuchTaskId0000000"])
    assert caught.value.code == "DIS.4354" and caught.value.stream == "orders"
    assert "orders" in str(caught.value)


# --- validation: nothing is sent ---


@pytest.mark.parametrize("stream", ["", "a/b", "../etc", "x" * 65, "spaces here", "ünïcode", "a?b=c"])
async def test_invalid_stream_names_send_nothing(sim: DisSimulator, make_client, stream: str) -> None:
    """A stream name breaking DIS's rule raises InvalidName before any request."""
    client = make_client(sim)
    for call in (
        client.list_transfer_tasks(stream),
        client.show_transfer_task(stream, "task"),
        client.start_transfer_tasks(stream, ["abc"]),
        client.stop_transfer_tasks(stream, ["abc"]),
    ):
        with pytest.raises(InvalidName):
            await call
    assert sim.count() == 0


@pytest.mark.parametrize("task_ids", [[], [""], ["a/b"], ["ok", "bad id"], ["x" * 200]])
async def test_invalid_task_ids_send_nothing(sim: DisSimulator, make_client, task_ids: list[str]) -> None:
    """Empty or odd task IDs for start/stop raise InvalidName before any request."""
    with pytest.raises(InvalidName):
        await make_client(sim).start_transfer_tasks("orders", task_ids)
    assert sim.count() == 0


async def test_invalid_task_name_sends_nothing(sim: DisSimulator, make_client) -> None:
    """Show-task checks the task name too."""
    with pytest.raises(InvalidName):
        await make_client(sim).show_transfer_task("orders", "bad/name")
    assert sim.count() == 0


# --- URLs ---


async def test_path_segments_are_percent_encoded(sim: DisSimulator) -> None:
    """Every segment is encoded, including '/' which httpx would leave alone."""
    client = DisClient(settings_for(sim, DIS_PROJECT_ID="p/1 2"))
    try:
        url = client.url(["streams", "a/b", "c d%"], {"start_stream_name": "x y", "limit": "100"})
        assert url == f"{sim.url}/v2/p%2F1%202/streams/a%2Fb/c%20d%25?limit=100&start_stream_name=x%20y"
    finally:
        await client.aclose()


async def test_encoded_path_is_signed_as_sent(sim: DisSimulator, make_client) -> None:
    """A project ID needing encoding still gets a valid AK/SK signature: DIS answers DIS.4117, not 401."""
    sim.add_stream("orders")
    with pytest.raises(RequestRejected) as caught:
        await make_client(sim, "aksk", DIS_PROJECT_ID="not a project~id").list_transfer_tasks("orders")
    assert caught.value.code == "DIS.4117"
    assert "DIS_PROJECT_ID" in str(caught.value)


async def test_encoded_slash_is_signed_like_huaweis_sdk(sim: DisSimulator, make_client) -> None:
    """A '%2F' in a segment is signed as a separator (decode, then split) and the simulator agrees: no 401."""
    sim.add_stream("orders")
    with pytest.raises(RequestRejected) as caught:
        await make_client(sim, "aksk", DIS_PROJECT_ID="tenant/7").list_transfer_tasks("orders")
    assert caught.value.code == "DIS.4117"


# --- errors ---


async def test_missing_stream_is_not_found_with_context(sim: DisSimulator, make_client) -> None:
    """DIS.4301 (HTTP 400) becomes NotFound naming the stream, project and region."""
    with pytest.raises(NotFound) as caught:
        await make_client(sim).list_transfer_tasks("ghost")
    error = caught.value
    assert (error.code, error.status, error.stream, error.kind) == ("DIS.4301", 400, "ghost", "not_found")
    assert "ghost" in str(error) and sim.project_id in str(error) and "cn-north-4" in str(error)
    assert error.request_id and error.attempts == 1
    assert sim.count() == 1


async def test_missing_task_is_not_found(sim: DisSimulator, make_client) -> None:
    """DIS.4354 becomes NotFound naming the task and stream."""
    sim.add_stream("orders")
    with pytest.raises(NotFound) as caught:
        await make_client(sim).show_transfer_task("orders", "ghost-task")
    assert caught.value.task == "ghost-task" and caught.value.code == "DIS.4354"
    assert "ghost-task" in str(caught.value) and "orders" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, None),  # APIG.0301
        (401, {"error_code": "APIG.0307", "error_msg": "The token must be updated.", "request_id": "r1"}),
        (441, {"errorCode": "DIS.4114", "message": "Invalid X-Auth-Token."}),
        (403, None),  # DIS.4116
        (403, {"error_code": "APIGW.0302", "error_msg": "The IAM user is not authorized"}),
        (400, {"errorCode": "DIS.4309", "message": "IP is in blacklist."}),
    ],
)
async def test_auth_errors_are_never_retried(sim: DisSimulator, make_client, status: int, body: object) -> None:
    """401, 441, 403 and DIS.4309 raise AuthError after exactly one request."""
    sim.add_stream("orders")
    sim.fail_next(5, status=status, body=body)
    with pytest.raises(AuthError) as caught:
        await make_client(sim).list_transfer_tasks("orders")
    assert caught.value.status == status and caught.value.attempts == 1
    assert sim.count() == 1


async def test_gateway_codes_are_normalised_and_request_id_kept(sim: DisSimulator, make_client) -> None:
    """APIGW.0302 reads as APIG.0302, and the body's request_id is kept."""
    sim.fail_next(1, status=403, body={"error_code": "APIGW.0302", "error_msg": "no", "request_id": "req-42"})
    with pytest.raises(AuthError) as caught:
        await make_client(sim).list_streams()
    assert caught.value.code == "APIG.0302" and caught.value.request_id == "req-42"


async def test_other_4xx_is_rejected_without_retry(sim: DisSimulator, make_client) -> None:
    """A DIS business error such as DIS.4200 becomes RequestRejected after one request."""
    sim.fail_next(3, status=400, body={"errorCode": "DIS.4200", "message": "Invalid request."})
    with pytest.raises(RequestRejected) as caught:
        await make_client(sim).list_streams()
    assert "DIS.4200: Invalid request." in str(caught.value)
    assert sim.count() == 1


async def test_unknown_api_points_at_the_endpoint_setting(sim: DisSimulator, make_client) -> None:
    """A gateway 404 APIG.0101 says to check DIS_ENDPOINT."""
    sim.fail_next(1, status=404)
    with pytest.raises(RequestRejected) as caught:
        await make_client(sim).list_streams()
    assert caught.value.code == "APIG.0101" and "DIS_ENDPOINT" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    ["{not json", "", "[1, 2, 3]", '{"tasks": "oops"}', '{"tasks": [{"state": "RUNNING"}]}', "\xff\xfe"],
)
async def test_unexpected_bodies_are_unavailable(sim: DisSimulator, make_client, body: str) -> None:
    """Garbled JSON, the wrong JSON type or a task without a name is Unavailable, retried, then given up."""
    sim.add_stream("orders")
    sim.fail_next(4, status=200, body=body, path=TASKS_PATH)
    with pytest.raises(Unavailable) as caught:
        await make_client(sim).list_transfer_tasks("orders")
    assert "not the JSON we expect" in str(caught.value)
    assert caught.value.attempts == 4 and sim.count() == 4


#: A value planted in garbled bodies: what DIS sent must never be repeated in our message.
PLANTED = "planted-value-7f3a"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"tasks": None, "total_number": 0, "note": PLANTED}, "no task list"),
        ({"data": {"tasks": [{"task_name": PLANTED}]}}, "no task list"),
        ({"tasks": [1, 2], "total_number": 2}, "a task without a name"),
        ({"tasks": [{"task_name": "", "state": "RUNNING"}]}, "a task without a name"),
        ({"tasks": [{"task_name": "a"}, PLANTED]}, "a task without a name"),
        ({"tasks": {"task_name": PLANTED}}, "the task list is not a list"),
        ({"tasks": [], "total_number": 2}, "0 of 2 tasks listed"),
        ([PLANTED], "a JSON list, not an object"),
    ],
    ids=["tasks-null", "other-shape", "not-objects", "empty-name", "mixed", "object", "fewer-than-total", "list"],
)
async def test_a_200_without_a_usable_task_list_is_garbled(
    sim: DisSimulator, make_client, body: object, reason: str
) -> None:
    """A 200 whose body holds no usable task list is Garbled (retried, then given up) saying why, never an empty
    list; nothing of the body is repeated."""
    sim.add_stream("orders", [SimTask("to-obs")])
    sim.fail_next(4, status=200, body=body, path=TASKS_PATH)
    with pytest.raises(Garbled) as caught:
        await make_client(sim).list_transfer_tasks("orders")
    message = str(caught.value)
    assert "not the JSON we expect" in message and f"HTTP 200; {reason}" in message, message
    assert PLANTED not in message and PLANTED not in repr(caught.value)
    assert caught.value.kind == "unavailable" and caught.value.attempts == 4 and sim.count() == 4


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"stream_info_list": {"stream_name": PLANTED}}, "the stream list is not a list"),
        ({"stream_info_list": [], "stream_names": PLANTED}, "the stream list is not a list"),
        ({"stream_names": [1, 2], "has_more_streams": False}, "a stream without a name"),
        ({"stream_info_list": [{"stream_name": ""}]}, "a stream without a name"),
        ({"data": [PLANTED]}, "no stream list"),
        ({"total_number": 3, "stream_names": ["a"], "has_more_streams": False}, "1 of 3 streams listed"),
        ({"total_number": 3, "stream_names": [], "has_more_streams": True}, "an empty page of streams"),
    ],
    ids=["info-object", "names-string", "names-not-strings", "empty-name", "other-shape", "fewer", "empty-more"],
)
async def test_a_200_without_a_usable_stream_list_is_garbled(
    sim: DisSimulator, make_client, body: object, reason: str
) -> None:
    """A streams page whose list is not a list (or names no stream) is Garbled, not an empty project."""
    sim.add_stream("orders")
    sim.fail_next(4, status=200, body=body, path=f"/v2/{sim.project_id}/streams", exact=True)
    with pytest.raises(Garbled) as caught:
        await make_client(sim).list_streams()
    assert f"HTTP 200; {reason}" in str(caught.value) and PLANTED not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [{"tasks": [], "total_number": 0}, {"total_number": 0}, {"has_more_tasks": False, "details": []}],
    ids=["empty-list", "zero-total-only", "legacy-empty"],
)
async def test_a_stream_without_tasks_still_reads_as_empty(sim: DisSimulator, make_client, body: object) -> None:
    """An answer that says "no tasks" in any shape DIS uses is still an empty list, after one request."""
    sim.add_stream("orders")
    sim.fail_next(1, status=200, body=body, path=TASKS_PATH)
    result = await make_client(sim).list_transfer_tasks("orders")
    assert result.tasks == [] and result.total_number == 0 and sim.count() == 1


async def test_garbled_error_body_still_classified_by_status(sim: DisSimulator, make_client) -> None:
    """An HTML 502 page from a proxy is Unavailable with the HTTP status in the message."""
    sim.fail_next(4, status=502, body="<html>Bad Gateway</html>")
    with pytest.raises(Unavailable) as caught:
        await make_client(sim).list_streams()
    assert "HTTP 502" in str(caught.value) and "tried 4 times" in str(caught.value)


async def test_dis_system_error_code_is_unavailable(sim: DisSimulator, make_client) -> None:
    """DIS.5xxx is Unavailable whatever the status."""
    sim.fail_next(4, status=500, body={"errorCode": "DIS.5001", "message": "System busy."})
    with pytest.raises(Unavailable) as caught:
        await make_client(sim).list_streams()
    assert caught.value.code == "DIS.5001"


# --- retries ---


async def test_read_retries_then_succeeds(sim: DisSimulator, make_client) -> None:
    """Two 503s then success: three requests, two on_retry calls, a normal answer."""
    sim.add_stream("orders", [SimTask("a")])
    sim.fail_next(2, status=503)
    client = make_client(sim)
    retries: list[tuple[str, str]] = []
    client.on_retry = lambda endpoint, reason: retries.append((endpoint, reason))
    tasks = await client.list_transfer_tasks("orders")
    assert [t.task_name for t in tasks.tasks] == ["a"]
    assert sim.count() == 3
    assert retries == [("list_transfer_tasks", "unavailable")] * 2


async def test_read_gives_up_after_the_attempts(sim: DisSimulator, make_client) -> None:
    """Endless 503s stop after `attempts` requests and the error says how many."""
    sim.add_stream("orders")
    sim.fail_next(100, status=503)
    with pytest.raises(Unavailable) as caught:
        await make_client(sim, retry=RetryPolicy(attempts=3, base_delay=0.001)).list_transfer_tasks("orders")
    assert caught.value.attempts == 3 and sim.count() == 3
    assert "(tried 3 times)" in str(caught.value)


async def test_throttled_waits_at_least_retry_after(sim: DisSimulator, make_client) -> None:
    """A 429 with Retry-After: 3 waits at least 3 s before the next try, then succeeds."""
    sim.add_stream("orders")
    sim.fail_next(1, status=429, headers={"Retry-After": "3"})
    policy, sleep = recording_policy()
    await make_client(sim, retry=policy).list_transfer_tasks("orders")
    assert len(sleep.delays) == 1 and sleep.delays[0] >= 3
    assert sim.count() == 2


async def test_retry_after_is_capped(sim: DisSimulator, make_client) -> None:
    """An absurd Retry-After is capped by max_retry_after."""
    sim.fail_next(1, status=429, headers={"Retry-After": "86400"})
    policy, sleep = recording_policy(max_retry_after=5.0)
    await make_client(sim, retry=policy).list_streams()
    assert sleep.delays == [5.0]


async def test_throttled_gives_up_with_retry_after(sim: DisSimulator, make_client) -> None:
    """Persistent throttling (APIG.0308, DIS.4305) ends in Throttled carrying Retry-After."""
    sim.fail_next(2, status=429)
    sim.fail_next(2, status=400, body={"errorCode": "DIS.4305", "message": "Too many requests."})
    policy, sleep = recording_policy()
    with pytest.raises(Throttled) as caught:
        await make_client(sim, retry=policy).list_streams()
    assert caught.value.code == "DIS.4305" and caught.value.attempts == 4
    assert sleep.delays[0] >= 1  # the simulator's 429 says Retry-After: 1
    assert sim.count() == 4


async def test_backoff_grows_and_is_capped() -> None:
    """Without jitter the backoff doubles up to max_delay; with jitter it stays within that bound."""
    fixed = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=False)
    assert [fixed.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(base_delay=0.5, max_delay=3.0)
    assert all(0 <= jittered.backoff(n) <= min(3.0, 0.5 * 2 ** (n - 1)) for n in range(1, 8) for _ in range(20))


async def test_post_is_not_retried_on_server_errors(sim: DisSimulator, make_client) -> None:
    """Start/stop are sent once even when DIS answers 503: DIS may have acted."""
    sim.add_stream("orders", [SimTask("a", state="PAUSED")])
    sim.fail_next(1, status=503, path="/action")
    with pytest.raises(Unavailable) as caught:
        await make_client(sim).start_transfer_tasks("orders", [sim.task("orders", "a").task_id])
    assert caught.value.attempts == 1 and sim.count() == 1


async def test_post_is_not_retried_on_timeouts(sim: DisSimulator, make_client) -> None:
    """A POST whose answer did not come in time is not sent again."""
    sim.add_stream("orders", [SimTask("a", state="PAUSED")])
    sim.latency = 0.3
    with pytest.raises(Unavailable) as caught:
        await make_client(sim, DIS_TIMEOUT_SECONDS=0.05).start_transfer_tasks(
            "orders", [sim.task("orders", "a").task_id]
        )
    assert "did not answer within 0.05s" in str(caught.value)
    assert caught.value.attempts == 1 and sim.count() == 1


async def test_read_timeouts_are_retried(sim: DisSimulator, make_client) -> None:
    """A GET that times out is retried up to the attempts, then Unavailable."""
    sim.latency = 0.3
    with pytest.raises(Unavailable) as caught:
        await make_client(sim, DIS_TIMEOUT_SECONDS=0.05, retry=RetryPolicy(attempts=2, base_delay=0.001)).list_streams()
    assert caught.value.attempts == 2 and sim.count() == 2


async def test_unreachable_dis_says_where_and_how_often() -> None:
    """Connection refused gives a human message with the endpoint and the number of tries."""
    sim = new_simulator()
    sim.url = f"http://127.0.0.1:{free_port()}"
    client = DisClient(settings_for(sim), retry=FAST_RETRY)
    try:
        with pytest.raises(Unavailable) as caught:
            await client.list_streams()
    finally:
        await client.aclose()
    assert str(caught.value) == f"DIS is unreachable at {sim.url}: connection refused (tried 4 times)."
    assert caught.value.attempts == 4


async def test_post_is_retried_when_nothing_was_sent() -> None:
    """A start whose connection was refused is retried: DIS never saw it (here DIS comes up meanwhile)."""
    port = free_port()
    sim = new_simulator()
    sim.add_stream("orders", [SimTask("a", state="PAUSED")])
    sim.url = f"http://127.0.0.1:{port}"

    async def start_dis_while_waiting(delay: float) -> None:
        if not sim._runner:  # first retry: bring DIS up on the port the client is calling
            await sim.start(port=port)

    client = DisClient(settings_for(sim), retry=RetryPolicy(base_delay=0.001, sleep=start_dis_while_waiting))
    try:
        await client.start_transfer_tasks("orders", [sim.task("orders", "a").task_id])
    finally:
        await client.aclose()
        await sim.stop()
    assert sim.task("orders", "a").state == "RUNNING"
    assert sim.count(path="/action") == 1


# --- hooks and logs ---


async def test_hooks_see_every_attempt(sim: DisSimulator, make_client) -> None:
    """on_request gets endpoint template, status and seconds for each HTTP attempt."""
    sim.add_stream("orders")
    sim.fail_next(1, status=503)
    client = make_client(sim)
    seen: list[tuple[str, int | str, float]] = []
    client.on_request = lambda endpoint, status, seconds: seen.append((endpoint, status, seconds))
    await client.list_transfer_tasks("orders")
    assert [(e, s) for e, s, _ in seen] == [("list_transfer_tasks", 503), ("list_transfer_tasks", 200)]
    assert all(seconds >= 0 for _, _, seconds in seen)


async def test_broken_hook_does_not_break_requests(sim: DisSimulator, make_client) -> None:
    """A metrics hook that raises is logged, and the call still succeeds."""
    client = make_client(sim)

    def broken(*args: object) -> None:
        raise RuntimeError("metrics bug")

    client.on_request = broken
    assert await client.list_streams() == []


async def test_one_debug_line_per_request(sim: DisSimulator, make_client, caplog: pytest.LogCaptureFixture) -> None:
    """Each request logs endpoint, status, duration and request id at DEBUG on `bot.dis`."""
    sim.add_stream("orders")
    caplog.set_level(logging.DEBUG, logger="bot.dis")
    await make_client(sim).list_transfer_tasks("orders")
    lines = [r for r in caplog.records if r.name == "bot.dis" and r.getMessage() == "dis.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line.levelno == logging.DEBUG
    assert (line.endpoint, line.status, line.attempt) == ("list_transfer_tasks", 200, 1)  # type: ignore[attr-defined]
    assert line.duration_ms >= 0 and len(line.dis_request_id) == 32  # type: ignore[attr-defined]


async def test_retries_are_logged_at_info(sim: DisSimulator, make_client, caplog: pytest.LogCaptureFixture) -> None:
    """A retry logs `dis.retry` with the reason; giving up logs a warning."""
    sim.fail_next(10, status=503)
    caplog.set_level(logging.DEBUG, logger="bot.dis")
    with pytest.raises(Unavailable):
        await make_client(sim).list_streams()
    retries = [r for r in caplog.records if r.getMessage() == "dis.retry"]
    assert len(retries) == 3 and all(r.levelno == logging.INFO for r in retries)
    assert retries[0].reason == "unavailable"  # type: ignore[attr-defined]
    assert any(r.getMessage() == "dis.gave_up" and r.levelno == logging.WARNING for r in caplog.records)


# --- lifecycle ---


async def test_shared_http_client_is_not_closed(sim: DisSimulator) -> None:
    """A client given an httpx.AsyncClient leaves it open; one it made itself is closed."""
    async with httpx.AsyncClient() as http:
        async with DisClient(settings_for(sim), http=http) as client:
            await client.list_streams()
        assert not http.is_closed
    owned = DisClient(settings_for(sim))
    await owned.aclose()
    assert owned._http.is_closed


async def test_constructor_checks_settings(sim: DisSimulator) -> None:
    """Missing DIS settings fail at construction with ConfigError, before any request."""
    from bot.errors import ConfigError

    with pytest.raises(ConfigError):
        DisClient(settings_for(sim, DIS_PROJECT_ID=None))
    assert sim.count() == 0


# --- pure helpers ---


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"errorCode":"DIS.4301","message":"Stream does not exist."}', ("DIS.4301", "Stream does not exist.", None)),
        (b'{"error_code":"APIGW.0308","error_msg":"slow down","request_id":"r9"}', ("APIG.0308", "slow down", "r9")),
        (
            b'{"error":{"code":401,"message":"The username or password is wrong.","title":"Unauthorized"}}',
            ("401", "The username or password is wrong.", None),
        ),
        (b'{"code":"X.1","errorMsg":"odd shape"}', ("X.1", "odd shape", None)),
        (b"<html>502</html>", (None, None, None)),
        (b"", (None, None, None)),
    ],
)
def test_every_error_body_shape_is_parsed(body: bytes, expected: tuple[str | None, ...]) -> None:
    """DIS, gateway, IAM and odd error bodies all yield code, message and request id."""
    from bot.dis.responses import parse_error_body

    parsed = parse_error_body(body)
    assert (parsed.code, parsed.message, parsed.request_id) == expected


def test_request_id_header_used_when_body_has_none() -> None:
    """X-Request-Id fills in the request id when the body lacks one."""
    from bot.dis.responses import parse_error_body

    assert parse_error_body(b"{}", httpx.Headers({"X-Request-Id": "abc"})).request_id == "abc"


def test_transport_failures_judged_by_their_cause() -> None:
    """A disconnect after sending counts as sent even when the transport calls it ConnectTimeout."""
    import aiohttp

    from bot.dis.responses import NOT_SENT, transport_kind

    def mapped(httpx_class: type[httpx.TransportError], cause: BaseException) -> httpx.TransportError:
        exc = httpx_class("x")
        exc.__cause__ = cause
        return exc

    disconnected = mapped(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError())
    assert transport_kind(disconnected) == "disconnected" and "disconnected" not in NOT_SENT
    assert transport_kind(mapped(httpx.ReadTimeout, aiohttp.SocketTimeoutError())) == "read_timeout"
    assert transport_kind(httpx.ConnectError("refused")) in NOT_SENT
    assert transport_kind(httpx.ReadTimeout("slow")) == "read_timeout"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("connect_timeout", "timeout"),
        ("pool_timeout", "timeout"),
        ("read_timeout", "timeout"),
        ("connect_error", "connect_error"),
        ("disconnected", "transport_error"),
        ("other", "transport_error"),
    ],
)
def test_transport_failures_report_one_status_for_dis_and_iam(kind: str, status: str) -> None:
    """DIS requests and IAM logins report a failed attempt under the same status (metrics, logs)."""
    from bot.dis.responses import transport_status

    assert transport_status(kind) == status  # type: ignore[arg-type]
