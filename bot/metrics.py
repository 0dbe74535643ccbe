"""Prometheus metrics, served at `GET /metrics`.

One registry per process (`REGISTRY`), module-level metric objects as prometheus-client intends.
Labels never carry secrets or free text from users: only command words, outcomes, endpoint templates,
status codes, stream names and states.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

COMMANDS = Counter(
    "disbot_commands_total",
    "Commands handled, by subcommand and outcome (ok, user_error, dis_error, internal_error).",
    ["subcommand", "outcome"],
    registry=REGISTRY,
)
ACK_LATENCY = Histogram(
    "disbot_ack_latency_seconds",
    "Time from receiving a Slack request to acknowledging it.",
    ["kind"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
DIS_REQUESTS = Counter(
    "disbot_dis_requests_total",
    "Requests sent to DIS, by endpoint template and HTTP status (or error kind).",
    ["endpoint", "status"],
    registry=REGISTRY,
)
DIS_LATENCY = Histogram(
    "disbot_dis_request_seconds",
    "Latency of single DIS requests (one attempt), by endpoint template.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
DIS_RETRIES = Counter(
    "disbot_dis_retries_total",
    "DIS requests retried, by endpoint template and reason.",
    ["endpoint", "reason"],
    registry=REGISTRY,
)
CACHE_EVENTS = Counter(
    "disbot_cache_events_total",
    "Task cache lookups: hit, miss, or coalesced (waited for an identical in-flight fetch).",
    ["event"],
    registry=REGISTRY,
)
WATCH_CYCLE = Histogram(
    "disbot_watch_cycle_seconds",
    "Duration of one watcher poll cycle over every watched stream.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
WATCH_LAG = Gauge(
    "disbot_watch_lag_seconds",
    "How far the last watcher cycle started behind its schedule.",
    registry=REGISTRY,
)
ALERTS = Counter(
    "disbot_alerts_total",
    "Task problems by event (raised, resolved, reminded) and problem: state (ERROR/ABNORMAL), stalled, partitions, "
    "discarding.",
    ["event", "problem"],
    registry=REGISTRY,
)
TASK_BACKLOG = Gauge(
    "disbot_task_backlog_records",
    "Records waiting to be sent by a watched dump task (stream partitions' newest sequence number minus the task's "
    "last transfer offset, summed), as of its last deep read.",
    ["stream", "task"],
    registry=REGISTRY,
)
TASK_DISCARDED = Gauge(
    "disbot_task_discarded_records",
    "Records a watched dump task discarded so far (DIS's running count, summed over partitions), as of its last "
    "deep read.",
    ["stream", "task"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "disbot_outbox_depth",
    "Slack messages waiting in the outbox.",
    registry=REGISTRY,
)
OUTBOX_FAILURES = Counter(
    "disbot_outbox_delivery_failures_total",
    "Failed Slack deliveries from the outbox, by error (ratelimited, server_error, network, or Slack's error code).",
    ["error"],
    registry=REGISTRY,
)
TASKS_BY_STATE = Gauge(
    "disbot_watched_tasks",
    "Dump tasks per state per watched stream, as of the last poll.",
    ["stream", "state"],
    registry=REGISTRY,
)
SOCKET_MODE_CONNECTED = Gauge(
    "disbot_socket_mode_connected",
    "1 while a Socket Mode websocket to Slack is open and greeted, else 0 (always 0 in HTTP mode).",
    registry=REGISTRY,
)
SOCKET_MODE_RECONNECTS = Counter(
    "disbot_socket_mode_reconnects_total",
    "Socket Mode connections replaced, by reason: Slack asked (refresh_requested, warning, disconnect), "
    "closed, ping_timeout.",
    ["reason"],
    registry=REGISTRY,
)

LEADER = Gauge(
    "disbot_leader",
    "1 while this replica is the leader (runs the poll loop and drains the outbox), else 0.",
    registry=REGISTRY,
)
LEADER_CHANGES = Counter(
    "disbot_leader_changes_total",
    "Times this replica became leader (gained) or stopped being leader (lost).",
    ["event"],
    registry=REGISTRY,
)

#: Label values known in advance, exported at 0 from the start: a family with samples can be graphed and
#: alerted on with `rate()` before its first event (a counter that appears only on its first increment hides
#: that increment from `rate()` and `increase()`).
DIS_ENDPOINTS = (
    "describe_stream",
    "list_streams",
    "list_transfer_tasks",
    "show_transfer_task",
    "start_transfer_tasks",
    "stop_transfer_tasks",
)
RETRY_REASONS = ("throttled", "unavailable", "auth_renewed")
CACHE_EVENT_NAMES = ("hit", "miss", "coalesced")
ALERT_EVENTS = ("raised", "resolved", "reminded")
#: `disbot_alerts_total`'s problem label: a task's state (ERROR/ABNORMAL), or one DIS does not report.
ALERT_PROBLEMS = ("state", "stalled", "partitions", "discarding")
OUTBOX_ERRORS = ("ratelimited", "server_error", "network")
ACK_KINDS = ("command", "action", "event")
#: Slack's `disconnect` reasons get their own label; any other reason counts as "disconnect".
SOCKET_MODE_REASONS = ("refresh_requested", "warning", "disconnect", "closed", "ping_timeout")
LEADER_EVENTS = ("gained", "lost")


def _initialise() -> None:
    for endpoint in DIS_ENDPOINTS:
        DIS_LATENCY.labels(endpoint=endpoint)
        for reason in RETRY_REASONS:
            DIS_RETRIES.labels(endpoint=endpoint, reason=reason)
    for event in CACHE_EVENT_NAMES:
        CACHE_EVENTS.labels(event=event)
    for event in ALERT_EVENTS:
        for problem in ALERT_PROBLEMS:
            ALERTS.labels(event=event, problem=problem)
    for error in OUTBOX_ERRORS:
        OUTBOX_FAILURES.labels(error=error)
    for kind in ACK_KINDS:
        ACK_LATENCY.labels(kind=kind)
    for reason in SOCKET_MODE_REASONS:
        SOCKET_MODE_RECONNECTS.labels(reason=reason)
    for event in LEADER_EVENTS:
        LEADER_CHANGES.labels(event=event)


_initialise()


def on_cache_event(event: str) -> None:
    """Callback for `SingleFlightCache(on_event=...)`."""
    CACHE_EVENTS.labels(event=event).inc()


def on_dis_request(endpoint: str, status: int | str, seconds: float) -> None:
    """Callback for `DisClient.on_request`."""
    DIS_REQUESTS.labels(endpoint=endpoint, status=str(status)).inc()
    DIS_LATENCY.labels(endpoint=endpoint).observe(seconds)


def on_dis_retry(endpoint: str, reason: str) -> None:
    """Callback for `DisClient.on_retry`."""
    DIS_RETRIES.labels(endpoint=endpoint, reason=reason).inc()


def set_socket_mode_connected(connected: bool) -> None:
    """Callback for `SocketModeClient.on_connected`."""
    SOCKET_MODE_CONNECTED.set(1 if connected else 0)


def on_socket_mode_reconnect(reason: str) -> None:
    """Callback for `SocketModeClient.on_reconnect`: Slack's reason, or "closed" / "ping_timeout"."""
    SOCKET_MODE_RECONNECTS.labels(reason=reason if reason in SOCKET_MODE_REASONS else "disconnect").inc()


