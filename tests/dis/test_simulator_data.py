"""The simulator's moving data over real HTTP: stream descriptions, records arriving, transfer steps, and the
controls tests and the demo use to stall a task, fail a partition or make it discard records."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.dis.lag import task_lag
from bot.dis.models import StreamDetail, TaskDetail
from bot.dis.sample_data import DISCARDING_TASK, STALLED_TASK, sample_dataset
from bot.dis.simulator import DisSimulator, SimTask
from tests.conftest import eventually, new_simulator


@pytest.fixture
async def http(sim: DisSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the simulator, authenticated with its token, at its project's streams."""
    headers = {"X-Auth-Token": sim.token or ""}
    async with httpx.AsyncClient(base_url=f"{sim.url}/v2/{sim.project_id}/streams", headers=headers) as client:
        yield client


async def partitions(http: httpx.AsyncClient, stream: str, task: str) -> list[dict[str, Any]]:
    response = await http.get(f"/{stream}/transfer-tasks/{task}")
    assert response.status_code == 200
    return list(response.json()["partitions"])


async def ranges(http: httpx.AsyncClient, stream: str) -> list[str]:
    response = await http.get(f"/{stream}")
    assert response.status_code == 200
    return [p["sequence_number_range"] for p in response.json()["partitions"]]


