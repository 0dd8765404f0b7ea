"""A circuit breaker, so a down API is not hammered while it recovers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from marketdata_pipeline.client.errors import CircuitOpenError


class CircuitBreaker:
    """Closed → (threshold consecutive failures) → open → (cool-down) → half-open: one trial request.

    The trial's outcome closes the circuit or re-opens it for another cool-down. Callers that meet an
    open circuit, or a trial in flight, wait for it as long as their own deadline allows, so that every
    one of them proceeds as soon as the API is back instead of failing a cool-down too early.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0, clock: Callable[[], float] = time.monotonic):
        if threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._changed = threading.Condition()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def is_open(self) -> bool:
        with self._changed:
            return self._opened_at is not None

    def before_call(self, timeout_s: float = 0.0) -> None:
        """Return once a request may go out (closed, or this caller runs the trial); wait at most `timeout_s`.

        Raises CircuitOpenError, without waiting, when the circuit cannot close within `timeout_s`.
        """
        deadline = self._clock() + timeout_s
        with self._changed:
            while self._opened_at is not None:
                now = self._clock()
                reopen_at = self._opened_at + self.cooldown_s
                if not self._trial_in_flight:
                    if reopen_at <= now:
                        self._trial_in_flight = True
                        return
                    if reopen_at > deadline:
                        raise self._open_error(reopen_at - now)
                    self._changed.wait(reopen_at - now)
                else:
                    # The trial's outcome is due within one request's time; wait for it while we may.
                    if deadline <= now:
                        raise self._open_error(max(reopen_at - now, 0.0))
                    self._changed.wait(deadline - now)

    def _open_error(self, remaining_s: float) -> CircuitOpenError:
        retry_at = datetime.now(UTC).timestamp() + remaining_s
        return CircuitOpenError(
            f"Polygon API unavailable: circuit open after {self.threshold} consecutive failures; "
            f"retrying after {datetime.fromtimestamp(retry_at, UTC):%H:%M:%S} UTC"
        )

    def record_success(self) -> None:
        with self._changed:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False
            self._changed.notify_all()

    def record_failure(self) -> None:
        with self._changed:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial_in_flight = False
            self._changed.notify_all()

    def record_no_outcome(self) -> None:
        """The call ended without an answer from the API (e.g. the budget's database failed): no verdict."""
        with self._changed:
            self._trial_in_flight = False
            self._changed.notify_all()
