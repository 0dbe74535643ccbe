"""`dis-bot`: the command line. Thin: parse arguments, load settings, call a service, print.

Errors end as one line on stderr and a non-zero exit code (2 for settings, 1 for DIS), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot import version
from bot.blocks.limits import age, plain_time
from bot.config import Check, Settings, load_settings
from bot.dis.models import StreamInfo, TaskList
from bot.errors import BotError, ConfigError

if TYPE_CHECKING:
    from bot.store.copy_db import CopyReport

EXIT_DIS = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dis-bot",
        description="Slack chat-ops bot for Huawei Cloud DIS dump tasks. Settings come from the environment and .env.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tasks = sub.add_parser("tasks", help="list a stream's dump tasks, problem states first")
    tasks.add_argument("stream")
    tasks.add_argument("--json", action="store_true", help="print the normalized result as JSON")

    streams = sub.add_parser("streams", help="list the project's streams")
    streams.add_argument("--json", action="store_true", help="print the streams as JSON")

    sim = sub.add_parser("simulator", help="run the DIS simulator with a sample dataset (for tests and demos)")
    sim.add_argument("--port", type=int, default=8787)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--churn", action="store_true", help="let tasks fail and recover now and then")

    demo = sub.add_parser("demo", help="demo on simulated DIS data (Slack simulated too unless tokens are set)")
    demo.add_argument(
        "--port",
        type=int,
        default=None,
        help="simulator port, where dis-bot tasks reaches it (default 8787, or a free port when 8787 is taken)",
    )
    demo.add_argument("--interval", type=float, default=5.0, help="watcher poll interval in seconds")

    sub.add_parser("serve", help="run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP on $PORT)")

    copy = sub.add_parser(
        "migrate-db",
        help="copy the bot's database FROM into an empty TO, e.g. SQLite to PostgreSQL (stop the bot first)",
        description=(
            "Copy every watch, task state, episode, alert, snooze and outbox row of FROM into TO, in one "
            "transaction. FROM and TO are database URLs as DATABASE_URL takes them (sqlite:///dis-bot.db, "
            "postgresql://user:password@host/db, postgres://...?sslmode=require). Both are first migrated to this "
            "bot's schema (FROM in place). TO must hold no data yet. Stop the bot (every replica) first: what it "
            "writes during the copy would be lost. Then point DATABASE_URL at TO and start the bot."
        ),
    )
    copy.add_argument("source", metavar="FROM", help="the database to copy (it is only read, once migrated)")
    copy.add_argument("target", metavar="TO", help="the empty database to copy into (created or migrated first)")
    copy.add_argument("--json", action="store_true", help="print one JSON object: from, to, rows per table")
    return parser


def format_task_table(result: TaskList, now: float | None = None) -> str:
    """A readable table of one stream's tasks, problem states first."""
    now = time.time() if now is None else now
    quota = f", quota {result.quota}" if result.quota is not None else ""
    counts = ", ".join(f"{n} {state}" for state, n in result.counts().items()) or "no tasks"
    as_of = plain_time(int(result.fetched_at * 1000))
    lines = [f"{result.stream}: {result.total_number} task(s){quota} ({counts}) as of {as_of}"]
    if not result.tasks:
        return lines[0]
    rows = [("  TASK", "STATE", "DESTINATION", "CREATED", "LAST TRANSFER")]
    for t in result.sorted_tasks():
        marker = "!" if t.is_problem else " "
        rows.append(
            (
                f"{marker} {t.task_name}",
                t.state,
                t.destination_type or "-",
                plain_time(t.create_time),
                age(t.last_transfer_timestamp, now),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return "\n".join(lines)


def format_streams(streams: Sequence[StreamInfo]) -> str:
    if not streams:
        return "No streams in this project."
    rows = [("STREAM", "STATUS", "TYPE", "PARTITIONS")]
    rows += [(s.stream_name, s.status or "-", s.stream_type or "-", str(s.partition_count or "-")) for s in streams]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _log_only_when_asked(settings: Settings) -> None:
    """One-shot commands log (to stderr) only when LOG_LEVEL is set, so an error stays one line.

    Without any handler Python would print bare WARNING records ("dis.gave_up") on stderr by itself.
    """
    if "log_level" in settings.model_fields_set:
        from bot.logs import configure_logging

        configure_logging(settings)
    else:
        logging.getLogger().addHandler(logging.NullHandler())


async def _with_client(settings: Settings, work: Callable[[Any], Awaitable[str]]) -> str:
    from bot.dis.client import DisClient

    _log_only_when_asked(settings)
    async with DisClient(settings) as client:
        return await work(client)


def _tasks(settings: Settings, args: argparse.Namespace) -> str:
    async def work(client: Any) -> str:
        result: TaskList = await client.list_transfer_tasks(args.stream)
        return json.dumps(result.to_json(), indent=2) if args.json else format_task_table(result)

    return asyncio.run(_with_client(settings.require_dis(), work))


def _streams(settings: Settings, args: argparse.Namespace) -> str:
    async def work(client: Any) -> str:
        streams: list[StreamInfo] = await client.list_streams()
        if args.json:
            return json.dumps({"streams": [s.model_dump() for s in streams]}, indent=2)
        return format_streams(streams)

    return asyncio.run(_with_client(settings.require_dis(), work))


def _simulator(settings: Settings, args: argparse.Namespace) -> str:
    from bot.dis.simulator import serve

    asyncio.run(serve(args.port, host=args.host, churn=args.churn))
    return ""


def _demo(settings: Settings, args: argparse.Namespace) -> str:
    from bot.demo import run_demo

    asyncio.run(run_demo(settings, port=args.port, interval=args.interval))
    return ""


def _serve(settings: Settings, args: argparse.Namespace) -> str:
    from bot.server import serve

    asyncio.run(serve(settings))
    return ""


def _migrate_db(settings: Settings, args: argparse.Namespace) -> str:
    from bot.store.copy_db import copy_database

    _log_only_when_asked(settings)
    report = asyncio.run(copy_database(args.source, args.target))
    if args.json:
        return json.dumps(report.to_json(), indent=2)
    return format_copy_report(report)


def format_copy_report(report: CopyReport) -> str:
    """One line per table (rows copied), then what was copied where and what to do next."""
    width = max(len(name) for name in report.tables)
    lines = [
        f"{name.ljust(width)}  term {report.term}"
        if name == "leadership"
        else f"{name.ljust(width)}  {n} row{'' if n == 1 else 's'}"
        for name, n in report.tables.items()
    ]
    total = sum(n for name, n in report.tables.items() if name != "leadership")
    lines.append(
        f"copied {total} rows from {report.source} to {report.target} in {report.seconds:.2f} s: "
        "point DATABASE_URL at it and start the bot"
    )
    return "\n".join(lines)


_COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], str]] = {
    "tasks": _tasks,
    "streams": _streams,
    "simulator": _simulator,
    "demo": _demo,
    "serve": _serve,
    "migrate-db": _migrate_db,
}


def _serve_problems(settings: Settings) -> list[str]:
    """What `serve` needs: DIS and Slack settings, and a DIS_WATCH that parses (else the watcher refuses it later)."""
    from bot.watcher.config import parse_dis_watch

    problems = settings.bot_problems()
    try:
        parse_dis_watch(settings.dis_watch)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


#: What each command needs of the settings, checked with the values themselves so one message lists every problem.
_NEEDS: dict[str, Check] = {
    "tasks": Settings.dis_problems,
    "streams": Settings.dis_problems,
    "serve": _serve_problems,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(_NEEDS.get(args.command))
        out = _COMMANDS[args.command](settings, args)
    except ConfigError as exc:
        print(f"dis-bot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BotError as exc:  # DisError and any other error raised on purpose
        print(f"dis-bot: {exc}", file=sys.stderr)
        return EXIT_DIS
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the contract is one line, never a traceback; details go to the debug log
        logging.getLogger("bot.cli").debug("cli.crash", exc_info=True)
        print(f"dis-bot: unexpected {type(exc).__name__}; run with LOG_LEVEL=DEBUG for details", file=sys.stderr)
        return EXIT_DIS
    if out:
        print(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
