"""Prometheus metrics of the web process: defined once here, observed where things happen."""

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
