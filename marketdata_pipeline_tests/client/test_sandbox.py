"""The client over real loopback HTTP against the Polygon sandbox."""

from __future__ import annotations

import logging
import multiprocessing
import time
from datetime import date

import pandas as pd
import pytest

from marketdata_pipeline.client import (
    CircuitOpenError,
    PolygonAuthError,
    PolygonClient,
    PolygonUnavailableError,
    PostgresRequestBudget,
    RetryPolicy,
)
from marketdata_pipeline.sandbox import faults
from marketdata_pipeline.sandbox.aggregate import bars
from marketdata_pipeline.sandbox.config import FAULT_KINDS

from .conftest import FAST_RETRY, KEY
from .test_budget import max_in_window

START, END = date(2024, 5, 27), date(2024, 6, 5)


@pytest.fixture
def connect(sandbox):
    clients = []

    def make(key: str = KEY, **kwargs) -> PolygonClient:
        kwargs.setdefault("retry", FAST_RETRY)
        client = PolygonClient(key, sandbox.base_url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def short_rate_window(monkeypatch):
    """The sandbox limits per rolling 60 s; tests shrink that window to keep seconds, not minutes."""
    monkeypatch.setattr(faults, "WINDOW_S", 2.0)
    return 2.0


def truth(sandbox, symbol: str, multiplier: int, timespan: str, start, end) -> pd.DataFrame:
    return bars(symbol, multiplier, timespan, start, end, False, now=sandbox.config.now)


def assert_same_bars(frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert frame["time"].is_unique and frame["time"].is_monotonic_increasing
    assert list(frame["time"].astype("int64") // 10**6) == list(expected["t_ms"])
    for ours, theirs in [("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"), ("vwap", "vw")]:
        assert frame[ours].to_numpy() == pytest.approx(expected[theirs].to_numpy(), rel=1e-12), ours
    assert list(frame["trade_count"]) == list(expected["n"])


def range_requests(sandbox, symbol: str) -> list:
    return [r for r in sandbox.requests if r.path.startswith(f"/v2/aggs/ticker/{symbol}/range/")]


def test_multi_page_range_returns_every_bar_once(sandbox, connect):
    client = connect(page_limit=500)  # `limit` counts base minutes: a 5m range over 7 sessions needs several pages
    frame = client.aggs.range("AAPL", "5m", START, END)
    assert len(range_requests(sandbox, "AAPL")) >= 4
    assert_same_bars(frame, truth(sandbox, "AAPL", 5, "minute", START, END))


def test_full_size_pages_for_crypto(sandbox, connect):
    # 47 days of crypto minutes exceed one 50000-minute page even for 1h bars.
    frame = connect().aggs.range("X:BTCUSD", "1h", date(2024, 4, 20), END)
    requests = range_requests(sandbox, "X:BTCUSD")
    assert len(requests) == 2 and all("limit=50000" in r.query or "cursor=" in r.query for r in requests)
    assert_same_bars(frame, truth(sandbox, "X:BTCUSD", 1, "hour", date(2024, 4, 20), END))


def test_grouped_daily_matches_range_daily_bars(connect):
    client = connect()
    grouped = client.aggs.grouped_daily(END).set_index("symbol")
    daily = client.aggs.range("AAPL", "1d", END, END)
    assert len(daily) == 1
    assert grouped.loc["AAPL", "time"] == daily["time"].iloc[0]
    assert grouped.loc["AAPL", "close"] == daily["close"].iloc[0]


def test_splits_and_dividends(connect):
    client = connect()
    splits, dividends = client.reference.splits(), client.reference.dividends()
    assert not splits.empty and not dividends.empty
    assert (splits["split_to"] > 0).all() and dividends["ex_dividend_date"].notna().all()
    one = splits["ticker"].iloc[0]
    assert set(client.reference.splits(one)["ticker"]) == {one}


def test_429_then_success(sandbox, connect, short_rate_window):
    sandbox.config.rate_limit_per_minute = 2
    # The default policy's 20 s cap rides out a real minute; this one is scaled to the 2 s window.
    client = connect(retry=RetryPolicy(max_retries=30, backoff_base_s=0.1, rate_limit_cap_s=1.0))
    for _ in range(4):
        assert len(client.aggs.range("AAPL", "1d", END, END)) == 1
    statuses = [r.status for r in sandbox.requests]
    assert 429 in statuses and statuses.count(200) == 4
    assert client.stats.snapshot()["rate_limited"] == statuses.count(429)


def test_retry_after_is_honoured(sandbox, connect, short_rate_window):
    sandbox.config.rate_limit_per_minute, sandbox.config.retry_after = 1, True
    client = connect()  # FAST_RETRY backs off ~0.05 s: only Retry-After makes it wait seconds
    client.aggs.range("AAPL", "1d", END, END)
    client.aggs.range("AAPL", "1d", END, END)
    log = sandbox.requests
    assert [r.status for r in log] == [200, 429, 200]  # one 429, then it waited as told
    assert log[2].at - log[1].at >= 2.0  # Retry-After: ceil(2 s window - ε) = 2


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_transient_faults_are_retried(sandbox, connect, kind):
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 0.5, (kind,)
    sandbox.config.timeout_stall_s = 2.0
    client = connect(timeout_s=0.5, breaker_threshold=100)
    sessions = sum(len(client.aggs.range("MSFT", "1d", day.date(), day.date())) for day in pd.bdate_range("2024-05-28", END))
    assert sessions == len(truth(sandbox, "MSFT", 1, "day", date(2024, 5, 28), END)) == 7
    assert client.stats.snapshot()["retries"] >= 1


def test_401_is_not_retried(sandbox, connect):
    with pytest.raises(PolygonAuthError) as info:
        connect("bad-key").aggs.range("AAPL", "1d", START, END)
    assert str(info.value) == "invalid or unauthorized Polygon API key (HTTP 401): Unknown API Key"
    assert len(sandbox.requests) == 1


def test_malformed_json_retried_then_clear_error(sandbox, connect):
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 1.0, ("malformed",)
    client = connect(breaker_threshold=100)
    with pytest.raises(PolygonUnavailableError, match=r"failed 5 times .*malformed JSON"):
        client.aggs.range("AAPL", "1d", START, END)
    assert len(sandbox.requests) == FAST_RETRY.max_retries + 1
    sandbox.config.fault_rate = 0.0
    assert len(client.aggs.range("AAPL", "1d", START, END)) > 0


def test_circuit_breaker_opens_and_recovers(sandbox, connect):
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 1.0, ("503",)
    client = connect(breaker_threshold=3, breaker_cooldown_s=0.5)
    with pytest.raises(CircuitOpenError, match=r"circuit open after 3 consecutive failures; retrying after \d\d:\d\d:\d\d"):
        client.aggs.range("AAPL", "1d", START, END)
    assert len(sandbox.requests) == 3
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        client.aggs.range("AAPL", "1d", START, END)
    assert time.monotonic() - started < 0.2 and len(sandbox.requests) == 3  # failed fast, nothing sent
    sandbox.config.fault_rate = 0.0
    time.sleep(0.6)
    assert len(client.aggs.range("AAPL", "1d", START, END)) > 0  # the half-open trial closes it
    assert not client.breaker.is_open


def test_key_never_in_logs_or_errors(sandbox, connect, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "marketdata_pipeline"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = connect(breaker_threshold=100)
    client.aggs.range("AAPL", "5m", END, END)
    texts = [repr(client)]
    sandbox.config.fault_rate, sandbox.config.fault_kinds = 1.0, ("503", "reset")
    with pytest.raises(PolygonUnavailableError) as unavailable:
        client.aggs.range("AAPL", "1d", END, END)
    sandbox.config.fault_rate, sandbox.config.bad_keys = 0.0, frozenset({KEY})
    with pytest.raises(PolygonAuthError) as rejected:
        client.aggs.range("AAPL", "1d", END, END)
    texts += [str(unavailable.value), repr(unavailable.value), str(rejected.value), repr(rejected.value)]
    assert "HTTP Request: GET" in caplog.text and "retrying GET" in caplog.text  # the loggers were really captured
    assert KEY not in caplog.text
    assert not [t for t in texts if KEY in t]
    assert not [r for r in sandbox.requests if KEY in r.query or KEY in r.path]


def _budget_worker(base_url: str, database_url: str, name: str, calls: int, barrier) -> None:
    budget = PostgresRequestBudget(database_url, name, 4, window_s=2.2)
    with PolygonClient(KEY, base_url, budget=budget) as client:
        barrier.wait()
        for _ in range(calls):
            client.aggs.range("AAPL", "1d", END, END)


def test_two_processes_share_one_budget(sandbox, clean_db, short_rate_window):
    sandbox.config.rate_limit_per_minute = 4  # per 2 s window here
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_budget_worker, args=(sandbox.base_url, clean_db, "shared-test", 8, barrier))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    log = sandbox.requests
    assert [r.status for r in log] == [200] * 16  # never rate limited
    assert max_in_window([r.at for r in log], short_rate_window) <= 4
    assert log[-1].at - log[0].at >= 3 * short_rate_window  # 16 requests at 4 per window: at least three waits
