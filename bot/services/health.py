"""Readiness: is the bot able to read DIS and talk to Slack right now?

`GET /readyz` answers 200 only when a DIS request and a Slack Web API call both succeeded within the last
`READY_MAX_AGE_SECONDS` and neither has failed since. `Health` learns that from the traffic the bot makes anyway:

- DIS: `Health.on_dis_request` has the signature of `DisClient.on_request` (one call per HTTP attempt).
  A 2xx marks DIS ok; 401/403/441, 429, 5xx, timeouts, connection errors and IAM login failures mark it failed.
  Other 4xx (a stream that does not exist) prove DIS answered and change nothing.
- Slack: `observe_slack(client, health)` wraps one `AsyncWebClient`'s `api_call`, which every Web API method goes
  through, so Bolt's calls, the watcher's and ours are all seen. `ok: true` marks Slack ok; a refused token, 429,
  5xx (or Slack's own `fatal_error`, ...) and network errors mark it failed; errors about one request (a refused
  channel such as `not_in_channel` or `no_permission`, a gone message) change nothing. Which code is which is
  decided in `bot.slack_errors`.

A quiet bot (no alerts, nobody typing) makes no calls, so readiness would lapse after `READY_MAX_AGE_SECONDS`.
Optional probes (`DisClient.list_streams`, `AsyncWebClient.auth_test`) are therefore run in the background when
a dependency's last success is older than half the limit, at most once per `probe_interval` each.

Slack heard from again (a Web API call that works after failed ones; `slack_heard()`, which the Socket Mode
server calls when its websocket opens with none open before) is told to `on_slack_back` listeners: the outbox,
whose rows that waited only for Slack then need not wait out their backoff.

Wiring is one call, made once by `bot.server.build_deps`: `connect_health(max_age, dis, slack)` (kept as `Deps.health`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import DisError
from bot.slack_errors import failure_reason

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.dis.api import DisApi

logger = logging.getLogger("bot.health")

Probe = Callable[[], Awaitable[object]]
#: An extra readiness check (`Health.add_check`): returns (ready, JSON-ready detail with a "reason" when not ready).
Check = Callable[[float], tuple[bool, dict[str, Any]]]

#: DIS statuses that say "DIS cannot serve us" (anything else non-2xx is about the request, not the service).
_DIS_FAILURE_STATUSES = {401, 403, 429, 441}
_MAX_REASON = 200


@dataclass
class _Dependency:
    """What we last heard from one dependency (monotonic times)."""

    name: str
    last_ok: float | None = None
    last_failure: float | None = None
    failure_reason: str | None = None
    failures: int = 0
    last_probe: float | None = None

    def ok(self, now: float) -> None:
        self.last_ok = now
        self.failures = 0

    def failed(self, now: float, reason: str) -> None:
        self.last_failure = now
        self.failure_reason = reason[:_MAX_REASON]
        self.failures += 1

    def failing(self) -> bool:
        """A failure was recorded after the last success (a success resets the count)."""
        return self.failures > 0

    def report(self, now: float, max_age: float) -> tuple[bool, dict[str, Any]]:
        age = None if self.last_ok is None else round(now - self.last_ok, 1)
        if self.failing():
            ready, reason = False, f"{self.name} failing: {self.failure_reason}"
        elif self.last_ok is None:
            ready, reason = False, f"no successful {self.name} call yet"
        elif now - self.last_ok > max_age:
            ready, reason = False, f"last successful {self.name} call {age:g} s ago (limit {max_age:g} s)"
        else:
            ready, reason = True, None
        out: dict[str, Any] = {"ok": ready, "last_ok_age_seconds": age}
        if reason:
            out["reason"] = reason
        if self.last_failure is not None:
            out["last_error"] = self.failure_reason
            out["last_error_age_seconds"] = round(now - self.last_failure, 1)
            out["consecutive_failures"] = self.failures
        return ready, out


class Health:
    """Tracks the last success and failure of DIS and Slack calls and decides readiness.

    Args:
        max_age_seconds: how recent the last success must be (`READY_MAX_AGE_SECONDS`).
        clock: monotonic seconds; tests pass their own.
        dis_probe: optional call that reads DIS (e.g. `dis.list_streams`), run when DIS has been quiet.
        slack_probe: optional call to the Slack Web API (e.g. `slack.auth_test`), run when Slack has been quiet.
        probe_interval: least seconds between two probes of one dependency.
        probe_timeout: seconds a probe may take before it counts as failed.
    """

    def __init__(
        self,
        max_age_seconds: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        dis_probe: Probe | None = None,
        slack_probe: Probe | None = None,
        probe_interval: float = 15.0,
        probe_timeout: float = 30.0,
    ) -> None:
        self.max_age = max_age_seconds
        self.clock = clock
        self.dis = _Dependency("DIS")
        self.slack = _Dependency("Slack")
        self.probes: dict[str, Probe | None] = {"dis": dis_probe, "slack": slack_probe}
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._checks: dict[str, Check] = {}
        self._slack_back: list[Callable[[], None]] = []

    def add_check(self, name: str, check: Check) -> None:
        """Add a readiness component beside DIS and Slack (the Socket Mode link, the store).

        `check(now)` is called on every status read with the monotonic time and must answer at once; its detail
        appears under `name` in `/readyz`. Adding a name twice replaces the first check.
        """
        self._checks[name] = check

    def on_slack_back(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever Slack is heard from again (`slack_heard`): the outbox's rows that wait for
        Slack need not wait out their backoff."""
        self._slack_back.append(callback)

    def slack_heard(self) -> None:
        """Slack answered after failures or silence: a Web API call that worked after failed ones (see
        `mark_slack_ok`), or the Socket Mode websocket opened with none open before."""
        for callback in self._slack_back:
            callback()

    # --- feeding ---

    def mark_dis_ok(self) -> None:
        self.dis.ok(self.clock())

    def mark_dis_failed(self, reason: str) -> None:
        """Record a DIS failure; `reason` is a short kind ("HTTP 503", "timeout"), never a message with data."""
        self.dis.failed(self.clock(), reason)

    def mark_slack_ok(self) -> None:
        was_failing = self.slack.failing()
        self.slack.ok(self.clock())
        if was_failing:
            self.slack_heard()

    def mark_slack_failed(self, reason: str) -> None:
        """Record a Slack failure; `reason` is a short kind ("ratelimited", "invalid_auth", "network")."""
        self.slack.failed(self.clock(), reason)

    def on_dis_request(self, endpoint: str, status: int | str, seconds: float = 0.0) -> None:
        """`DisClient.on_request` hook: classify one HTTP attempt."""
        if isinstance(status, int):
            if 200 <= status < 300:
                if endpoint != "iam_login":  # a token from IAM does not prove DIS answers
                    self.mark_dis_ok()
            elif status in _DIS_FAILURE_STATUSES or status >= 500:
                where = "IAM login" if endpoint == "iam_login" else endpoint
                self.mark_dis_failed(f"{where}: HTTP {status}")
            elif endpoint == "iam_login":
                self.mark_dis_failed(f"IAM login: HTTP {status}")
        else:
            where = "IAM login" if endpoint == "iam_login" else endpoint
            self.mark_dis_failed(f"{where}: {status}")

    def on_slack_call(self, method: str, error: BaseException | None) -> None:
        """Classify the outcome of one Web API call (`observe_slack` calls this)."""
        if error is None:
            self.mark_slack_ok()
            return
        reason = failure_reason(error)
        if reason is not None:
            self.mark_slack_failed(f"{method}: {reason}")

    # --- reading ---

    def status(self, now: float | None = None) -> tuple[bool, dict[str, Any]]:
        """Whether the bot is ready, and per dependency why (JSON-ready, no secrets: only kinds and ages)."""
        now = self.clock() if now is None else now
        dis_ok, dis = self.dis.report(now, self.max_age)
        slack_ok, slack = self.slack.report(now, self.max_age)
        ready, detail = dis_ok and slack_ok, {"dis": dis, "slack": slack}
        for name, check in self._checks.items():
            ok, detail[name] = check(now)
            ready = ready and ok
        return ready, detail

    # --- probing ---

    def _due(self, name: str, dep: _Dependency, now: float) -> bool:
        if self.probes.get(name) is None or name in self._probing:
            return False
        if dep.last_probe is not None and now - dep.last_probe < self.probe_interval:
            return False
        return dep.last_ok is None or dep.failing() or now - dep.last_ok > self.max_age / 2

    def kick(self) -> None:
        """Start the probes that are due, in the background (a readiness check must answer at once)."""
        now = self.clock()
        for name, dep in (("dis", self.dis), ("slack", self.slack)):
            if self._due(name, dep, now):
                dep.last_probe = now
                task = asyncio.create_task(self._probe(name, dep))
                self._probing[name] = task
                task.add_done_callback(functools.partial(self._probe_done, name))

    def _probe_done(self, name: str, _task: asyncio.Task[None]) -> None:
        """Done callback of a probe: the next one of `name` may start."""
        self._probing.pop(name, None)

    async def refresh(self) -> tuple[bool, dict[str, Any]]:
        """Run the due probes and wait for them; then the status."""
        self.kick()
        running = list(self._probing.values())
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        return self.status()

    async def aclose(self) -> None:
        """Cancel probes still running (at shutdown)."""
        for task in list(self._probing.values()):
            task.cancel()
        await asyncio.gather(*self._probing.values(), return_exceptions=True)

    async def _probe(self, name: str, dep: _Dependency) -> None:
        probe = self.probes[name]
        assert probe is not None
        failures = dep.failures
        try:
            await asyncio.wait_for(probe(), self.probe_timeout)
        except TimeoutError:
            dep.failed(self.clock(), f"probe timed out after {self.probe_timeout:g} s")
        except Exception as exc:
            kind = exc.kind if isinstance(exc, DisError) else failure_reason(exc) or type(exc).__name__
            logger.info("health.probe_failed", extra={"dependency": dep.name, "kind": kind})
            if dep.failures == failures:  # no hook saw it (the hooks' reason is more precise: keep it)
                dep.failed(self.clock(), f"probe: {kind}")
        else:
            dep.ok(self.clock())


