"""Retries with exponential backoff and full jitter, for requests that may be repeated.

Listing and downloading are idempotent, so a connection error, a timeout or a 5xx/429 answer
is tried again a bounded number of times. The jitter spreads a burst of retries (many months
listed at once, many workers after an archive restart) instead of having them return in step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """``tries`` attempts in all; before attempt ``n+1`` wait ``U(0, min(max, first * 2**n))``."""

    tries: int = 5
    first_delay: float = 0.5
    max_delay: float = 30.0
    rng: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError("tries must be at least 1")
        if self.first_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def delays(self) -> Iterator[float]:
        """The waits between attempts: ``tries - 1`` of them."""
        for n in range(self.tries - 1):
            yield self.rng(0.0, min(self.max_delay, self.first_delay * 2**n))
