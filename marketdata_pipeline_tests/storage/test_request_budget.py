"""The shared request budget on a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.client.budget import budget_name
from marketdata_pipeline.storage.database import DatabaseUnavailableError, engine_for
from marketdata_pipeline.storage.request_budget import PROBE_EVERY_WINDOWS, PostgresRequestBudget
from marketdata_pipeline.storage.schema import create_schema
from marketdata_pipeline_tests.client.conftest import FAST_RETRY, KEY


def max_in_window(stamps: list[float], window_s: float) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for s in stamps[i:] if s < start + window_s) for i, start in enumerate(stamps)), default=0)


def burst(budget: PostgresRequestBudget, n: int) -> list[float]:
    """The wait of each of n back-to-back acquires."""
    return [budget.acquire() for _ in range(n)]


def test_name_is_a_digest_not_the_key():
    name = budget_name("https://api.massive.com/", KEY)
    assert KEY not in name and name == budget_name("https://api.massive.com", KEY)
    assert name != budget_name("https://api.polygon.io", KEY) != budget_name("https://api.massive.com", "other")


def test_threads_burst_to_the_limit_then_wait_for_the_window(clean_db):
    budget = PostgresRequestBudget(clean_db, "threads", 3, window_s=1.0)
    granted: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(3):
            budget.acquire()
            with lock:
                granted.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(granted) == 9
    offsets = sorted(g - started for g in granted)
    assert offsets[2] < 0.5  # the first three go at once: no fixed staggering
    assert offsets[3] >= 0.9 and offsets[6] >= 1.9  # the rest wait for the window, a burst at a time
    assert max_in_window(granted, 0.95) <= 3


def test_grants_that_left_the_window_are_pruned(clean_db):
    budget = PostgresRequestBudget(clean_db, "pruned", 100, window_s=0.5)
    burst(budget, 5)
    time.sleep(0.6)
    budget.acquire()
    with engine_for(clean_db).connect() as conn:
        rows = conn.execute(sa.text("select count(*) from rate_budget_grants where name = 'pruned'")).scalar()
    assert rows == 1  # the log holds the current window only, so it never grows with traffic


def test_penalty_pauses_every_user(clean_db):
    first = PostgresRequestBudget(clean_db, "shared", 100, window_s=1.0)
    second = PostgresRequestBudget(clean_db, "shared", 100, window_s=1.0)  # another process, same database
    assert max(burst(first, 3)) < 0.2
    first.penalize(1.5)
    waited = second.acquire()
    assert 1.3 <= waited < 5
    assert second.acquire() < 0.2  # the pause is over and the window has room


def test_a_429_teaches_every_process_the_limit_then_it_probes_upward(clean_db):
    first = PostgresRequestBudget(clean_db, "learn", None, window_s=1.0)  # no configured maximum
    second = PostgresRequestBudget(clean_db, "learn", None, window_s=1.0)
    assert max(burst(first, 6)) < 0.2  # nothing learned yet: no limit
    first.penalize(0.0)  # the 6th was rejected: the API accepted 5 in this window
    waits = burst(second, 6)
    assert waits[0] >= 0.5  # the window already holds 6 > 5: wait for it to slide
    assert max(waits[1:5]) < 0.3 and waits[5] >= 0.5  # then 5 per window, not 6
    # After PROBE_EVERY_WINDOWS clean windows the limit rises by one: 6 go at once, the 7th waits.
    time.sleep(PROBE_EVERY_WINDOWS * 1.0 + 0.1)
    waits = burst(first, 7)
    assert max(waits[:6]) < 0.3 and waits[6] >= 0.5


class SlowToRecord(PostgresRequestBudget):
    """A 429 whose write to the database takes a while (a busy server, a lock held by another process)."""

    def _record_rejection(self, seconds: float) -> None:
        time.sleep(0.5)
        super()._record_rejection(seconds)


def test_a_429_being_recorded_holds_the_other_threads(clean_db):
    budget = SlowToRecord(clean_db, "recording", None, window_s=3.0)
    burst(budget, 4)  # the API took 3 and rejected the 4th
    recording = threading.Thread(target=budget.penalize, args=(0.0,))
    recording.start()
    time.sleep(0.1)
    waited = budget.acquire()  # another thread, while the 429 is still being written
    recording.join(timeout=10)
    # It waited for the learned limit (3), then for the window to slide (about 2.9 s; 1.5 leaves room for a
    # slow burst): a grant under the old, unknown limit would have gone out at once and met another 429.
    assert waited >= 1.5


def test_a_configured_maximum_stays_a_ceiling(clean_db):
    budget = PostgresRequestBudget(clean_db, "ceiling", 3, window_s=0.5)
    burst(budget, 3)
    budget.penalize(0.0)  # learned: 2
    time.sleep(2 * PROBE_EVERY_WINDOWS * 0.5 + 0.1)  # two probes due, but 3 is the ceiling
    burst(budget, 1)
    time.sleep(PROBE_EVERY_WINDOWS * 0.5 + 0.1)
    waits = burst(budget, 4)
    assert max(waits[:3]) < 0.2 and waits[3] >= 0.3


def test_budgets_with_different_names_are_independent(clean_db):
    a = PostgresRequestBudget(clean_db, "a", 1, window_s=30)
    b = PostgresRequestBudget(clean_db, "b", 1, window_s=30)
    assert a.acquire() < 0.2 and b.acquire() < 0.2


def test_rejects_a_zero_limit(clean_db):
    with pytest.raises(ValueError):
        PostgresRequestBudget(clean_db, "zero", 0)


def _allow_connections(admin_url: str, database: str, allow: bool) -> None:
    with engine_for(admin_url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'alter database "{database}" allow_connections {str(allow).lower()}'))
        if not allow:
            conn.execute(sa.text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :d"), {"d": database})


def test_a_lost_database_is_not_an_api_failure(sandbox, pg_admin_url, fresh_database):
    # The password is accepted (trust authentication) and must never be shown.
    url = make_url(fresh_database("mdp_budget_down")).set(password="pw-s3cret-9")
    url = url.render_as_string(hide_password=False)
    create_schema(url)
    budget = PostgresRequestBudget(url, "down", 100)
    client = PolygonClient(KEY, sandbox.base_url, budget=budget, retry=FAST_RETRY, breaker_threshold=1)
    assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1
    database = make_url(url).database
    _allow_connections(pg_admin_url, database, False)
    try:
        with pytest.raises(DatabaseUnavailableError) as info:
            client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))
    finally:
        _allow_connections(pg_admin_url, database, True)
    message = str(info.value)
    assert message.startswith("database unreachable") and database in message and "pw-s3cret-9" not in message
    assert not client.breaker.is_open
    # The database is back: the next call goes through at once, no "circuit open".
    assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1
    client.close()
