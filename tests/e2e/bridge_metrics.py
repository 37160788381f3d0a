"""What the stack's StatsD bridge exposes for Prometheus, read as the tests read it."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from stack_session import Stack

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(stack: Stack) -> Samples:
    url = f"http://127.0.0.1:{stack.settings.statsd_metrics_port}/metrics"
    text = httpx.get(url, timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())
