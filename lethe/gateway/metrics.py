"""Prometheus metrics of one gateway: ``GET /metrics`` in the text exposition format.

One :class:`Metrics` per app (its own registry, so apps in one process never mix counts):

- ``lethe_requests_total{route,status}`` and ``lethe_request_duration_seconds{route}``: every
  HTTP request, from the request-context middleware (``route`` is the route's path template,
  ``unmatched`` for a 404 on no route);
- ``lethe_time_to_first_token_seconds{route}``: until the first output of a generation;
- ``lethe_tokens_total{kind}``: prompt and completion tokens served;
- ``lethe_enforcements_total{technique,action}``: the unlearning pipeline's audit events
  (``scope``/``guard``, ``output_filter_lexical``/``cut``, ``agentic``/``rewrite``, …);
- read when scraped: ``lethe_registry_version`` and ``lethe_registry_targets`` (the forget
  store's current snapshot), ``lethe_queue_depth`` (requests waiting for or in the engine's
  batch, when the engine reports it) and ``lethe_ready`` (1 once the model and store are up).

Example:
    >>> metrics = Metrics()
    >>> metrics.observe_request("/v1/chat/completions", 200, 0.25, ttft_s=0.05, usage=None)
    >>> b'lethe_requests_total{route="/v1/chat/completions",status="200"} 1.0' in metrics.render()
    True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lethe.decoders import Usage
from lethe.indices import AuditEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class State:
    """What the scrape-time gauges read; ``None`` for what is not known (yet)."""

    registry_version: int | None
    registry_targets: int | None
    queue_depth: int | None
    ready: bool


class _StateCollector(Collector):
    """Gauges read from the running app at scrape time."""

    def __init__(self, read: Callable[[], State]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self._read()
        gauges = (
            ("lethe_registry_version", "Forget-registry version of the serving snapshot.",
             state.registry_version),
            ("lethe_registry_targets", "Forget targets in the serving snapshot.",
             state.registry_targets),
            ("lethe_queue_depth", "Requests waiting for or decoding in the engine.",
             state.queue_depth),
            ("lethe_ready", "1 once the model is loaded and the forget store is open.",
             int(state.ready)),
        )  # fmt: skip
        for name, doc, value in gauges:
            if value is not None:
                yield GaugeMetricFamily(name, doc, value=value)


class Metrics:
    """The gateway's counters and histograms (see the module docstring)."""

    def __init__(self, state: Callable[[], State] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "lethe_requests", "HTTP requests by route and status.", ["route", "status"], registry=r
        )
        self.duration = Histogram(
            "lethe_request_duration_seconds",
            "Whole request time, until the last byte.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "lethe_time_to_first_token_seconds",
            "Time until the first output of a generation.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("lethe_tokens", "Tokens served.", ["kind"], registry=r)
        self.enforcements = Counter(
            "lethe_enforcements",
            "Unlearning enforcement events by technique and action.",
            ["technique", "action"],
            registry=r,
        )
        if state is not None:
            r.register(_StateCollector(state))

    def observe_request(
        self, route: str, status: int, seconds: float, *, ttft_s: float | None, usage: Usage | None
    ) -> None:
        """Count one finished HTTP request."""
        self.requests.labels(route, str(status)).inc()
        self.duration.labels(route).observe(seconds)
        if ttft_s is not None:
            self.ttft.labels(route).observe(ttft_s)
        if usage is not None:
            self.tokens.labels("prompt").inc(usage.prompt_tokens)
            self.tokens.labels("completion").inc(usage.completion_tokens)

    def observe_events(self, events: Sequence[AuditEvent]) -> None:
        """Count the pipeline's enforcement events."""
        for event in events:
            self.enforcements.labels(event.technique, event.action).inc()

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)
