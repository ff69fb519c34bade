"""Prometheus metrics of the API: requests, latencies, the write side's batches, projection lag."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from queries.ports import WriteSideStats

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class ApiMetrics:
    def __init__(self, write_stats: Callable[[], WriteSideStats] | None,
                 positions: Callable[[], tuple[int, int]], streams: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tradex_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("tradex_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.refusals = Counter("tradex_auth_refusals", "401/403 refusals by code", ["code"],
                                registry=self.registry)
        self.commands = Counter("tradex_api_commands", "commands by kind and outcome", ["kind", "outcome"],
                                registry=self.registry)
        self.command_latency = Histogram("tradex_api_command_seconds", "submit to acknowledgement",
                                         ["kind"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.registry.register(_WriteSideCollector(write_stats, positions, streams))


class _WriteSideCollector(Collector):
    """Read at scrape time: the sequencer's counters and batch sizes, the read models' lag."""

    def __init__(self, write_stats: Callable[[], WriteSideStats] | None,
                 positions: Callable[[], tuple[int, int]], streams: Callable[[], int]) -> None:
        self.write_stats = write_stats
        self.positions = positions
        self.streams = streams
        self._seen_sizes: list[int] = []

    def collect(self) -> Iterator[Any]:
        read_position, log_head = self.positions()
        lag = GaugeMetricFamily("tradex_projection_lag_events", "log head minus the read models' position")
        lag.add_metric([], max(0, log_head - read_position))
        yield lag
        head = GaugeMetricFamily("tradex_log_head_position", "highest notification id seen in the log")
        head.add_metric([], log_head)
        yield head
        subscribers = GaugeMetricFamily("tradex_stream_subscribers", "open WebSocket subscriptions")
        subscribers.add_metric([], self.streams())
        yield subscribers
        if self.write_stats is None:
            return
        stats = self.write_stats()
        batches = CounterMetricFamily("tradex_sequencer_batches", "batches committed")
        batches.add_metric([], stats.batches)
        yield batches
        commands = CounterMetricFamily("tradex_sequencer_commands", "commands committed in batches")
        commands.add_metric([], stats.commands)
        yield commands
        busy = CounterMetricFamily("tradex_sequencer_busy_seconds", "time spent preparing and committing")
        busy.add_metric([], stats.busy_ns / 1e9)
        yield busy
        depth = GaugeMetricFamily("tradex_sequencer_queue_depth", "commands waiting for a batch")
        depth.add_metric([], stats.queue_depth)
        yield depth
        largest = GaugeMetricFamily("tradex_sequencer_largest_batch", "largest batch so far")
        largest.add_metric([], stats.largest_batch)
        yield largest
        sizes = list(stats.recent_batch_sizes)
        buckets = [(str(bound), sum(1 for size in sizes if size <= bound)) for bound in BATCH_BUCKETS]
        buckets.append(("+Inf", len(sizes)))
        histogram = HistogramMetricFamily("tradex_sequencer_recent_batch_size",
                                          "sizes of the most recent batches (bounded window)")
        histogram.add_metric([], buckets, sum_value=sum(sizes))
        yield histogram
