"""A circuit breaker, so a down API fails fast instead of burning hours of retries."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

from marketdata_pipeline.client.errors import CircuitOpenError


class CircuitBreaker:
    """Closed → (threshold consecutive failures) → open → (cool-down) → half-open: one trial request.

    The trial's outcome closes the circuit or re-opens it for another cool-down; other callers keep
    failing fast while the trial is in flight.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        if threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def before_call(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            remaining = self._opened_at + self.cooldown_s - self._clock()
            if remaining <= 0 and not self._trial_in_flight:
                self._trial_in_flight = True
                return
        retry_at = datetime.now(timezone.utc).timestamp() + max(remaining, 0.0)
        raise CircuitOpenError(
            f"Polygon API unavailable: circuit open after {self.threshold} consecutive failures; "
            f"retrying after {datetime.fromtimestamp(retry_at, timezone.utc):%H:%M:%S} UTC"
        )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False
