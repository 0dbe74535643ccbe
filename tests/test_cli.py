"""`dis-bot` CLI against the simulator: table, JSON contract, one-line errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bot.cli import main
from bot.dis.simulator import DisSimulator, SimTask
from tests.conftest import SIM_PROJECT, SIM_REGION, SIM_TOKEN, new_simulator


@pytest.fixture
def thread_sim() -> Iterator[tuple[DisSimulator, str]]:
    """A simulator on its own thread, so the synchronous CLI can call it."""
    sim = new_simulator()
    sim.add_stream(
        "orders-prod",
        [
            SimTask("to-obs", state="RUNNING", destination_type="OBS"),
            SimTask("to-dli", state="ERROR", destination_type="DLI"),
            SimTask("to-dws", state="FROZEN", destination_type="DWS"),
        ],
    )
    for i in range(3):
        sim.add_stream(f"extra-{i}")
    with sim.running_in_thread() as url:
        yield sim, url


def env_for(url: str) -> dict[str, str]:
    return {"DIS_REGION": SIM_REGION, "DIS_PROJECT_ID": SIM_PROJECT, "DIS_ENDPOINT": url, "DIS_AUTH_TOKEN": SIM_TOKEN}


@pytest.fixture
def cli_env(thread_sim, monkeypatch: pytest.MonkeyPatch, tmp_path) -> DisSimulator:
    sim, url = thread_sim
    for k, v in env_for(url).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return sim


def test_tasks_table_lists_problems_first(cli_env, capsys) -> None:
    """The table shows every task, ERROR first, unknown states kept as they come."""
    assert main(["tasks", "orders-prod"]) == 0
    out = capsys.readouterr().out
    assert "orders-prod: 3 task(s), quota 5" in out
    rows = [line for line in out.splitlines() if "to-" in line]
    assert [next(tok for tok in r.split() if tok.startswith("to-")) for r in rows] == ["to-dli", "to-dws", "to-obs"]
    assert rows[0].startswith("! ") and not rows[2].startswith("!")
    assert "FROZEN" in out
    assert "ago" in out or "just now" in out


def test_tasks_json_contract(cli_env, capsys) -> None:
    """--json prints exactly the documented keys."""
    assert main(["tasks", "orders-prod", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"stream", "total_number", "quota", "tasks"}
    assert data["stream"] == "orders-prod" and data["total_number"] == 3 and data["quota"] == 5
    assert set(data["tasks"][0]) == {
        "task_id",
        "task_name",
        "state",
        "destination_type",
        "create_time",
        "last_transfer_timestamp",
    }
    assert data["tasks"][0]["state"] == "ERROR"
    assert all(isinstance(t["create_time"], int) for t in data["tasks"])


def test_streams(cli_env, capsys) -> None:
    """`dis-bot streams` lists every stream; --json too."""
    assert main(["streams"]) == 0
    out = capsys.readouterr().out
    for name in ("orders-prod", "extra-0", "extra-2"):
        assert name in out
    assert main(["streams", "--json"]) == 0
    names = [s["stream_name"] for s in json.loads(capsys.readouterr().out)["streams"]]
    assert names == ["extra-0", "extra-1", "extra-2", "orders-prod"]


def test_unknown_stream_is_one_line_on_stderr(cli_env, capsys) -> None:
    """DIS's 400 DIS.4301 becomes a one-line message naming the stream, exit 1."""
    assert main(["tasks", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "Traceback" not in err


def test_invalid_name_sends_nothing(cli_env, capsys) -> None:
    """A malformed name is refused with the rule, before any request."""
    assert main(["tasks", "no spaces/allowed"]) == 1
    err = capsys.readouterr().err
    assert "letters, digits" in err
    assert cli_env.count() == 0


@pytest.mark.parametrize(
    ("status", "headers", "kind_words"),
    [
        (401, None, "DIS_AUTH_TOKEN"),  # AuthError: gateway APIG.0301
        (403, None, "permissions"),  # AuthError: DIS.4116
        (400, None, "refused"),  # RequestRejected: DIS.4200
        (404, None, "DIS_ENDPOINT"),  # RequestRejected: no such API
        (429, {"Retry-After": "0"}, "throttling"),  # Throttled, after the retries
        (503, None, "failed"),  # Unavailable, after the retries
    ],
)
def test_every_dis_error_is_one_short_line(cli_env, capsys, status, headers, kind_words) -> None:
    """Each error class ends as one short human line on stderr (exit 1): no traceback, no class name, no token."""
    cli_env.fail_next(10, status, headers=headers)
    assert main(["tasks", "orders-prod"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("dis-bot: ") and len(err) < 300, err
    assert kind_words in err and "after 0s" not in err
    assert SIM_TOKEN not in err and "Traceback" not in err and "Error(" not in err


def test_cli_logs_only_when_asked(tmp_path) -> None:
    """Retries that give up leave one stderr line; with LOG_LEVEL=DEBUG the attempts are logged, token redacted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIS_", "CLOUD_SDK_", "IAM_", "LOG_"))}
    env.update(env_for("http://127.0.0.1:9"))
    run = [sys.executable, "-m", "bot", "tasks", "orders-prod"]
    quiet = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 1
    assert quiet.stderr.count("\n") == 1 and "tried 4 times" in quiet.stderr, quiet.stderr
    env["LOG_LEVEL"] = "DEBUG"
    loud = subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert loud.returncode == 1
    assert loud.stderr.count("dis.request") == 4 and "dis.gave_up" in loud.stderr
    assert loud.stderr.splitlines()[-1] == quiet.stderr.strip()
    assert SIM_TOKEN not in loud.stderr


def test_dotenv_in_the_working_directory(thread_sim, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    """With no variables set, the CLI takes its settings from `.env` in the current directory."""
    _, url = thread_sim
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env_for(url).items()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["tasks", "orders-prod", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_number"] == 3


def test_missing_settings_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    """Without settings: exit code 2 and a message naming the variables, no traceback."""
    monkeypatch.chdir(tmp_path)
    assert main(["tasks", "orders-prod"]) == 2
    err = capsys.readouterr().err
    assert "DIS_REGION" in err and "DIS_PROJECT_ID" in err and "Traceback" not in err


def test_unreachable_dis(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    """A closed port is reported as DIS unreachable in one line, without the token."""
    monkeypatch.chdir(tmp_path)
    for k, v in env_for("http://127.0.0.1:9").items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("DIS_TIMEOUT_SECONDS", "1")
    assert main(["tasks", "orders-prod"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and SIM_TOKEN not in err and "Traceback" not in err


def test_tasks_with_a_garbled_200_is_an_error_not_no_tasks(cli_env, capsys) -> None:
    """DIS answering 200 `{"tasks": null}`: exit code 1 and one line saying the answer was not usable, never the
    "0 task(s) (no tasks)" table."""
    cli_env.fail_next(4, status=200, body={"tasks": None}, path="/streams/orders-prod/transfer-tasks")
    assert main(["tasks", "orders-prod"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "not the JSON we expect (HTTP 200; no task list) (tried 4 times)" in captured.err, captured.err


def test_console_script_end_to_end(thread_sim, tmp_path) -> None:
    """The installed entry point works as a separate process."""
    _, url = thread_sim
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIS_", "CLOUD_SDK_", "IAM_"))}
    env.update(env_for(url))
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "tasks", "orders-prod", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tasks"][0]["task_name"] == "to-dli"


def test_version_prints_the_installed_version(capsys) -> None:
    """`dis-bot --version` prints the installed package's version and exits 0."""
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"dis-bot {version('dis-bot')}"


def test_serve_lists_every_settings_problem_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    """`dis-bot serve` with malformed values and missing ones: exit 2, one line naming every problem at once."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIS_REGION", "CN North 4")
    monkeypatch.setenv("PORT", "99999")
    monkeypatch.setenv("DIS_WATCH", "orders-prod=#alerts")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for name in ("DIS_REGION is invalid", "PORT is invalid", "DIS_PROJECT_ID", "DIS_AUTH_TOKEN", "SLACK_BOT_TOKEN"):
        assert name in err, err
    assert "DIS_WATCH: '#alerts' (for orders-prod) is not a Slack channel ID" in err
    assert "SLACK_SIGNING_SECRET" in err and "SLACK_APP_TOKEN" in err
    assert "DIS_REGION is not set" not in err  # malformed is reported as malformed, once


def test_serve_without_signing_secret_names_socket_mode_as_the_other_way(
    cli_env, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """HTTP mode without SLACK_SIGNING_SECRET: exit 2, and the message offers SLACK_APP_TOKEN (Socket Mode)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-cli-test-0123456789")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dis-bot: configuration error: SLACK_SIGNING_SECRET is not set")
    assert "SLACK_APP_TOKEN" in err and "Socket Mode" in err and err.count("\n") == 1
    assert "xoxb-cli-test-0123456789" not in err
