"""Prometheus metrics: defined once here, observed where things happen.

Per-process figures (requests, websockets, fan-out, rebuilds, notification outcomes) are
counted by the process that sees them: each web process and each worker is its own scrape
target and Prometheus sums them. Figures of the whole installation (queue lengths, job lag)
are read from PostgreSQL and Redis when /metrics is scraped (server/live_figures.py), so
every web target reports the same values: aggregate them with max(), not sum().
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "opdq_http_requests_total", "HTTP requests by method, route and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "opdq_http_request_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
QUEUE_ACTIONS = Counter(
    "opdq_queue_actions_total", "Token actions applied, by action", ["action"],
)
QUEUE_REBUILDS = Counter(
    "opdq_queue_rebuilds_total", "Live queues rebuilt from PostgreSQL after Redis lost them",
)
WS_CONNECTIONS = Gauge(
    "opdq_ws_connections", "Open websocket connections by kind", ["kind"],
)
WS_DROPPED = Counter(
    "opdq_ws_dropped_total", "Websocket clients dropped because their send queue overflowed",
)
WS_RESYNCS = Counter(
    "opdq_ws_resyncs_total",
    "Websocket clients told to reconnect because this process lost the Redis event feed",
)
FANOUT_LATENCY = Histogram(
    "opdq_event_fanout_seconds",
    "From an event's arrival from Redis pub/sub to its write on a subscriber's socket",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
NOTIFICATIONS = Counter(
    "opdq_notifications_total",
    "Notification outcomes by channel: sent, failed, skipped, opted_out (worker), and the "
    "delivery statuses Twilio reports back: delivered, undelivered, failed_callback (web)",
    ["channel", "outcome"],
)
