"""`DisClient.describe_stream` and `TaskService.stream` against the simulator over loopback HTTP: partition pages,
DIS's documented answer and its quirks, garbled bodies, not found, retries and hooks."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.dis.lag import task_lag
from bot.dis.models import StreamDetail
from bot.dis.simulator import DisSimulator, SimTask
from bot.errors import Garbled, NotFound
from bot.services.tasks import TaskService

#: A value planted in garbled bodies: what DIS sent must never be repeated in our message.
PLANTED = "planted-value-7f3a"

#: The example answer of "Querying Stream Details" (reference dis-lag.md), as DIS documents it.
DOCUMENTED = {
    "stream_name": "stream_test",
    "stream_id": "U7v0U582F8ccXyErJKC",
    "create_time": 1504679587519,
    "last_modified_time": 1504679587519,
    "retention_period": 24,
    "status": "RUNNING",
    "stream_type": "COMMON",
    "data_type": "JSON",
    "writable_partition_count": 3,
    "readable_partition_count": 5,
    "partitions": [
        {
            "status": "ACTIVE",
            "partition_id": "shardId-0000000000",
            "hash_range": "[0 : 9223372036854775807]",
            "sequence_number_range": "[0 : 200]",
        }
    ],
    "has_more_partitions": False,
    "tags": [],
}


def describe_path(sim: DisSimulator, stream: str) -> str:
    return f"/v2/{sim.project_id}/streams/{stream}"


def answer(sim: DisSimulator, stream: str, body: object, n: int = 1) -> None:
    """The next `n` descriptions of `stream` are `body` (HTTP 200), only that path (not its task paths)."""
    sim.fail_next(n, status=200, body=body, path=describe_path(sim, stream), exact=True)


async def test_pages_of_partitions_are_followed(sim: DisSimulator, make_client) -> None:
    """Eight partitions served three per page come back as one stream, each page starting after the last id."""
    sim.add_stream("orders", partitions=8, retention_period=48)
    sim.partition_page_cap = 3
    sim.produce("orders", 80)
    detail = await make_client(sim).describe_stream("orders")
    assert [p.partition_id for p in detail.partitions] == [f"shardId-{i:010d}" for i in range(8)]
    assert [p.last_sequence for p in detail.partitions] == [10] * 8
    assert detail.retention_period == 48 and detail.stream_name == "orders" and detail.has_more_partitions is False
    assert sim.count(describe_path(sim, "orders")) == 3


async def test_one_request_for_an_ordinary_stream(sim: DisSimulator, make_client) -> None:
    """A stream of a few partitions costs one request (the client asks for up to 1000 per page)."""
    sim.add_stream("orders", partitions=4)
    detail = await make_client(sim).describe_stream("orders")
    assert len(detail.partitions) == 4 and sim.count() == 1


async def test_the_documented_example_is_read(sim: DisSimulator, make_client) -> None:
    """DIS's own example answer: retention 24 h, partition shardId-0000000000 holding sequence numbers 0 to 200."""
    sim.add_stream("stream_test")
    answer(sim, "stream_test", DOCUMENTED)
    detail = await make_client(sim).describe_stream("stream_test")
    assert detail.retention_period == 24 and detail.status == "RUNNING" and detail.stream_id == "U7v0U582F8ccXyErJKC"
    (partition,) = detail.partitions
    assert partition.partition_id == "shardId-0000000000" and partition.status == "ACTIVE"
    assert (partition.first_sequence, partition.last_sequence) == (0, 200)


@pytest.mark.parametrize(
    ("sequence_range", "first", "last"),
    [
        ("[0 : 200]", 0, 200),
        ("[0:200]", 0, 200),
        ("  [ 17 :  200 ] ", 17, 200),
        ("[null : 200]", None, 200),
        ("[0 : null]", 0, None),
        ("[ : 200]", None, 200),
        ("[0 : ]", 0, None),
        ("[]", None, None),
        ("", None, None),
        (None, None, None),
        ([3, 200], 3, 200),
        (200, None, None),
        ("[-1 : -1]", None, None),
    ],
)
async def test_sequence_ranges_are_read_leniently(
    sim: DisSimulator, make_client, sequence_range: object, first: int | None, last: int | None
) -> None:
    """`sequence_number_range` with or without spaces, a side missing or `null`, a list or junk: what can be read
    is read, the rest is unknown, and the answer is never refused for it."""
    sim.add_stream("orders")
    partition = {"partition_id": "shardId-0000000000", "sequence_number_range": sequence_range}
    answer(sim, "orders", {"stream_name": "orders", "partitions": [partition]})
    (read,) = (await make_client(sim).describe_stream("orders")).partitions
    assert (read.first_sequence, read.last_sequence) == (first, last)


async def test_the_documented_typos_are_harmless(sim: DisSimulator, make_client) -> None:
    """The reference's `"last_modified_time": "1599050091026,"` and a retention sent as a string still read."""
    sim.add_stream("orders")
    body = {**DOCUMENTED, "stream_name": "orders", "last_modified_time": "1599050091026,", "retention_period": "168"}
    answer(sim, "orders", body)
    detail = await make_client(sim).describe_stream("orders")
    assert detail.retention_period == 168 and detail.partitions[0].last_sequence == 200


async def test_missing_fields_are_unknown_not_errors(sim: DisSimulator, make_client) -> None:
    """An answer without stream name, retention, status or ranges is still a description: those are unknown."""
    sim.add_stream("orders")
    answer(sim, "orders", {"partitions": [{"partition_id": "shardId-0000000000"}]})
    detail = await make_client(sim).describe_stream("orders")
    assert detail.stream_name == "orders" and detail.retention_period is None and detail.status is None
    assert detail.partitions[0].last_sequence is None and detail.partitions[0].status is None