async def test_description_has_the_documented_shape(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """A description carries retention, partition counts and ACTIVE partitions with string ranges
    `"[0 : N]"` and hash ranges that split the key space."""
    sim.add_stream("orders", partitions=2, retention_period=72)
    body = (await http.get("/orders")).json()
    assert body["stream_name"] == "orders" and body["retention_period"] == 72 and body["status"] == "RUNNING"
    assert body["writable_partition_count"] == body["readable_partition_count"] == 2
    assert body["has_more_partitions"] is False and body["stream_id"]
    assert [p["partition_id"] for p in body["partitions"]] == ["shardId-0000000000", "shardId-0000000001"]
    assert {p["status"] for p in body["partitions"]} == {"ACTIVE"}
    assert [p["sequence_number_range"] for p in body["partitions"]] == ["[0 : 0]", "[0 : 0]"]
    assert body["partitions"][0]["hash_range"].startswith("[0 : ")
    assert body["partitions"][1]["hash_range"].endswith(f" : {2**63 - 1}]")


async def test_description_pages_and_checks_its_parameters(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`limit_partitions` and an exclusive `start_partitionId` page the partitions; a bad limit is DIS.4200,
    a missing stream DIS.4301."""
    sim.add_stream("orders", partitions=5)
    first = (await http.get("/orders", params={"limit_partitions": 2})).json()
    assert [p["partition_id"][-1] for p in first["partitions"]] == ["0", "1"] and first["has_more_partitions"]
    params = {"limit_partitions": 2, "start_partitionId": "shardId-0000000003"}
    last = (await http.get("/orders", params=params)).json()
    assert [p["partition_id"][-1] for p in last["partitions"]] == ["4"] and not last["has_more_partitions"]
    for bad in ("0", "1001", "x"):
        response = await http.get("/orders", params={"limit_partitions": bad})
        assert response.status_code == 400 and response.json()["errorCode"] == "DIS.4200"
    missing = await http.get("/ghost")
    assert missing.status_code == 400 and missing.json()["errorCode"] == "DIS.4301"


async def test_produce_grows_the_ranges(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """Records produced to one partition, or spread over all, move the end of their sequence ranges."""
    sim.add_stream("orders", partitions=3)
    sim.produce("orders", 10)
    sim.produce("orders", 5, partition=2)
    assert await ranges(http, "orders") == ["[0 : 4]", "[0 : 3]", "[0 : 8]"]


async def test_flow_catches_tasks_up(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """One flow step sends every partition's records: offsets reach the range's end, times become the step's,
    and the list shows the task's last transfer; a step with nothing new changes nothing."""
    sim.add_stream("orders", [SimTask("to-obs")], partitions=2)
    sim.produce("orders", 300)
    at = time.time() - 5
    assert sim.flow(at=at) == 1
    parts = await partitions(http, "orders", "to-obs")
    assert [p["last_transfer_offset"] for p in parts] == [150, 150]
    assert {p["last_transfer_timestamp"] for p in parts} == {int(at * 1000)}
    listed = (await http.get("/orders/transfer-tasks")).json()["tasks"][0]
    assert listed["last_transfer_timestamp"] == int(at * 1000)
    assert sim.flow() == 0
    assert {p["last_transfer_timestamp"] for p in await partitions(http, "orders", "to-obs")} == {int(at * 1000)}


async def test_a_stalled_task_stays_running_and_moves_nothing(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`stall(ago=47 min)`: the task is RUNNING, its last transfer 47 minutes old, and records pile up however
    many flow steps pass; un-stalled, the next step catches it up."""
    sim.add_stream("orders", [SimTask("to-obs"), SimTask("to-dws")], partitions=2)
    sim.stall("orders", "to-obs", ago=47 * 60)
    sim.produce("orders", 12_340)
    sim.flow()
    sim.flow()
    stream = (await http.get("/orders")).json()
    body = (await http.get("/orders/transfer-tasks/to-obs")).json()
    assert body["state"] == "RUNNING"
    assert [p["last_transfer_offset"] for p in body["partitions"]] == [0, 0]
    assert [p["last_transfer_offset"] for p in await partitions(http, "orders", "to-dws")] == [6170, 6170]
    ago = time.time() - body["partitions"][0]["last_transfer_timestamp"] / 1000
    assert 47 * 60 <= ago < 47 * 60 + 5
    lag = task_lag(TaskDetail.model_validate(body), StreamDetail.model_validate(stream), read_at=time.time())
    assert lag.backlog == 12_340 and lag.is_stalled(30 * 60)
    sim.stall("orders", "to-obs", on=False)
    sim.flow()
    assert [p["last_transfer_offset"] for p in await partitions(http, "orders", "to-obs")] == [6170, 6170]


async def test_a_failed_partition_stops_while_the_task_looks_fine(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`fail_partition`: that partition reports ERROR and stops sending, the task stays RUNNING and the other
    partitions keep flowing; `state=None` heals it and it catches up."""
    sim.add_stream("orders", [SimTask("to-obs")], partitions=4)
    sim.fail_partition("orders", "to-obs", 2)
    sim.produce("orders", 400)
    sim.flow()
    body = (await http.get("/orders/transfer-tasks/to-obs")).json()
    assert body["state"] == "RUNNING"
    assert [p["state"] for p in body["partitions"]] == ["RUNNING", "RUNNING", "ERROR", "RUNNING"]
    assert [p["last_transfer_offset"] for p in body["partitions"]] == [100, 100, 0, 100]
    listed = (await http.get("/orders/transfer-tasks")).json()["tasks"][0]
    assert listed["state"] == "RUNNING"
    sim.fail_partition("orders", "to-obs", 2, state=None)
    sim.flow()
    assert [p["last_transfer_offset"] for p in await partitions(http, "orders", "to-obs")] == [100] * 4


async def test_discard_counts_grow(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`discard` adds to DIS's running `discard` counts, spread over the partitions or on one of them."""
    sim.add_stream("orders", [SimTask("to-obs")], partitions=2)
    sim.discard("orders", "to-obs", 7)
    sim.discard("orders", "to-obs", 10, partition=1)
    assert [p["discard"] for p in await partitions(http, "orders", "to-obs")] == [4, 13]


async def test_set_last_transfer_makes_an_idle_task(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`set_last_transfer(ago=)` dates the last transfer without stalling: with nothing waiting the task is
    idle, and it sends again as soon as records arrive."""
    sim.add_stream("orders", [SimTask("to-obs")])
    sim.set_last_transfer("orders", "to-obs", ago=3 * 3600)
    stamp = (await partitions(http, "orders", "to-obs"))[0]["last_transfer_timestamp"]
    assert 3 * 3600 <= time.time() - stamp / 1000 < 3 * 3600 + 5
    sim.produce("orders", 3)
    assert sim.flow() == 1
    assert (await partitions(http, "orders", "to-obs"))[0]["last_transfer_offset"] == 3


async def test_flowing_steps_in_the_background(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`flowing(interval)` runs flow steps until the simulator stops."""
    sim.add_stream("orders", [SimTask("to-obs")])
    sim.produce("orders", 25)
    sim.flowing(0.01)
    await eventually(lambda: sim.task("orders", "to-obs").partitions[0].last_transfer_offset == 25)


async def test_data_clock_moves_the_datas_time(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """`data_clock` is the data's now (flow stamps it) and leaves the gateway's clock alone."""
    sim.add_stream("orders", [SimTask("to-obs")])
    sim.data_clock = lambda: 1_600_000_000.0
    sim.produce("orders", 1)
    sim.flow()
    response = await http.get("/orders/transfer-tasks/to-obs")
    assert response.status_code == 200 and response.json()["last_transfer_timestamp"] == 1_600_000_000_000


async def test_live_streams_receive_records_and_live_tasks_follow() -> None:
    """A stream with a `rate` fills by the clock; a live RUNNING task keeps up, a stalled one falls behind."""
    sim = new_simulator()
    clock = [1_700_000_000.0]
    sim.data_clock = lambda: clock[0]
    sim.add_stream("s", [SimTask("a", live=True), SimTask("b", live=True, stalled=True)], partitions=1, rate=10.0)
    clock[0] += 60
    a, b = sim.task("s", "a"), sim.task("s", "b")
    assert sim.stream("s").end(0, clock[0]) == 600
    assert a.current_offset(a.partitions[0], clock[0]) == 600
    assert b.current_offset(b.partitions[0], clock[0]) == 0


def test_sample_dataset_has_a_stalled_and_a_discarding_task() -> None:
    """The sample data keeps 24 h of records, one RUNNING task stalled 47 minutes with records waiting, and one
    RUNNING task whose discard count grows."""
    sim = new_simulator()
    sample_dataset(sim)
    now = time.time()
    stream_name, task_name = STALLED_TASK
    stalled = sim.task(stream_name, task_name)
    stream = sim.stream(stream_name)
    assert stream.retention_period == 24 and stream.rate > 0
    assert stalled.state == "RUNNING" and stalled.stalled
    assert 47 * 60 <= now - (stalled.current_timestamp(now) or 0) / 1000 < 47 * 60 + 900
    waiting = sum(stream.end(i, now) - stalled.current_offset(p, now) for i, p in enumerate(stalled.partitions))
    assert waiting > 0
    discarding = sim.task(*DISCARDING_TASK)
    part = discarding.partitions[0]
    assert discarding.state == "RUNNING"
    assert discarding.current_discard(part, now + 60) > discarding.current_discard(part, now) > 0
