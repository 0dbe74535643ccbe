"""The DIS simulator over real HTTP: auth (token, IAM, AK/SK), DIS shapes and traps, fault injection."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx
import pytest

from bot.dis.sample_data import sample_dataset, serve
from bot.dis.simulator import DisSimulator, SimTask, aksk
from tests.conftest import eventually

PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "sim-token"
AK = "SIMAKEXAMPLE"
SK = "sim-secret-key"
USERS = {("acme", "ops-bot"): "correct horse"}
BASE = f"/v2/{PROJECT}/streams"

# Huawei's documented example (API signing guide; reference §5.2).
VECTOR_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
VECTOR_HEADERS = {
    "host": "service.region.example.com",
    "content-type": "application/json",
    "x-sdk-date": "20191115T033655Z",
}
VECTOR_HASH = "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
VECTOR_AUTH = (
    "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, "
    "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
)
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def hand_signed(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    ak: str = AK,
    sk: str = SK,
    when: datetime | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """A tiny independent signer for the tests (not the simulator's, not the client's)."""
    parts = urlsplit(url)
    date = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Host": parts.netloc, "X-Sdk-Date": date, "Content-Type": "application/json", **(extra or {})}
    path = "/".join(quote(s, safe="-_.~") for s in parts.path.split("/"))
    if not path.endswith("/"):
        path += "/"
    pairs = sorted(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in parts.query.split("&") if p)
    query = "&".join(f"{k}={v}" for k, v in pairs)
    names = sorted(h.lower() for h in headers)
    lowered = {k.lower(): v for k, v in headers.items()}
    canonical = "\n".join(
        [
            method,
            path,
            query,
            "".join(f"{n}:{lowered[n].strip()}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = f"SDK-HMAC-SHA256\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    sig = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return headers


@pytest.fixture
async def sim() -> AsyncIterator[DisSimulator]:
    async with DisSimulator(project_id=PROJECT, token=TOKEN, ak=AK, sk=SK, iam_users=USERS) as simulator:
        simulator.add_stream(
            "stream-a",
            [SimTask("task-1", state="RUNNING"), SimTask("task-2", state="ERROR", destination_type="DWS")],
            partitions=2,
        )
        yield simulator


@pytest.fixture
async def http(sim: DisSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5.0) as client:
        yield client


AUTH = {"X-Auth-Token": TOKEN}


async def iam_login(http: httpx.AsyncClient, password: str = "correct horse") -> httpx.Response:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "ops-bot", "password": password, "domain": {"name": "acme"}}},
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    return await http.post("/v3/auth/tokens?nocatalog=true", json=body)


# --------------------------------------------------------------------------- AK/SK verifier (pure)


def test_verifier_reproduces_huawei_vector() -> None:
    """The simulator's own canonicalizer gives Huawei's hashed canonical request and signature."""
    canonical = aksk.canonical_request(
        "GET",
        "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        "marker=13551d6b-755d-4757-b956-536f674975c0&limit=2",
        VECTOR_HEADERS,
        ["content-type", "host", "x-sdk-date"],
        EMPTY_SHA256,
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == VECTOR_HASH
    expected_sig = VECTOR_AUTH.rsplit("Signature=", 1)[1]
    assert aksk.signature(VECTOR_SK, aksk.string_to_sign(canonical, "20191115T033655Z")) == expected_sig


def test_verifier_accepts_vector_and_rejects_tampering() -> None:
    """verify() accepts the published Authorization at its date and refuses a changed query or a late clock."""
    parsed = aksk.parse_authorization(VECTOR_AUTH)
    assert parsed is not None and parsed.access_key == "QTWAOYTTINDUT2QVKYUC"
    at = datetime(2019, 11, 15, 3, 36, 55, tzinfo=UTC).timestamp()
    args = dict(
        secret_key=VECTOR_SK,
        auth=parsed,
        method="GET",
        raw_path="/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        headers=VECTOR_HEADERS,
        body=b"",
    )
    aksk.verify(raw_query="limit=2&marker=13551d6b-755d-4757-b956-536f674975c0", now=at, **args)
    with pytest.raises(aksk.SignatureMismatch):
        aksk.verify(raw_query="limit=3&marker=13551d6b-755d-4757-b956-536f674975c0", now=at, **args)
    with pytest.raises(aksk.SignatureMismatch):
        aksk.verify(raw_query="limit=2&marker=13551d6b-755d-4757-b956-536f674975c0", now=at + 16 * 60, **args)


# --------------------------------------------------------------------------- token auth


async def test_static_token_lists_tasks(http: httpx.AsyncClient) -> None:
    """The configured token lists tasks in the documented shape, with 19-char task ids and a request id."""
    r = await http.get(f"{BASE}/stream-a/transfer-tasks", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["X-Request-Id"]
    body = r.json()
    assert body["total_number"] == 2 and body["quota"] == 5
    assert [t["task_name"] for t in body["tasks"]] == ["task-1", "task-2"]
    task = body["tasks"][1]
    assert set(task) == {"task_id", "task_name", "state", "destination_type", "create_time", "last_transfer_timestamp"}
    assert len(task["task_id"]) == 19 and task["task_id"].isalnum()
    assert task["state"] == "ERROR" and task["destination_type"] == "DWS"
    assert len(str(task["create_time"])) == 13


async def test_missing_token_is_gateway_401(http: httpx.AsyncClient) -> None:
    """No credentials: 401 APIG.0301 in the gateway's error_code/error_msg/request_id shape."""
    r = await http.get(f"{BASE}/stream-a/transfer-tasks")
    assert r.status_code == 401
    body = r.json()
    assert body["error_code"] == "APIG.0301"
    assert body["error_msg"].startswith("Incorrect IAM authentication information")
    assert body["request_id"] == r.headers["X-Request-Id"]


