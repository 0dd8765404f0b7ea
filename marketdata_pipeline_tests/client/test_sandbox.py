"""The client over real loopback HTTP against the Polygon sandbox."""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pandas as pd
import pytest

from marketdata_pipeline.client import (
    PolygonAuthError,
    PolygonClient,
    PolygonConfigError,
    PolygonUnavailableError,
    RetryPolicy,
)
from marketdata_pipeline.defs.resources import PolygonResource
from marketdata_pipeline.sandbox import faults
from marketdata_pipeline.sandbox.aggregate import bars
from marketdata_pipeline.sandbox.config import FAULT_KINDS
from marketdata_pipeline.storage.request_budget import PostgresRequestBudget
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline_tests.storage.test_request_budget import max_in_window

from .conftest import FAST_RETRY, KEY

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


def _admin(sandbox, **changes) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/config", json=changes, timeout=5).raise_for_status()


def test_concurrent_calls_ride_out_an_outage_and_finish_when_it_ends(sandbox, connect):
    cooldown = 1.0
    client = connect(
        breaker_threshold=3,
        breaker_cooldown_s=cooldown,
        retry=RetryPolicy(max_retries=10, max_retry_seconds=30, backoff_base_s=0.05, backoff_cap_s=0.2),
    )
    _admin(sandbox, fault_rate=1.0, fault_kinds=["503"])  # every data request fails
    finished: dict[str, float] = {}
    failures: list[BaseException] = []

    def fetch(symbol: str) -> None:
        try:
            assert len(client.aggs.range(symbol, "1d", END, END)) == 1
            finished[symbol] = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=fetch, args=(s,)) for s in ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL")]
    for thread in threads:
        thread.start()
    time.sleep(4.0)  # the outage: several cool-downs and failed half-open trials
    assert client.breaker.is_open and not finished and not failures
    _admin(sandbox, fault_rate=0.0)
    back = time.monotonic()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, [str(f) for f in failures]  # none gave up with "circuit open"
    assert len(finished) == 5 and max(finished.values()) - back < cooldown + 3  # all promptly after the recovery
    assert not client.breaker.is_open


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:1", "http://polygon-sandbox.invalid"], ids=["refused", "dns"])
def test_a_wrong_base_url_is_a_configuration_error_within_seconds(base_url):
    client = PolygonClient(KEY, base_url)  # the default policy: 10 retries over up to 300 s
    started = time.monotonic()
    with pytest.raises(PolygonConfigError, match=re.escape(f"cannot reach the Polygon API at {base_url}")):
        client.aggs.range("AAPL", "1d", END, END)
    assert time.monotonic() - started < 15  # not 373 s of retries
    assert not client.breaker.is_open
    client.close()


def test_after_a_success_a_refused_connection_is_an_outage(sandbox, connect):
    client = connect(breaker_threshold=100)
    assert len(client.aggs.range("AAPL", "1d", END, END)) == 1
    sandbox.stop()  # the API goes away after it has answered: retried as transient
    with pytest.raises(PolygonUnavailableError, match=r"failed 5 times .*connection error"):
        client.aggs.range("AAPL", "1d", END, END)


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


class _RawCapture(BaseHTTPRequestHandler):
    """A receiving server that keeps each request's raw request line and headers, as a proxy or access log would."""

    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.requestline, str(self.headers)))
        body = json.dumps({"ticker": "AAPL", "adjusted": False, "status": "OK", "resultsCount": 0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_key_travels_only_in_the_authorization_header():
    _RawCapture.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RawCapture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with PolygonClient(KEY, f"http://127.0.0.1:{server.server_port}") as client:
            client.aggs.range("AAPL", "5m", END, END)
            client.reference.splits("AAPL")
    finally:
        server.shutdown()
        server.server_close()
    assert len(_RawCapture.seen) == 2
    for request_line, headers in _RawCapture.seen:
        assert KEY not in request_line  # never in a URL, which proxies and access logs record
        assert [line for line in headers.splitlines() if KEY in line] == [f"Authorization: Bearer {KEY}"]


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


def _learning_worker(base_url: str, database_url: str, calls: int, barrier) -> None:
    # As a run builds it: a database, and no POLYGON_MAX_REQUESTS_PER_MINUTE.
    client = PolygonResource(api_key=KEY, base_url=base_url, database=MarketDatabase(url=database_url)).build_client()
    assert isinstance(client.budget, PostgresRequestBudget) and client.budget.max_per_window is None
    client.budget.window_s = 2.2  # the sandbox's 60 s window is shortened to 2 s
    barrier.wait()

    def work(_: int) -> None:
        client.aggs.range("AAPL", "1d", END, END)

    with ThreadPoolExecutor(3) as pool:  # three partitions at once, as a run's threads do
        list(pool.map(work, range(calls)))


def test_a_429_storm_without_a_configured_budget_costs_few_requests(sandbox, clean_db, short_rate_window):
    sandbox.config.rate_limit_per_minute, sandbox.config.retry_after = 5, True  # 5 per 2 s window here
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    pages = 2 * 15
    workers = [
        context.Process(target=_learning_worker, args=(sandbox.base_url, clean_db, pages // 2, barrier)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]  # every call succeeded
    statuses = [r.status for r in sandbox.requests]
    assert statuses.count(200) == pages
    # Until the first 429 is learned each of the 6 concurrent callers may meet one; afterwards only the slow
    # upward probe costs a 429 now and then (at most 10 % of the pages).
    callers = 2 * 3
    assert statuses.count(429) <= 0.1 * pages + callers, [(round(r.at, 2), r.status) for r in sandbox.requests]
