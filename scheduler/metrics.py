"""What this process did, for Prometheus: failed send attempts, deliveries and their
delay, alerts raised, tick duration. `bot/web/metrics.py` serves them at /metrics with
the outbox figures read from the database at scrape time."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SEND_FAILURES = Counter(
    "visitbot_send_failures_total", "Failed send attempts (retried or given up)",
    ["kind", "platform", "final"])
DELIVERED = Counter(
    "visitbot_delivered_total", "Messages delivered", ["kind", "platform"])
TIME_TO_DELIVERY = Histogram(
    "visitbot_time_to_delivery_seconds",
    "From the outbox row's creation to the platform's acceptance", ["kind", "priority"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600))
ALERTS = Counter(
    "visitbot_alerts_total", "Risk findings recorded (flagged answers, device signals)",
    ["severity"])
TICK_SECONDS = Histogram(
    "visitbot_tick_duration_seconds", "Duration of one scheduler tick",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600))
