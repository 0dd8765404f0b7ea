"""The shared request budget on a real PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from marketdata_pipeline.client.budget import PostgresRequestBudget, budget_name
from marketdata_pipeline.storage.database import engine_for

from .conftest import KEY


def max_in_window(stamps: list[float], window_s: float) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for s in stamps[i:] if s < start + window_s) for i, start in enumerate(stamps)), default=0)


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
    with engine_for(clean_db).connect() as conn:
        rows = conn.execute(sa.text("select count(*) from rate_budget_grants where name = 'threads'")).scalar()
    assert rows <= 9  # old grants are pruned as the window slides


def test_penalty_pauses_every_user(clean_db):
    first = PostgresRequestBudget(clean_db, "shared", 100, window_s=60)
    second = PostgresRequestBudget(clean_db, "shared", 100, window_s=60)  # another process, same database
    assert first.acquire() < 0.2
    first.penalize(0.8)
    waited = second.acquire()
    assert 0.6 <= waited < 5
    assert second.acquire() < 0.2


def test_budgets_with_different_names_are_independent(clean_db):
    a = PostgresRequestBudget(clean_db, "a", 1, window_s=30)
    b = PostgresRequestBudget(clean_db, "b", 1, window_s=30)
    assert a.acquire() < 0.2 and b.acquire() < 0.2


def test_rejects_a_zero_limit(clean_db):
    with pytest.raises(ValueError):
        PostgresRequestBudget(clean_db, "zero", 0)
