"""`dis-bot serve` whose DIS credentials are rejected at start: it keeps running, logs one ERROR naming the
variable, `/readyz` says so, and it is ready once DIS accepts the credentials."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from bot.devtools.fake_slack import FakeSlack
from bot.dis.simulator import SimTask
from bot.server import build_deps
from bot.services.dis_credentials import check_dis_credentials
from tests.conftest import SECRETS, SIM_TOKEN, free_port, settings_for
from tests.test_serve_process import BOT_TOKEN, serve_env, served_bot

#: A token DIS does not know yet (the one the admin is rolling out).
NEW_TOKEN = "new-dis-token-0123456789abcdef"


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/readyz")
    return response.status_code, response.json()


async def until_ready(port: int) -> dict[str, Any]:
    """Poll another process's /readyz until it says ready (5 s at most)."""
    async with asyncio.timeout(5):
        while True:
            status, body = await readyz(port)
            if status == 200:
                return body
            await asyncio.sleep(0.05)


def error_lines(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line["level"] == "error"]


async def test_rejected_dis_token_at_start_keeps_serving_and_says_so(sim, tmp_path) -> None:
    """DIS refusing DIS_AUTH_TOKEN at start: the process serves, logs one ERROR naming DIS_AUTH_TOKEN, /readyz is
    503 with `dis_credentials` naming it; once DIS accepts the token the next poll makes it ready (no restart)."""
    sim.add_stream("orders-prod", [SimTask("to-obs")])
    port = free_port()
    async with FakeSlack(token=BOT_TOKEN) as fake:
        env = serve_env(
            sim, fake, port, DIS_AUTH_TOKEN=NEW_TOKEN, DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
            DIS_WATCH="orders-prod=C0ALERTS",
        )  # fmt: skip
        async with served_bot(env, tmp_path) as bot:
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            status, body = await readyz(port)
            assert status == 503 and body["ready"] is False
            assert body["dis_credentials"] == {
                "ok": False,
                "reason": "DIS refused the credentials in DIS_AUTH_TOKEN at start-up (HTTP 401, APIG.0301)",
            }
            [error] = error_lines(bot.output)
            assert error["event"] == "server.dis_credentials_rejected"
            assert "DIS rejected the token in DIS_AUTH_TOKEN" in error["detail"]

            sim.token = NEW_TOKEN  # the key is live now: the watcher's next poll is accepted
            body = await until_ready(port)
            assert body["dis_credentials"] == {"ok": True}
            code, _ = await bot.stop()
        output = bot.output
        assert code == 0, output
        assert len(error_lines(output)) == 1 and "server.dis_credentials_accepted" in output
        assert fake.calls_to("chat.postMessage") == []  # rejected polls are no task failure
        for secret in (NEW_TOKEN, SIM_TOKEN, BOT_TOKEN):
            assert secret not in output and secret not in json.dumps(body)


@pytest.mark.parametrize(
    ("mode", "wrong", "named"),
    [
        ("aksk", {"CLOUD_SDK_SK": "wrong-sk-value-0123456789"}, "CLOUD_SDK_AK, CLOUD_SDK_SK"),
        ("iam-password", {"IAM_PASSWORD": "wrong-password-0123456789"}, "IAM_USERNAME, IAM_PASSWORD"),
    ],
)
async def test_start_up_check_names_the_variables_of_each_auth_mode(
    sim, caplog: pytest.LogCaptureFixture, mode: str, wrong: dict[str, str], named: str
) -> None:
    """AK/SK or IAM password refused by the simulator: one ERROR whose detail names the mode's variables, and a
    failing `dis_credentials` readiness naming them too; no secret in either."""
    deps = build_deps(settings_for(sim, mode, SLACK_BOT_TOKEN=BOT_TOKEN, **wrong))
    caplog.set_level(logging.INFO, logger="bot")
    try:
        await check_dis_credentials(deps.settings, deps.dis, deps.health)
        ready, detail = deps.health.status()
    finally:
        await deps.dis.aclose()
    assert not ready and named in detail["dis_credentials"]["reason"]
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage() == "server.dis_credentials_rejected"
    assert named.split(", ")[-1] in error.detail  # type: ignore[attr-defined]
    texts = json.dumps(detail) + error.detail  # type: ignore[attr-defined]
    for secret in (*wrong.values(), *SECRETS):
        assert secret not in texts
