"""The Postgres request budget: a RequestBudget (see client.budget) shared by every process using one database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from marketdata_pipeline.client.budget import RequestBudget
from marketdata_pipeline.storage.database import DatabaseUnavailableError, engine_for, redacted
from marketdata_pipeline.storage.schema import rate_budget, rate_budget_grants, rate_budget_rejections

# Logged under the client's logger: budget waits are part of the client's story in the run logs.
log = logging.getLogger("marketdata_pipeline.client")

# The server counts arrivals in a rolling 60 s; a grant is logged slightly before its request arrives,
# so our window is a little longer than the server's.
DEFAULT_WINDOW_S = 61.0
# A learned limit is raised by one after this many windows without a 429: the probe costs one 429 at most
# every few windows once the true limit is reached.
PROBE_EVERY_WINDOWS = 3


class PostgresRequestBudget(RequestBudget):
    """A sliding-window log in Postgres, shared by every process that uses the same database.

    Each acquire locks the budget's row (serialising all acquirers, in any process), counts the
    grants of the last `window_s` by the database clock (so processes never disagree about time),
    and either logs a grant and returns at once or sleeps until the oldest grant leaves the window.
    Requests therefore go out in bursts at the full allowed rate, never in fixed staggers.

    The limit is the configured maximum (a hard ceiling; None: none) or, lower, the limit learned from
    429s: when the API rejects a request, the learned limit drops to the requests it accepted in the
    last window (grants minus rejections), then rises by one after every PROBE_EVERY_WINDOWS windows
    without a 429. It lives in the database, so every process learns from every other's 429s. Within
    one process, acquires wait while a 429 is being recorded: a grant taken meanwhile would go out
    under the old limit and meet another 429.
    """

    def __init__(
        self,
        database_url: str,
        name: str,
        max_per_minute: int | None = None,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if max_per_minute is not None and max_per_minute < 1:
            raise ValueError("max_per_minute must be at least 1")
        self._url = database_url
        self._engine = engine_for(database_url)
        self.name = name
        self.max_per_window = max_per_minute
        self.window_s = window_s
        self._sleep = sleep
        self._recording = 0  # 429s of this process being written to the database
        self._recorded = threading.Condition()
        with self._database(), self._engine.begin() as conn:
            conn.execute(
                insert(rate_budget).values(name=name).on_conflict_do_nothing(index_elements=["name"])
            )

    def __repr__(self) -> str:
        return f"PostgresRequestBudget(name={self.name!r}, max_per_window={self.max_per_window}, window_s={self.window_s})"

    @contextmanager
    def _database(self) -> Iterator[None]:
        """A lost database is the database's failure, never the API's: say so, with the password hidden."""
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseUnavailableError(
                f"database unreachable: the request budget cannot reach PostgreSQL at {redacted(self._url)}: {reason}"
            ) from None

    def acquire(self) -> float:
        started = time.monotonic()
        while True:
            with self._recorded:
                self._recorded.wait_for(lambda: self._recording == 0)
            with self._database():
                wait = self._try_acquire()
            if wait <= 0:
                return time.monotonic() - started
            log.debug("request budget %s full; waiting %.2fs", self.name, wait)
            self._sleep(wait)

    def _window_start(self, now: datetime) -> sa.ColumnElement[Any]:
        return sa.literal(now) - sa.literal(self.window_s) * sa.text("interval '1 second'")

    def _try_acquire(self) -> float:
        """Log a grant and return 0, or return how long to wait before trying again."""
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(
                    rate_budget.c.blocked_until,
                    rate_budget.c.learned_per_window,
                    rate_budget.c.learned_at,
                    sa.func.clock_timestamp().label("now"),
                )
                .where(rate_budget.c.name == self.name)
                .with_for_update()
            ).one()
            now = row.now
            if row.blocked_until is not None and row.blocked_until > now:
                return float((row.blocked_until - now).total_seconds())
            window_start = self._window_start(now)
            conn.execute(
                rate_budget_grants.delete().where(
                    rate_budget_grants.c.name == self.name, rate_budget_grants.c.granted_at <= window_start
                )
            )
            conn.execute(
                rate_budget_rejections.delete().where(
                    rate_budget_rejections.c.name == self.name, rate_budget_rejections.c.rejected_at <= window_start
                )
            )
            limit = self._probe(conn, row.learned_per_window, row.learned_at, now)
            if limit is not None:
                # After pruning, every remaining grant is inside the window.
                recent = (
                    sa.select(rate_budget_grants.c.granted_at)
                    .where(rate_budget_grants.c.name == self.name)
                    .order_by(rate_budget_grants.c.granted_at.desc())
                    .limit(limit)
                ).subquery()
                count, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(recent.c.granted_at))).one()
                if count >= limit:
                    # The window is full: a slot frees when the oldest of the newest `limit` grants expires.
                    return max(float((oldest - now).total_seconds()) + self.window_s, 0.001)
            conn.execute(rate_budget_grants.insert().values(name=self.name, granted_at=now))
            return 0.0

    def _probe(self, conn: sa.Connection, learned: int | None, learned_at: datetime, now: datetime) -> int | None:
        """The limit in force: the configured maximum or the learned limit, raised by one if it is due."""
        ceiling = self.max_per_window
        if learned is None or (ceiling is not None and learned >= ceiling):
            return ceiling
        if (now - learned_at).total_seconds() >= PROBE_EVERY_WINDOWS * self.window_s:
            learned += 1
            conn.execute(
                rate_budget.update()
                .where(rate_budget.c.name == self.name)
                .values(learned_per_window=learned, learned_at=now)
            )
            log.info("request budget %s: no 429 for a while; trying %d requests per window", self.name, learned)
        return learned

    def penalize(self, seconds: float) -> None:
        with self._recorded:
            self._recording += 1
        try:
            self._record_rejection(seconds)
        finally:
            with self._recorded:
                self._recording -= 1
                self._recorded.notify_all()

    def _record_rejection(self, seconds: float) -> None:
        with self._database(), self._engine.begin() as conn:
            row = conn.execute(
                sa.select(rate_budget.c.learned_per_window, sa.func.clock_timestamp().label("now"))
                .where(rate_budget.c.name == self.name)
                .with_for_update()
            ).one()
            now = row.now
            conn.execute(rate_budget_rejections.insert().values(name=self.name, rejected_at=now))
            window_start = self._window_start(now)
            granted = conn.execute(
                sa.select(sa.func.count()).where(
                    rate_budget_grants.c.name == self.name, rate_budget_grants.c.granted_at > window_start
                )
            ).scalar_one()
            rejected = conn.execute(
                sa.select(sa.func.count()).where(
                    rate_budget_rejections.c.name == self.name, rate_budget_rejections.c.rejected_at > window_start
                )
            ).scalar_one()
            accepted = max(granted - rejected, 1)
            learned = accepted if row.learned_per_window is None else min(row.learned_per_window, accepted)
            until = sa.literal(now) + sa.literal(seconds) * sa.text("interval '1 second'")
            conn.execute(
                rate_budget.update()
                .where(rate_budget.c.name == self.name)
                .values(
                    blocked_until=sa.func.greatest(sa.func.coalesce(rate_budget.c.blocked_until, until), until),
                    learned_per_window=learned,
                    learned_at=now,
                )
            )
        log.info("request budget %s paused for %.1fs after a 429; limit now %d per window", self.name, seconds, learned)