async def test_bad_token_is_rejected(http: httpx.AsyncClient) -> None:
    """An unknown token: 401 APIG.0301 'decrypt token fail'."""
    r = await http.get(f"{BASE}/stream-a/transfer-tasks", headers={"X-Auth-Token": "nope"})
    assert r.status_code == 401
    assert r.json()["error_code"] == "APIG.0301"
    assert "decrypt token fail" in r.json()["error_msg"]


async def test_iam_token_issue_use_and_expire(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """IAM issues a token in X-Subject-Token (201); it works until expire_tokens() makes it stale (APIG.0307)."""
    r = await iam_login(http)
    assert r.status_code == 201
    token = r.headers["X-Subject-Token"]
    body = r.json()["token"]
    assert body["project"]["id"] == PROJECT and body["expires_at"].endswith("Z")
    assert sim.tokens_issued == 1
    ok = await http.get(f"{BASE}/stream-a/transfer-tasks", headers={"X-Auth-Token": token})
    assert ok.status_code == 200
    sim.expire_tokens()
    stale = await http.get(f"{BASE}/stream-a/transfer-tasks", headers={"X-Auth-Token": token})
    assert stale.status_code == 401 and stale.json()["error_code"] == "APIG.0307"
    fresh = (await iam_login(http)).headers["X-Subject-Token"]
    again = await http.get(f"{BASE}/stream-a/transfer-tasks", headers={"X-Auth-Token": fresh})
    assert again.status_code == 200 and sim.tokens_issued == 2


async def test_iam_token_past_expiry_is_rejected(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """A token past its expires_at gets 401 APIG.0301 'token expires'."""
    sim.iam_token_ttl = -1.0
    token = (await iam_login(http)).headers["X-Subject-Token"]
    r = await http.get(f"{BASE}/stream-a/transfer-tasks", headers={"X-Auth-Token": token})
    assert r.status_code == 401 and "token expires" in r.json()["error_msg"]


async def test_iam_wrong_password(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """A wrong password gets IAM's own 401 shape and issues nothing."""
    r = await iam_login(http, password="wrong")
    assert r.status_code == 401
    assert r.json() == {
        "error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}
    }
    assert "X-Subject-Token" not in r.headers
    assert sim.tokens_issued == 0


# --------------------------------------------------------------------------- AK/SK auth


def test_verifier_decodes_the_path_before_splitting_like_the_sdk() -> None:
    """'%2F' is a separator in the canonical URI, as in Huawei's SDK and our signer; '%2D' is '-'."""
    from bot.dis.signer import canonical_uri as client_uri

    for raw in ("/v2/p%2F1/streams/a%2Fb", "/v2/p/streams/a%2Db", "/v2/p%201/streams/x~y%25", "/v2/p/streams/"):
        assert aksk.canonical_uri(raw) == client_uri(raw)
    assert aksk.canonical_uri("/v2/p%2F1/streams") == "/v2/p/1/streams/"
    assert aksk.canonical_uri("/v2/p/streams/a%2Db") == "/v2/p/streams/a-b/"


async def test_signed_requests_accepted_and_tampered_rejected(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """Correctly signed GET (with query) and POST pass; a body changed after signing is refused."""
    url = f"{sim.url}{BASE}?limit=5&start_stream_name=a"
    r = await http.get(url, headers=hand_signed("GET", url))
    assert r.status_code == 200 and r.json()["stream_names"] == ["stream-a"]

    task_id = sim.task("stream-a", "task-1").task_id
    action_url = f"{sim.url}{BASE}/stream-a/transfer-tasks/action"
    body = json.dumps({"action": "stop", "tasks": [{"id": task_id}]}).encode()
    r = await http.post(action_url, content=body, headers=hand_signed("POST", action_url, body))
    assert r.status_code == 200 and r.content == b""

    tampered = body.replace(b"stop", b"start")
    r = await http.post(action_url, content=tampered, headers=hand_signed("POST", action_url, body))
    assert r.status_code == 401
    assert r.json()["error_code"] == "APIG.0301"
    assert r.json()["error_msg"] == "Incorrect IAM authentication information: verify aksk signature fail"
    assert sim.task("stream-a", "task-1").state == "PAUSED"


async def test_unknown_ak_and_stale_date(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """An unknown AK and an X-Sdk-Date 20 minutes old are both 401 APIG.0301."""
    url = f"{sim.url}{BASE}"
    r = await http.get(url, headers=hand_signed("GET", url, ak="OTHERAK"))
    assert r.status_code == 401 and "ak not exist" in r.json()["error_msg"]
    old = datetime.fromtimestamp(time.time() - 20 * 60, UTC)
    r = await http.get(url, headers=hand_signed("GET", url, when=old))
    assert r.status_code == 401 and "verify aksk signature fail" in r.json()["error_msg"]


async def test_ak_locked_after_five_failures(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """Five consecutive bad signatures lock the AK: even a good one is then refused until the lock ends."""
    url = f"{sim.url}{BASE}"
    for _ in range(4):
        assert (await http.get(url, headers=hand_signed("GET", url, sk="wrong"))).status_code == 401
    assert (await http.get(url, headers=hand_signed("GET", url))).status_code == 200  # success resets the run
    for _ in range(5):
        r = await http.get(url, headers=hand_signed("GET", url, sk="wrong"))
        assert "verify aksk signature fail" in r.json()["error_msg"]
    locked = await http.get(url, headers=hand_signed("GET", url))
    assert locked.status_code == 401
    assert "AK access failed to reach the limit,forbidden" in locked.json()["error_msg"]

    real_clock = sim.clock
    sim.clock = lambda: real_clock() + sim.ak_lock_seconds + 1  # five minutes later the lock has ended
    assert (await http.get(url, headers=hand_signed("GET", url))).status_code == 200


async def test_security_token_required_when_configured(http: httpx.AsyncClient) -> None:
    """With a configured security token, a signed request must carry the same X-Security-Token."""
    async with DisSimulator(project_id=PROJECT, ak=AK, sk=SK, security_token="stok") as temp:
        url = f"{temp.url}{BASE}"
        assert (await http.get(url, headers=hand_signed("GET", url))).status_code == 401
        wrong = hand_signed("GET", url, extra={"X-Security-Token": "other"})
        assert (await http.get(url, headers=wrong)).status_code == 401
        good = hand_signed("GET", url, extra={"X-Security-Token": "stok"})
        assert (await http.get(url, headers=good)).status_code == 200


# --------------------------------------------------------------------------- DIS shapes


async def test_not_found_is_http_400(http: httpx.AsyncClient) -> None:
    """Missing stream and task are HTTP 400 DIS.4301/DIS.4354 with name and request id in the message."""
    r = await http.get(f"{BASE}/nope/transfer-tasks", headers=AUTH)
    assert r.status_code == 400
    assert r.json() == {
        "errorCode": "DIS.4301",
        "message": f"Stream does not exist. [nope][{r.headers['X-Request-Id']}]",
    }
    r = await http.get(f"{BASE}/stream-a/transfer-tasks/ghost", headers=AUTH)
    assert r.status_code == 400 and r.json()["errorCode"] == "DIS.4354"
    assert "[ghost]" in r.json()["message"]


async def test_wrong_project_and_unknown_route(http: httpx.AsyncClient) -> None:
    """Another project id is 400 DIS.4117; an unknown path is the gateway's 404 APIG.0101."""
    r = await http.get("/v2/ffffffffffffffffffffffffffffffff/streams", headers=AUTH)
    assert r.status_code == 400 and r.json()["errorCode"] == "DIS.4117"
    r = await http.get(f"{BASE}/stream-a/metrics-nope/x", headers=AUTH)
    assert r.status_code == 404 and r.json()["error_code"] == "APIG.0101"
    assert r.headers["X-Request-Id"]


async def test_show_task_shape(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """Show-task has stream/task ids, camelCase partitionId and the DWS block under its misspelt key."""
    sim.set_partition("stream-a", "task-2", 1, discard=42)
    r = await http.get(f"{BASE}/stream-a/transfer-tasks/task-2", headers=AUTH)
    body = r.json()
    assert body["task_id"] == sim.task("stream-a", "task-2").task_id and len(body["stream_id"]) == 19
    assert "dws_destination_descripton" in body
    assert [p["partitionId"] for p in body["partitions"]] == ["shardId-0000000000", "shardId-0000000001"]
    assert body["partitions"][1]["discard"] == 42
    assert set(body["partitions"][0]) == {
        "partitionId",
        "discard",
        "state",
        "last_transfer_timestamp",
        "last_transfer_offset",
    }
    obs = (await http.get(f"{BASE}/stream-a/transfer-tasks/task-1", headers=AUTH)).json()
    assert obs["obs_destination_description"]["agency_name"] == "dis_admin_agency"


async def test_stream_pagination(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """25 streams page as 10/10/6 with an exclusive start name, sorted, total_number over all streams."""
    for i in range(25):
        sim.add_stream(f"s{i:02d}")
    pages, start = [], None
    while True:
        params = {"limit": 10} | ({"start_stream_name": start} if start else {})
        body = (await http.get(BASE, params=params, headers=AUTH)).json()
        assert body["total_number"] == 26
        assert [s["stream_name"] for s in body["stream_info_list"]] == body["stream_names"]
        pages.append(body["stream_names"])
        if not body["has_more_streams"]:
            break
        start = body["stream_names"][-1]
    assert [len(p) for p in pages] == [10, 10, 6]
    assert [name for page in pages for name in page] == sorted([f"s{i:02d}" for i in range(25)] + ["stream-a"])
    default = (await http.get(BASE, headers=AUTH)).json()
    assert len(default["stream_names"]) == 10
    for bad in ("0", "101", "x"):
        r = await http.get(BASE, params={"limit": bad}, headers=AUTH)
        assert r.status_code == 400 and r.json()["errorCode"] == "DIS.4200"


async def test_action_start_stop(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """stop pauses and start runs tasks by task_id; a task name or unknown id is DIS.4354 and changes nothing."""
    url = f"{BASE}/stream-a/transfer-tasks/action"
    id1, id2 = sim.task("stream-a", "task-1").task_id, sim.task("stream-a", "task-2").task_id
    r = await http.post(url, json={"action": "stop", "tasks": [{"id": id1}]}, headers=AUTH)
    assert r.status_code == 200 and r.content == b""
    assert sim.task("stream-a", "task-1").state == "PAUSED"
    r = await http.post(url, json={"action": "start", "tasks": [{"id": id2}, {"id": "task-1"}]}, headers=AUTH)
    assert r.status_code == 400 and r.json()["errorCode"] == "DIS.4354"
    assert sim.task("stream-a", "task-2").state == "ERROR"
    r = await http.post(url, json={"action": "start", "tasks": [{"id": id1}, {"id": id2}]}, headers=AUTH)
    assert r.status_code == 200
    states = {
        t["task_name"]: t["state"]
        for t in (await http.get(f"{BASE}/stream-a/transfer-tasks", headers=AUTH)).json()["tasks"]
    }
    assert states == {"task-1": "RUNNING", "task-2": "RUNNING"}


async def test_action_passes_through_starting(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """With start_delay, start shows STARTING first and becomes RUNNING afterwards."""
    sim.start_delay = 0.05
    task = sim.task("stream-a", "task-2")
    url = f"{BASE}/stream-a/transfer-tasks/action"
    await http.post(url, json={"action": "start", "tasks": [{"id": task.task_id}]}, headers=AUTH)
    assert task.state == "STARTING"
    await eventually(lambda: task.state == "RUNNING")


async def test_action_bad_bodies(http: httpx.AsyncClient) -> None:
    """Garbled JSON is DIS.4300, an empty body DIS.4202, an unknown action DIS.4200; missing stream DIS.4301."""
    url = f"{BASE}/stream-a/transfer-tasks/action"
    r = await http.post(url, content=b"{not json", headers=AUTH)
    assert r.status_code == 400 and r.json()["errorCode"] == "DIS.4300"
    r = await http.post(url, content=b"", headers=AUTH)
    assert r.json()["errorCode"] == "DIS.4202"
    r = await http.post(url, json={"action": "restart", "tasks": [{"id": "x"}]}, headers=AUTH)
    assert r.json()["errorCode"] == "DIS.4200"
    r = await http.post(f"{BASE}/gone/transfer-tasks/action", json={"action": "stop", "tasks": []}, headers=AUTH)
    assert r.json()["errorCode"] == "DIS.4301"


async def test_any_state_string_is_served(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """set_state accepts unknown states; list and partitions report them."""
    sim.set_state("stream-a", "task-1", "FROZEN")
    r = await http.get(f"{BASE}/stream-a/transfer-tasks/task-1", headers=AUTH)
    assert r.json()["state"] == "FROZEN" and {p["state"] for p in r.json()["partitions"]} == {"FROZEN"}


# --------------------------------------------------------------------------- fault injection, latency, counts


async def test_fail_next_429_then_recovers(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """fail_next(429) answers APIG.0308 with Retry-After, then normal service resumes."""
    sim.fail_next(2, status=429)
    for _ in range(2):
        r = await http.get(f"{BASE}/stream-a/transfer-tasks", headers=AUTH)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.json()["error_code"] == "APIG.0308"
    assert (await http.get(f"{BASE}/stream-a/transfer-tasks", headers=AUTH)).status_code == 200


async def test_fail_next_503_garbled_and_path_filter(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """503 has a DIS.5xxx body; a str body is sent verbatim; a path filter leaves other paths alone."""
    sim.fail_next(1, status=503)
    r = await http.get(BASE, headers=AUTH)
    assert r.status_code == 503 and r.json()["errorCode"].startswith("DIS.5")
    sim.fail_next(1, status=200, body='{"tasks": [', path="/transfer-tasks")
    assert (await http.get(BASE, headers=AUTH)).status_code == 200
    r = await http.get(f"{BASE}/stream-a/transfer-tasks", headers=AUTH)
    assert r.status_code == 200 and r.text == '{"tasks": ['
    assert r.headers["X-Request-Id"]


async def test_latency_is_concurrent(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """Ten parallel requests at 0.2 s latency overlap instead of queueing."""
    sim.latency = 0.2
    started = time.monotonic()
    responses = await asyncio.gather(*(http.get(BASE, headers=AUTH) for _ in range(10)))
    elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in responses)
    assert 0.2 <= elapsed < 1.5


async def test_counts_include_failures(sim: DisSimulator, http: httpx.AsyncClient) -> None:
    """count() sees every request, failed and unauthorized ones too, filtered by path and method."""
    sim.fail_next(1, status=500)
    await http.get(f"{BASE}/stream-a/transfer-tasks", headers=AUTH)
    await http.get(f"{BASE}/stream-a/transfer-tasks")
    await http.post(f"{BASE}/stream-a/transfer-tasks/action", json={}, headers=AUTH)
    assert sim.count() == 3
    assert sim.count(path="/transfer-tasks", method="GET") == 2
    assert sim.count(method="POST") == 1
    assert sim.counts[f"GET {BASE}/stream-a/transfer-tasks"] == 2
    sim.reset_counts()
    assert sim.count() == 0


def test_running_in_thread_serves_sync_clients() -> None:
    """running_in_thread serves a sync client; scripting from the test thread is visible at once."""
    sim = DisSimulator(project_id=PROJECT, token=TOKEN)
    sim.add_stream("s", [SimTask("t")])
    with sim.running_in_thread() as url, httpx.Client(base_url=url, headers=AUTH) as client:
        assert client.get(f"{BASE}/s/transfer-tasks").json()["tasks"][0]["state"] == "RUNNING"
        sim.set_state("s", "t", "ABNORMAL")
        assert client.get(f"{BASE}/s/transfer-tasks").json()["tasks"][0]["state"] == "ABNORMAL"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}{BASE}", headers=AUTH, timeout=1.0)


# --------------------------------------------------------------------------- sample data, churn, serve


def test_sample_dataset_is_realistic() -> None:
    """Six streams, 1-5 tasks each, one ABNORMAL, several destinations; live offsets and times advance."""
    sim = DisSimulator(project_id=PROJECT)
    names = sample_dataset(sim)
    assert len(names) == 6 and sim.stream_names() == sorted(names)
    per_stream = [sim.tasks(n) for n in names]
    tasks = [t for ts in per_stream for t in ts]
    assert all(1 <= len(ts) <= 5 for ts in per_stream)
    assert sum(t.state == "ABNORMAL" for t in tasks) == 1
    assert {t.destination_type for t in tasks} >= {"OBS", "DLI", "DWS", "MRS"}
    running = next(t for t in tasks if t.state == "RUNNING")
    now = time.time()
    p = running.partitions[0]
    assert running.current_offset(p, now + 60) > running.current_offset(p, now)
    later = running.current_timestamp(now + 2 * running.deliver_interval)
    assert later is not None and later > (running.current_timestamp(now) or 0)
    abnormal = next(t for t in tasks if t.state == "ABNORMAL")
    assert abnormal.current_timestamp(now + 3600) == abnormal.current_timestamp(now)


async def test_churn_breaks_and_recovers_tasks() -> None:
    """churn() makes running tasks fail now and then and brings failed ones back."""
    async with DisSimulator(project_id=PROJECT) as sim:
        sim.add_stream("s", [SimTask(f"t{i}") for i in range(3)])
        seen: set[str] = set()
        sim.churn(interval=0.01, rng=random.Random(1))

        def states() -> bool:
            seen.update(t.state for t in sim.tasks("s"))
            broken = {"ERROR", "ABNORMAL"} & seen
            return bool(broken) and all(sim.task("s", f"t{i}").state == "RUNNING" for i in range(3))

        await eventually(states)
    assert {"ERROR", "ABNORMAL"} & seen


async def test_serve_prints_settings_and_answers() -> None:
    """serve() prints the DIS_* settings and serves the sample dataset with them until cancelled."""
    lines: list[str] = []
    printed = asyncio.Event()

    def out(line: str) -> None:
        lines.append(line)
        if line.startswith("Streams:"):
            printed.set()

    runner = asyncio.create_task(serve(0, out=out, token="demo-token"))
    await asyncio.wait_for(printed.wait(), 5)
    settings = dict(line.split("export ", 1)[1].split("=", 1) for line in lines if "export " in line)
    assert set(settings) == {"DIS_ENDPOINT", "DIS_PROJECT_ID", "DIS_REGION", "DIS_AUTH_TOKEN"}
    async with httpx.AsyncClient(base_url=settings["DIS_ENDPOINT"]) as client:
        r = await client.get(
            f"/v2/{settings['DIS_PROJECT_ID']}/streams/clickstream/transfer-tasks",
            headers={"X-Auth-Token": settings["DIS_AUTH_TOKEN"]},
        )
    assert r.status_code == 200 and "ABNORMAL" in {t["state"] for t in r.json()["tasks"]}
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