def observe_slack(client: AsyncWebClient, health: Health) -> AsyncWebClient:
    """Report every Web API call of `client` to `health`.

    Wraps the instance's `api_call` (every `AsyncWebClient` method goes through it) so a client built anywhere,
    including the one Bolt uses, is observed without changing how it is constructed. Idempotent.
    """
    if getattr(client, "_health_observed", None) is health:
        return client
    inner = client.api_call

    async def api_call(api_method: str, **kwargs: Any) -> Any:
        try:
            response = await inner(api_method, **kwargs)
        except BaseException as exc:
            if isinstance(exc, Exception):
                health.on_slack_call(api_method, exc)
            raise
        health.on_slack_call(api_method, None)
        return response

    client.api_call = api_call  # type: ignore[method-assign]
    client._health_observed = health  # type: ignore[attr-defined]
    return client


def chain(*callbacks: Callable[..., None] | None) -> Callable[..., None]:
    """One hook that calls several (DisClient has one `on_request` slot; metrics and health both want it)."""
    hooks = [c for c in callbacks if c is not None]

    def call(*args: Any) -> None:
        for hook in hooks:
            hook(*args)

    return call


def connect_health(max_age_seconds: float, dis: DisApi, slack: AsyncWebClient) -> Health:
    """The process's readiness tracker (`Deps.health`), fed by every request of `dis` and every Web API call of
    `slack`, and probing both when they have been quiet. Built once, by `bot.server.build_deps`."""
    health = Health(max_age_seconds, dis_probe=dis.list_streams, slack_probe=slack.auth_test)
    dis.on_request = chain(dis.on_request, health.on_dis_request)
    observe_slack(slack, health)
    return health
