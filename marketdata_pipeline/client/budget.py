"""The request budget: how many requests per minute every process using one API key may send together."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Callable, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import rate_budget, rate_budget_grants

log = logging.getLogger("marketdata_pipeline.client")

# The server counts arrivals in a rolling 60 s; a grant is logged slightly before its request arrives,
# so our window is a little longer than the server's.
DEFAULT_WINDOW_S = 61.0


class RequestBudget(Protocol):
    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds spent waiting."""

    def penalize(self, seconds: float) -> None:
        """A 429 arrived anyway: make every user of the budget hold off for `seconds`."""


class NullBudget:
    """No client-side limit (paid plans); 429s are still handled by the retry policy."""

    def acquire(self) -> float:
        return 0.0

    def penalize(self, seconds: float) -> None:
        pass

    def __repr__(self) -> str:
        return "NullBudget()"


def budget_name(base_url: str, api_key: str) -> str:
    """Limits are per key and host; the name is a digest so the key never reaches the database."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return f"polygon:{digest[:24]}"


class PostgresRequestBudget:
    """A sliding-window log in Postgres, shared by every process that uses the same database.

    Each acquire locks the budget's row (serialising all acquirers, in any process), counts the
    grants of the last `window_s` by the database clock (so processes never disagree about time),
    and either logs a grant and returns at once or sleeps until the oldest grant leaves the window.
    Requests therefore go out in bursts at the full allowed rate, never in fixed staggers.
    """

    def __init__(
        self,
        database_url: str,
        name: str,
        max_per_minute: int,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if max_per_minute < 1:
            raise ValueError("max_per_minute must be at least 1")
        self._engine = engine_for(database_url)
        self.name = name
        self.max_per_window = max_per_minute
        self.window_s = window_s
        self._sleep = sleep
        with self._engine.begin() as conn:
            conn.execute(
                insert(rate_budget).values(name=name).on_conflict_do_nothing(index_elements=["name"])
            )

    def __repr__(self) -> str:
        return f"PostgresRequestBudget(name={self.name!r}, max_per_window={self.max_per_window}, window_s={self.window_s})"

    def acquire(self) -> float:
        started = time.monotonic()
        while True:
            wait = self._try_acquire()
            if wait <= 0:
                return time.monotonic() - started
            log.debug("request budget %s full; waiting %.2fs", self.name, wait)
            self._sleep(wait)

    def _try_acquire(self) -> float:
        """Log a grant and return 0, or return how long to wait before trying again."""
        window = sa.literal(self.window_s) * sa.text("interval '1 second'")
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(rate_budget.c.blocked_until, sa.func.clock_timestamp().label("now"))
                .where(rate_budget.c.name == self.name)
                .with_for_update()
            ).one()
            now = row.now
            if row.blocked_until is not None and row.blocked_until > now:
                return (row.blocked_until - now).total_seconds()
            conn.execute(
                rate_budget_grants.delete().where(
                    rate_budget_grants.c.name == self.name, rate_budget_grants.c.granted_at <= sa.literal(now) - window
                )
            )
            # After pruning, every remaining grant is inside the window.
            recent = (
                sa.select(rate_budget_grants.c.granted_at)
                .where(rate_budget_grants.c.name == self.name)
                .order_by(rate_budget_grants.c.granted_at.desc())
                .limit(self.max_per_window)
            ).subquery()
            count, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(recent.c.granted_at))).one()
            if count < self.max_per_window:
                conn.execute(rate_budget_grants.insert().values(name=self.name, granted_at=now))
                return 0.0
            # The window is full: a slot frees when the oldest of the newest max_per_window grants expires.
            return max((oldest - now).total_seconds() + self.window_s, 0.001)

    def penalize(self, seconds: float) -> None:
        until = sa.func.clock_timestamp() + sa.literal(seconds) * sa.text("interval '1 second'")
        with self._engine.begin() as conn:
            conn.execute(
                rate_budget.update()
                .where(rate_budget.c.name == self.name)
                .values(blocked_until=sa.func.greatest(sa.func.coalesce(rate_budget.c.blocked_until, until), until))
            )
        log.info("request budget %s paused for %.1fs after a 429", self.name, seconds)