def set_stream_states(stream: str, counts: dict[str, int], previous: set[str] | None = None) -> None:
    """Publish per-state task counts of one watched stream; states that vanished drop to 0."""
    for state in previous or ():
        if state not in counts:
            TASKS_BY_STATE.labels(stream=stream, state=state).set(0)
    for state, n in counts.items():
        TASKS_BY_STATE.labels(stream=stream, state=state).set(n)


#: stream -> tasks whose lag gauges are published (removed when the task or the stream goes away).
_LAG_TASKS: dict[str, set[str]] = {}


def set_task_lag(stream: str, task: str, backlog: int | None, discarded: int) -> None:
    """Publish one deep read of a task (a backlog that could not be measured is left out)."""
    _LAG_TASKS.setdefault(stream, set()).add(task)
    if backlog is not None:
        TASK_BACKLOG.labels(stream=stream, task=task).set(backlog)
    TASK_DISCARDED.labels(stream=stream, task=task).set(discarded)


def forget_task_lag(stream: str, tasks: set[str] | None = None) -> None:
    """Remove the lag gauges of `tasks` of `stream` (None: all of them), so /metrics does not grow for ever."""
    published = _LAG_TASKS.get(stream, set())
    for task in list(published if tasks is None else published & tasks):
        for gauge in (TASK_BACKLOG, TASK_DISCARDED):
            try:
                gauge.remove(stream, task)
            except KeyError:
                pass
        published.discard(task)
    if not published:
        _LAG_TASKS.pop(stream, None)


def forget_watched() -> None:
    """Remove every per-stream and per-task gauge of the watcher (a replica that stops leading reads DIS no more:
    what it read last would stay on its /metrics, stale, beside the new leader's)."""
    for stream in list(_LAG_TASKS):
        forget_task_lag(stream)
    TASKS_BY_STATE.clear()


def on_leader_change(leader: bool, event: str) -> None:
    """Callback for a lease's `record`: "gained" or "lost"."""
    LEADER.set(1 if leader else 0)
    LEADER_CHANGES.labels(event=event).inc()


def render() -> bytes:
    """The exposition text for `GET /metrics`."""
    return generate_latest(REGISTRY)
