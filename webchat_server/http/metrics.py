"""Prometheus metrics, read from the hub and listener when scraped (nothing on the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..realtime.hub import Hub
from ..realtime.listener import Listener


class _Collector(Collector):
    def __init__(self, hub: Hub, listener: Listener) -> None:
        self.hub = hub
        self.listener = listener

    def collect(self) -> Iterator[Metric]:
        hub, lst = self.hub, self.listener
        yield GaugeMetricFamily("webchat_ws_connections", "Open WebSocket connections", hub.count("ws"))
        yield GaugeMetricFamily("webchat_poll_waiters", "Parked long-poll requests", hub.count("poll"))
        yield GaugeMetricFamily("webchat_subscribed_chats", "Chats with at least one live reader", len(hub.by_chat))
        yield CounterMetricFamily("webchat_events_delivered", "Events written to sockets and waiters", hub.delivered)
        yield CounterMetricFamily("webchat_slow_consumers", "Readers closed with resync (socket stalled)",
                                  hub.slow_consumers)
        yield CounterMetricFamily("webchat_paging", "Times a reader stopped taking live frames and paged "
                                  "from the database (flow control)", hub.paging_started)
        yield CounterMetricFamily("webchat_notifications", "NOTIFY payloads received", lst.notifications)
        rejected = CounterMetricFamily("webchat_notifications_rejected",
                                       "NOTIFY payloads ignored as malformed or of an unknown kind", labels=["kind"])
        for kind, n in sorted(lst.rejected.items()):
            rejected.add_metric([kind], n)
        yield rejected
        yield CounterMetricFamily("webchat_listener_batches", "Notification batches processed", lst.batches)
        yield CounterMetricFamily("webchat_listener_queries", "Queries run by the listener", lst.queries)
        yield CounterMetricFamily("webchat_listener_reconnects", "Listener reconnections", lst.reconnects)
        yield GaugeMetricFamily("webchat_listener_queue", "Notifications waiting to be processed", lst.queue_size)
        yield GaugeMetricFamily("webchat_listener_healthy", "1 when the last self-NOTIFY probe came back",
                                1 if lst.healthy else 0)


class Metrics:
    def __init__(self, hub: Hub, listener: Listener) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(hub, listener))
        self.registry.register(listener.delivery_seconds)
        # process_open_fds against process_max_fds is what LimitNOFILE has to cover
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)

metrics_key = web.AppKey("metrics", Metrics)
