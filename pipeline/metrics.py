"""Prometheus metrics and ``/healthz``: what the store holds (read at each scrape) and what this process did.

``metrics_registry`` makes a registry with the store's gauges and this
process's counters; ``render_metrics`` turns any registry into the text a
Prometheus scrape expects (the review app can serve it the same way).
``MetricsServer`` is the daemon's small HTTP endpoint for both.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from pipeline.store.gauges import read_gauges

log = logging.getLogger(__name__)

HEALTHY_STATUSES = frozenset({"ok", "unknown"})


class StoreCollector(Collector):
    """Gauges read from the database at each scrape; a scrape that cannot read it reports ``triage_store_up 0``."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("triage_store_up", "1 when the database answered this scrape")
        try:
            with self.factory() as session:
                gauges = read_gauges(session)
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: cannot read the database: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        messages = GaugeMetricFamily("triage_messages_stored", "Messages stored (each once)")
        messages.add_metric([], gauges.messages)
        yield messages
        inquiries = GaugeMetricFamily("triage_inquiries", "Inquiries per state (queue depths)", labels=["state"])
        for state, count in sorted(gauges.inquiries.items()):
            inquiries.add_metric([state], count)
        yield inquiries
        pending = GaugeMetricFamily("triage_pending_inquiries", "Inquiries stored but not triaged yet (state new)")
        pending.add_metric([], gauges.inquiries.get("new", 0))
        yield pending
        approved = GaugeMetricFamily("triage_replies_awaiting_delivery", "Replies approved and not delivered yet")
        approved.add_metric([], gauges.inquiries.get("approved", 0))
        yield approved
        quarantined = GaugeMetricFamily("triage_quarantined", "Quarantined items not released")
        quarantined.add_metric([], gauges.quarantined)
        yield quarantined
        deliveries = GaugeMetricFamily("triage_deliveries", "Deliveries per state", labels=["state"])
        for state, count in sorted(gauges.deliveries.items()):
            deliveries.add_metric([state], count)
        yield deliveries
        lag = GaugeMetricFamily("triage_sync_lag_seconds", "Seconds since a folder was last synced",
                                labels=["mailbox", "folder"])
        for folder in gauges.folders:
            if folder.last_synced_at is not None:
                lag.add_metric([folder.mailbox, folder.folder],
                               max(0.0, (gauges.now - folder.last_synced_at).total_seconds()))
        yield lag
        healthy = GaugeMetricFamily("triage_mailbox_healthy", "1 when a mailbox's last sync worked and it has no alert",
                                    labels=["mailbox"])
        for box in gauges.mailboxes:
            healthy.add_metric([box.name], int(box.status in HEALTHY_STATUSES and not box.alert))
        yield healthy
        daemons = GaugeMetricFamily("triage_daemons_alive", "Daemons holding a live presence lease")
        daemons.add_metric([], gauges.daemons)
        yield daemons


@dataclass
class ProcessCounters:
    """What this process did since it started."""

    ingested: Counter
    triaged: Counter
    errors: Counter


def metrics_registry(factory: sessionmaker[Session]) -> tuple[CollectorRegistry, ProcessCounters]:
    """A registry with the store's gauges and this process's counters (a registry of its own, not the global one)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(factory))
    counters = ProcessCounters(
        ingested=Counter("triage_ingested", "Messages stored by this process", registry=registry),
        triaged=Counter("triage_triaged", "Pending inquiries triaged by this process's triage job",
                        registry=registry),
        errors=Counter("triage_errors", "Failed rounds of this process", labelnames=["round"], registry=registry),
    )
    return registry, counters


def render_metrics(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class MetricsServer:
    """``GET /metrics`` and ``GET /healthz`` on a small threaded HTTP server of its own."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: HealthCheck) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, content_type = render_metrics(outer.registry)
                    self._send(200, body, content_type)
                elif path == "/healthz":
                    ok, details = outer.health()
                    body = json.dumps({"ok": ok, **details}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line
                return

        self.registry = registry
        self.health = health
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (useful when 0 asked for any free one)."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
