"""The three auth modes end to end against the simulator, IAM token renewal, and secrets kept out of sight."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from bot.dis.auth import IamPasswordAuth, build_auth
from bot.dis.client import DisClient
from bot.dis.simulator import DisSimulator, SimTask
from bot.errors import AuthError, DisError, Garbled, InvalidName, NotFound, RequestRejected, Unavailable
from tests.conftest import (
    FAST_RETRY,
    IAM_PASSWORD,
    SECRETS,
    SIM_AK,
    SIM_SECURITY_TOKEN,
    SIM_SK,
    SIM_TOKEN,
    ManualClock,
    free_port,
    new_simulator,
    settings_for,
)

IAM_PATH = "/v3/auth/tokens"


async def iam_client(sim: DisSimulator, http: httpx.AsyncClient, **options: object) -> DisClient:
    settings = settings_for(sim, "iam-password")
    return DisClient(settings, http=http, retry=FAST_RETRY, auth=build_auth(settings, http, **options))


# --- token ---


async def test_token_mode_sends_the_token(sim: DisSimulator, make_client) -> None:
    """DIS_AUTH_TOKEN goes out as X-Auth-Token and is accepted."""
    sim.add_stream("orders", [SimTask("a")])
    assert len((await make_client(sim, "token").list_transfer_tasks("orders")).tasks) == 1


async def test_bad_token_is_one_auth_error(sim: DisSimulator, make_client) -> None:
    """A token DIS refuses is an AuthError telling to set a fresh DIS_AUTH_TOKEN, after one request."""
    with pytest.raises(AuthError) as caught:
        await make_client(sim, "token", DIS_AUTH_TOKEN="stale-token-value").list_streams()
    assert "DIS_AUTH_TOKEN" in str(caught.value) and caught.value.code == "APIG.0301"
    assert "stale-token-value" not in str(caught.value) and "stale-token-value" not in repr(caught.value)
    assert sim.count() == 1


# --- AK/SK ---


async def test_aksk_signed_get_and_post(sim: DisSimulator, make_client) -> None:
    """Signed GETs (with and without a query) and a signed POST with a JSON body all verify."""
    sim.add_stream("orders", [SimTask("a")])
    client = make_client(sim, "aksk")
    assert [s.stream_name for s in await client.list_streams()] == ["orders"]
    await client.show_transfer_task("orders", "a")
    await client.stop_transfer_tasks("orders", [sim.task("orders", "a").task_id])
    assert sim.task("orders", "a").state == "PAUSED"


async def test_aksk_with_security_token() -> None:
    """Temporary credentials send and sign X-Security-Token; without it the gateway refuses."""
    async with new_simulator(security_token=SIM_SECURITY_TOKEN) as sim:
        sim.add_stream("orders")
        async with DisClient(settings_for(sim, "aksk"), retry=FAST_RETRY) as client:
            assert client.auth.secrets()[-1] == SIM_SECURITY_TOKEN
            await client.list_transfer_tasks("orders")
        settings = settings_for(sim, "aksk", CLOUD_SDK_SECURITY_TOKEN=None)
        async with DisClient(settings, retry=FAST_RETRY) as client:
            with pytest.raises(AuthError):
                await client.list_transfer_tasks("orders")


async def test_aksk_bad_secret_is_never_retried(sim: DisSimulator, make_client) -> None:
    """A wrong SK gives AuthError after exactly one request per call, so the AK is not locked by us."""
    client = make_client(sim, "aksk", CLOUD_SDK_SK="wrong-secret-key-value")
    for expected in (1, 2, 3):
        with pytest.raises(AuthError) as caught:
            await client.list_streams()
        assert sim.count() == expected
    message = str(caught.value)
    assert "CLOUD_SDK_AK" in message and "15 min" in message
    assert "wrong-secret-key-value" not in message and SIM_AK not in message


async def test_aksk_clock_skew_is_refused(sim: DisSimulator) -> None:
    """A signature dated 20 minutes ago is refused (the gateway allows 15 minutes of skew)."""
    from datetime import UTC, datetime, timedelta

    from bot.dis.auth import AkSkAuth

    auth = AkSkAuth(SIM_AK, SIM_SK, now=lambda: datetime.now(UTC) - timedelta(minutes=20))
    async with DisClient(settings_for(sim, "aksk"), retry=FAST_RETRY, auth=auth) as client:
        with pytest.raises(AuthError):
            await client.list_streams()


# --- IAM password ---


async def test_iam_login_once_for_concurrent_first_requests(sim: DisSimulator, make_client) -> None:
    """Twenty concurrent first requests share one IAM login."""
    sim.add_stream("orders", [SimTask("a")])
    client = make_client(sim, "iam-password")
    results = await asyncio.gather(*(client.list_transfer_tasks("orders") for _ in range(20)))
    assert all(len(r.tasks) == 1 for r in results)
    assert sim.count(path=IAM_PATH) == 1 and sim.tokens_issued == 1
    await client.list_streams()
    assert sim.count(path=IAM_PATH) == 1


async def test_iam_token_renewed_before_expiry(sim: DisSimulator) -> None:
    """With a 100 s token the client renews at 90 s (10% margin), not before."""
    sim.iam_token_ttl = 100.0
    sim.add_stream("orders")
    clock = ManualClock()
    async with httpx.AsyncClient() as http:
        client = await iam_client(sim, http, clock=clock)
        await client.list_transfer_tasks("orders")
        clock.now += 89
        await client.list_transfer_tasks("orders")
        assert sim.tokens_issued == 1
        clock.now += 2
        await client.list_transfer_tasks("orders")
        assert sim.tokens_issued == 2
    assert sim.count(path="/transfer-tasks") == 3


async def test_iam_renew_margin_is_configurable(sim: DisSimulator) -> None:
    """renew_margin caps how early a token is renewed (here 5 s before a 100 s token ends)."""
    sim.iam_token_ttl = 100.0
    clock = ManualClock()
    async with httpx.AsyncClient() as http:
        client = await iam_client(sim, http, clock=clock, renew_margin=5.0)
        await client.list_streams()
        clock.now += 94
        await client.list_streams()
        assert sim.tokens_issued == 1
        clock.now += 2
        await client.list_streams()
        assert sim.tokens_issued == 2


async def test_iam_renews_once_on_401(sim: DisSimulator, make_client) -> None:
    """A token DIS suddenly calls stale (401 APIG.0307) is renewed once and the read succeeds."""
    sim.add_stream("orders")
    client = make_client(sim, "iam-password")
    await client.list_transfer_tasks("orders")
    sim.expire_tokens()
    sim.reset_counts()
    await client.list_transfer_tasks("orders")
    assert sim.count(path=IAM_PATH) == 1 and sim.count(path="/transfer-tasks") == 2


async def test_iam_renewal_on_401_covers_start_stop(sim: DisSimulator, make_client) -> None:
    """A stale token on a POST is renewed too: the 401 means DIS did nothing."""
    sim.add_stream("orders", [SimTask("a", state="PAUSED")])
    client = make_client(sim, "iam-password")
    await client.list_streams()
    sim.expire_tokens()
    await client.start_transfer_tasks("orders", [sim.task("orders", "a").task_id])
    assert sim.task("orders", "a").state == "RUNNING"
    assert sim.count(path="/action") == 2 and sim.tokens_issued == 2


async def test_concurrent_401s_share_one_renewal(sim: DisSimulator, make_client) -> None:
    """Ten reads that all hit a stale token cause a single new login."""
    sim.add_stream("orders")
    client = make_client(sim, "iam-password")
    await client.list_streams()
    sim.expire_tokens()
    await asyncio.gather(*(client.list_transfer_tasks("orders") for _ in range(10)))
    assert sim.tokens_issued == 2


async def test_iam_second_401_is_an_auth_error(sim: DisSimulator, make_client) -> None:
    """If the renewed token is refused as well, AuthError: no loop."""
    sim.add_stream("orders")
    sim.fail_next(5, status=401, path="/transfer-tasks")
    with pytest.raises(AuthError) as caught:
        await make_client(sim, "iam-password").list_transfer_tasks("orders")
    assert sim.count(path="/transfer-tasks") == 2 and sim.tokens_issued == 2
    assert caught.value.attempts == 2


async def test_iam_441_token_invalid_is_renewed(sim: DisSimulator, make_client) -> None:
    """The DIS-native 441 DIS.4114 (token invalid) triggers the same single renewal."""
    sim.add_stream("orders")
    body = {"errorCode": "DIS.4114", "message": "Invalid X-Auth-Token."}
    sim.fail_next(1, status=441, body=body, path="/transfer-tasks")
    await make_client(sim, "iam-password").list_transfer_tasks("orders")
    assert sim.tokens_issued == 2 and sim.count(path="/transfer-tasks") == 2


async def test_iam_wrong_password(sim: DisSimulator, make_client) -> None:
    """A refused login is an AuthError naming user and account, never the password; tried once."""
    client = make_client(sim, "iam-password", IAM_PASSWORD="definitely-wrong-pass")
    results = await asyncio.gather(*(client.list_streams() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, AuthError) for r in results)
    message = str(results[0])
    assert "sim-user" in message and "sim-account" in message and "IAM_PASSWORD" in message
    assert "definitely-wrong-pass" not in message
    assert sim.count(path=IAM_PATH) == 1 and sim.count(path="/streams") == 0


async def test_iam_token_scoped_to_the_project(sim: DisSimulator, make_client) -> None:
    """The login asks for a token scoped to DIS_PROJECT_ID; IAM refuses an unknown project."""
    with pytest.raises(AuthError) as caught:
        await make_client(sim, "iam-password", DIS_PROJECT_ID="ffffffffffffffffffffffffffffffff").list_streams()
    assert "project does not exist" in str(caught.value)


async def test_iam_unreachable_is_unavailable(sim: DisSimulator, make_client) -> None:
    """IAM down: Unavailable naming IAM, retried like any read, and DIS never called."""
    with pytest.raises(Unavailable) as caught:
        await make_client(sim, "iam-password", IAM_ENDPOINT=f"http://127.0.0.1:{free_port()}").list_streams()
    assert "IAM" in str(caught.value) and "connection refused" in str(caught.value).lower()
    assert caught.value.attempts == 4 and sim.count() == 0


async def test_iam_answer_without_token_is_retried(sim: DisSimulator, make_client) -> None:
    """A 201 without X-Subject-Token is a hiccup: the read retries the login and succeeds."""
    sim.fail_next(1, status=201, body={"token": {}}, path=IAM_PATH)
    client = make_client(sim, "iam-password")
    retries: list[str] = []
    client.on_retry = lambda endpoint, reason: retries.append(reason)
    assert await client.list_streams() == []
    assert sim.count(path=IAM_PATH) == 2 and retries == ["unavailable"]


async def test_iam_login_reported_to_metrics_hook(sim: DisSimulator, make_client) -> None:
    """The IAM login shows up in on_request as endpoint "iam_login"."""
    client = make_client(sim, "iam-password")
    seen: list[tuple[str, int | str]] = []
    client.on_request = lambda endpoint, status, seconds: seen.append((endpoint, status))
    await client.list_streams()
    assert seen == [("iam_login", 201), ("list_streams", 200)]


async def test_new_iam_tokens_are_announced_for_redaction(sim: DisSimulator, make_client) -> None:
    """on_secret receives every token the client obtains (for the log filter), never the password."""
    client = make_client(sim, "iam-password")
    learned: list[str] = []
    client.on_secret = learned.append
    await client.list_streams()
    sim.expire_tokens()
    await client.list_streams()
    assert len(learned) == 2 and learned[0] != learned[1]
    assert set(learned) <= set(client.auth.secrets()) and IAM_PASSWORD not in learned


async def test_iam_strategy_without_expiry_assumes_an_hour(sim: DisSimulator) -> None:
    """An IAM answer without expires_at is trusted for an hour minus the margin, not forever."""
    sim.fail_next(1, status=201, body={"token": {}}, path=IAM_PATH, headers={"X-Subject-Token": SIM_TOKEN})
    clock = ManualClock()
    async with httpx.AsyncClient() as http:
        auth = IamPasswordAuth(
            http,
            sim.url,
            domain="sim-account",
            user="sim-user",
            password=IAM_PASSWORD,
            project_id=sim.project_id,
            clock=clock,
        )
        assert await auth.token() == SIM_TOKEN
        clock.now += 3600 * 0.9 + 1
        assert await auth.token() != SIM_TOKEN
    assert auth.logins == 2


# --- secrets never shown ---

MODES = ["token", "aksk", "aksk-temporary", "iam-password"]


@pytest.mark.parametrize("mode", MODES)
async def test_secrets_absent_from_errors_and_logs(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """Across successes and every failure kind, no secret reaches an error message or any log record."""
    # As in production (bot.logs.configure_logging): our loggers at DEBUG, libraries at INFO, because
    # httpcore's DEBUG trace prints response headers, X-Subject-Token included.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    extra = {"security_token": SIM_SECURITY_TOKEN} if mode == "aksk-temporary" else {}
    async with new_simulator(**extra) as sim:
        sim.add_stream("orders", [SimTask("a")])
        settings = settings_for(sim, mode.replace("-temporary", ""))
        errors: list[DisError] = []
        async with DisClient(settings, retry=FAST_RETRY) as client:
            await client.list_transfer_tasks("orders")
            await client.stop_transfer_tasks("orders", [sim.task("orders", "a").task_id])
            # A server message that repeats what we sent (every secret this client holds) must be masked.
            echo = f"bad credentials {' '.join(client.auth.secrets())} Signature=0123abcd"
            for times, status, body in [
                (2 if mode == "iam-password" else 1, 401, {"error_code": "APIG.0301", "error_msg": echo}),
                (4, 503, None),
                (4, 200, "{garbled"),
                (1, 400, {"errorCode": "DIS.4200", "message": echo}),
            ]:
                sim.fail_next(times, status=status, body=body, path="/streams")
                try:
                    await client.list_streams()
                except DisError as exc:
                    errors.append(exc)
            for call in (client.list_transfer_tasks("ghost"), client.show_transfer_task("orders", "bad/x")):
                try:
                    await call
                except DisError as exc:
                    errors.append(exc)
            secrets = set(SECRETS) | set(client.auth.secrets())
        wrong = {
            "token": {"DIS_AUTH_TOKEN": "wrong-token-value-123"},
            "aksk": {"CLOUD_SDK_SK": "wrong-sk-value-123"},
            "aksk-temporary": {"CLOUD_SDK_SECURITY_TOKEN": "wrong-security-token-123"},
            "iam-password": {"IAM_PASSWORD": "wrong-password-123"},
        }[mode]
        secrets |= set(wrong.values())
        async with DisClient(settings_for(sim, mode.replace("-temporary", ""), **wrong), retry=FAST_RETRY) as bad:
            try:
                await bad.list_streams()
            except DisError as exc:
                errors.append(exc)

    kinds = [AuthError, Unavailable, Garbled, RequestRejected, NotFound, InvalidName, AuthError]
    assert [type(e) for e in errors] == kinds
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.extend(str(value) for value in vars(record).values())
    assert any("***" in t for t in texts)  # the echoed secrets were found and masked
    for secret in secrets:
        assert not [t for t in texts if secret in t], f"a secret leaked in {mode} mode"
    assert not [t for t in texts if "Signature=0123abcd" in t]