async def test_numeric_and_shard_ids_name_the_same_partition(sim: DisSimulator, make_client) -> None:
    """A stream answer with bare numbers (`0`, `"1"`) or camelCase `partitionId` still joins the task's
    `shardId-000000000N` partitions, so each backlog is known."""
    sim.add_stream("orders", [SimTask("to-obs")], partitions=3)
    for index, offset in enumerate((40, 50, 60)):
        sim.set_partition("orders", "to-obs", index, last_transfer_offset=offset)
    partitions = [
        {"partition_id": 0, "sequence_number_range": "[0 : 100]"},
        {"partition_id": "1", "sequence_number_range": "[0 : 100]"},
        {"partitionId": "shardId-0000000002", "sequence_number_range": "[0 : 100]"},
    ]
    answer(sim, "orders", {"stream_name": "orders", "retention_period": 24, "partitions": partitions})
    client = make_client(sim)
    stream = await client.describe_stream("orders")
    assert [p.partition_id for p in stream.partitions] == ["0", "1", "shardId-0000000002"]
    lag = task_lag(await client.show_transfer_task("orders", "to-obs"), stream, read_at=time.time())
    assert [p.backlog for p in lag.partitions] == [60, 50, 40] and lag.backlog == 150


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"stream_name": PLANTED, "partitions": {"partition_id": PLANTED}}, "the partition list is not a list"),
        ({"stream_name": "orders", "partitions": [{"sequence_number_range": PLANTED}]}, "a partition without an id"),
        ({"partitions": [{"partition_id": ""}]}, "a partition without an id"),
        ({"partitions": [{"partition_id": True}]}, "a partition without an id"),
        ({"partitions": [PLANTED]}, "a partition without an id"),
        ({"stream_name": PLANTED, "retention_period": 24}, "no partition list"),
        ({"partitions": None}, "no partition list"),
        ({"partitions": [], "has_more_partitions": False}, "a stream without partitions"),
        ([PLANTED], "a JSON list, not an object"),
        ({"partitions": [{"partition_id": "shardId-0", "status": [PLANTED]}]}, "a field of the wrong type"),
    ],
    ids=["object", "no-id", "empty-id", "bool-id", "not-objects", "missing", "null", "empty", "list", "wrong-type"],
)
async def test_a_200_without_a_usable_description_is_garbled(
    sim: DisSimulator, make_client, body: object, reason: str
) -> None:
    """A description whose partitions are not a list, or name a partition without an id, is Garbled (retried,
    then given up) saying why in our own words, never "a stream without partitions" read as fine."""
    sim.add_stream("orders")
    answer(sim, "orders", body, n=4)
    with pytest.raises(Garbled) as caught:
        await make_client(sim).describe_stream("orders")
    message = str(caught.value)
    assert "describe_stream" in message and f"HTTP 200; {reason}" in message, message
    assert PLANTED not in message and PLANTED not in repr(caught.value)
    assert caught.value.attempts == 4 and sim.count() == 4


async def test_a_missing_stream_is_not_found(sim: DisSimulator, make_client) -> None:
    """Describing a stream that does not exist is NotFound (DIS's 400 DIS.4301), after one request."""
    with pytest.raises(NotFound) as caught:
        await make_client(sim).describe_stream("ghost")
    assert caught.value.code == "DIS.4301" and caught.value.stream == "ghost" and "'ghost'" in str(caught.value)
    assert sim.count() == 1


async def test_a_server_ignoring_the_start_cannot_loop_the_client(sim: DisSimulator, make_client) -> None:
    """A server answering the same page with has_more_partitions=true forever costs two requests, not a loop."""
    sim.add_stream("orders")
    page = {"partitions": [{"partition_id": "shardId-0000000000"}], "has_more_partitions": True}
    answer(sim, "orders", page, n=50)
    detail = await make_client(sim).describe_stream("orders")
    assert [p.partition_id for p in detail.partitions] == ["shardId-0000000000"]
    assert sim.count() == 2


async def test_reads_are_retried_and_reported_to_the_hooks(sim: DisSimulator, make_client) -> None:
    """A 503 is retried like every read, and each attempt reaches on_request as `describe_stream`."""
    sim.add_stream("orders", partitions=2)
    sim.fail_next(1, status=503, path=describe_path(sim, "orders"), exact=True)
    client = make_client(sim)
    seen: list[tuple[str, int | str]] = []
    retried: list[tuple[str, str]] = []
    client.on_request = lambda endpoint, status, seconds: seen.append((endpoint, status))
    client.on_retry = lambda endpoint, reason: retried.append((endpoint, reason))
    detail = await client.describe_stream("orders")
    assert len(detail.partitions) == 2
    assert seen == [("describe_stream", 503), ("describe_stream", 200)]
    assert retried == [("describe_stream", "unavailable")]


async def test_task_service_reads_each_stream_once(sim: DisSimulator, make_client) -> None:
    """Twenty concurrent `TaskService.stream` calls cost one DIS request; cached until `fresh=True`."""
    sim.add_stream("orders", partitions=2)
    sim.latency = 0.02  # keeps the first read in flight while the others arrive
    service = TaskService(make_client(sim), ttl=60)
    details = await asyncio.gather(*(service.stream("orders") for _ in range(20)))
    assert all(isinstance(d, StreamDetail) and d is details[0] for d in details)
    assert sim.count(describe_path(sim, "orders")) == 1
    await service.stream("orders")
    assert sim.count(describe_path(sim, "orders")) == 1
    sim.produce("orders", 10)
    fresh = await service.stream("orders", fresh=True)
    assert [p.last_sequence for p in fresh.partitions] == [5, 5] and sim.count(describe_path(sim, "orders")) == 2
