"""Client behaviour against a scripted fake server (httpx.MockTransport): no network, no timing."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import httpx
import pandas as pd
import pytest

from marketdata_pipeline.client import (
    CircuitOpenError,
    PolygonAuthError,
    PolygonClient,
    PolygonConfigError,
    PolygonRequestError,
    PolygonResponseError,
    PolygonUnavailableError,
    RetryPolicy,
)
from marketdata_pipeline.client.aggs import BAR_COLUMNS
from marketdata_pipeline.client.errors import TransientError
from marketdata_pipeline.client.params import filter_params
from marketdata_pipeline.client.redaction import MIN_SECRET_LENGTH, Secret, redact
from marketdata_pipeline.client.transport import retry_after_s

from .conftest import KEY, FakePolygon, bar, json_response, page

DAY = 86_400_000
T0 = 1_717_560_000_000  # 2024-06-05T04:00Z


def test_range_request_shape_and_frame(fake_client):
    without_vw_n = {k: v for k, v in bar(T0 + DAY).items() if k not in ("vw", "n")}
    fake = FakePolygon(json_response(200, page([bar(T0), without_vw_n])))
    frame = fake_client(fake).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 6))
    request = fake.requests[0]
    assert request.url.path == "/v2/aggs/ticker/AAPL/range/1/day/2024-06-05/2024-06-06"
    assert dict(request.url.params) == {"adjusted": "false", "sort": "asc", "limit": "50000"}
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.url)
    assert list(frame.columns) == BAR_COLUMNS
    assert list(frame["time"]) == [pd.Timestamp(T0, unit="ms", tz="UTC"), pd.Timestamp(T0 + DAY, unit="ms", tz="UTC")]
    assert pd.isna(frame["vwap"].iloc[1]) and frame["trade_count"].iloc[1] is pd.NA and frame["trade_count"].iloc[0] == 5


def test_datetimes_go_as_ms_and_naive_ones_are_refused(fake_client):
    fake = FakePolygon(json_response(200, page(None)))
    client = fake_client(fake)
    start = datetime(2024, 6, 5, 13, 30, tzinfo=UTC)
    frame = client.aggs.range("X:BTCUSD", "5m", start, datetime(2024, 6, 5, 14, tzinfo=UTC))
    assert fake.requests[0].url.path == f"/v2/aggs/ticker/X:BTCUSD/range/5/minute/{int(start.timestamp() * 1000)}/1717596000000"
    assert frame.empty and list(frame.columns) == BAR_COLUMNS
    with pytest.raises(ValueError, match="no time zone"):
        client.aggs.range("AAPL", "5m", datetime(2024, 6, 5), date(2024, 6, 6))


def test_pagination_uses_own_base_drops_duplicates_and_sorts(fake_client):
    fake = FakePolygon(
        json_response(200, page([bar(T0), bar(T0 + DAY)], next_url="https://evil.example:443/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=abc")),
        json_response(200, page(None, next_url="https://api.massive.com/v2/aggs/ticker/AAPL/range/1/day/2/2?cursor=def")),
        json_response(200, page([bar(T0 + DAY, price=99.0), bar(T0 + 2 * DAY)], status="DELAYED")),
    )
    client = fake_client(fake)
    before = client.stats.snapshot()
    frame = client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 7))
    after = client.stats.snapshot()
    assert [str(r.url) for r in fake.requests[1:]] == [
        "https://api.test/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=abc",
        "https://api.test/v2/aggs/ticker/AAPL/range/1/day/2/2?cursor=def",
    ]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests)
    assert list(frame["time"].astype("int64") // 10**6) == [T0, T0 + DAY, T0 + 2 * DAY]
    assert frame["open"].iloc[1] == 99.0  # the later page's copy wins
    assert after["pages"] - before["pages"] == 3 and after["requests"] - before["requests"] == 3


def test_adjusted_is_checked_on_every_page(fake_client):
    fake = FakePolygon(
        json_response(200, page([bar(T0)], next_url="https://x/v2/aggs/ticker/AAPL/range/1/day/2/3?cursor=c")),
        json_response(200, page([bar(T0 + DAY)], adjusted=True)),
    )
    with pytest.raises(PolygonResponseError, match="adjusted=false but the page says adjusted=True"):
        fake_client(fake).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 7))


def test_pagination_loop_is_an_error(fake_client):
    looping = json_response(200, page([bar(T0)], next_url="https://x/v2/aggs/ticker/AAPL/range/1/day/2/3?cursor=c"))
    with pytest.raises(PolygonResponseError, match="pagination loop"):
        fake_client(FakePolygon(looping)).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 7))


def test_grouped_daily_normalises_to_session_midnight(fake_client):
    close_stamp = 1_717_617_600_000  # 2024-06-05T20:00Z = 16:00 ET
    body = {"adjusted": False, "status": "OK", "queryCount": 2, "resultsCount": 2,
            "results": [bar(close_stamp, T="MSFT"), bar(close_stamp, T="AAPL")]}
    fake = FakePolygon(json_response(200, body))
    frame = fake_client(fake).aggs.grouped_daily(date(2024, 6, 5))
    assert fake.requests[0].url.path == "/v2/aggs/grouped/locale/us/market/stocks/2024-06-05"
    assert list(frame.columns) == ["symbol", *BAR_COLUMNS]
    assert list(frame["symbol"]) == ["AAPL", "MSFT"]
    assert set(frame["time"]) == {pd.Timestamp("2024-06-05T04:00Z")}  # 00:00 ET, as range 1d bars


def test_reference_filters_and_pages(fake_client):
    fake = FakePolygon(
        json_response(200, {"status": "OK", "results": [{"ticker": "AAPL", "execution_date": "2020-08-31", "split_from": 1, "split_to": 4}],
                            "next_url": "https://x/v3/reference/splits?cursor=p2"}),
        json_response(200, {"status": "OK", "results": [{"ticker": "AAPL", "execution_date": "2014-06-09", "split_from": 1, "split_to": 7}]}),
    )
    frame = fake_client(fake).reference.splits("AAPL", execution_date_gte=date(2000, 1, 1), reverse_split=False)
    assert dict(fake.requests[0].url.params) == {"limit": "1000", "ticker": "AAPL", "execution_date.gte": "2000-01-01", "reverse_split": "false"}
    assert list(frame["split_to"]) == [4.0, 7.0] and frame["id"].isna().all()
    assert filter_params({"ticker_any_of": ["A", "B"], "x": None}) == {"ticker.any_of": "A,B"}


def test_401_is_not_retried_and_says_so(fake_client):
    fake = FakePolygon(json_response(401, {"status": "ERROR", "request_id": "r", "error": "Unknown API Key"}))
    with pytest.raises(PolygonAuthError) as info:
        fake_client(fake).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))
    assert str(info.value) == "invalid or unauthorized Polygon API key (HTTP 401): Unknown API Key"
    assert len(fake.requests) == 1


def test_404_reads_message_key_and_is_not_retried(fake_client):
    fake = FakePolygon(json_response(404, {"status": "NOT_FOUND", "request_id": "r", "message": "Data not found."}))
    with pytest.raises(PolygonRequestError, match=r"\(HTTP 404\): Data not found\.") as info:
        fake_client(fake).reference.dividends("AAPL")
    assert info.value.status == 404 and len(fake.requests) == 1


def test_429_then_success_counts(fake_client):
    fake = FakePolygon(
        json_response(429, {"status": "ERROR", "error": "You've exceeded the maximum requests per minute"}),
        json_response(200, page([bar(T0)])),
    )
    client = fake_client(fake)
    assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1
    assert {k: v for k, v in client.stats.snapshot().items() if not k.endswith("_s")} == {
        "requests": 2, "pages": 1, "rate_limited": 1, "retries": 1
    }


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(502, content=b"<html><head><title>502 Bad Gateway</title></head></html>", headers={"content-type": "text/html"}),
        httpx.Response(499, content=b""),
        httpx.Response(200, content=b'{"status": "OK", "results": [{"t": 1'),
    ],
    ids=["html-502", "499", "truncated-json"],
)
def test_transient_failures_are_retried(fake_client, failure):
    fake = FakePolygon(failure, failure, json_response(200, page([bar(T0)])))
    assert len(fake_client(fake).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1
    assert len(fake.requests) == 3


def test_transport_errors_are_retried(fake_client):
    calls = iter([httpx.ConnectError("connection refused"), httpx.ReadTimeout("slow")])

    def flaky(request):
        exc = next(calls, None)
        if exc:
            raise exc
        return json_response(200, page([bar(T0)]))

    fake = FakePolygon(flaky)
    client = fake_client(fake)
    assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1
    assert len(fake.requests) == 3 and client.stats.snapshot()["retries"] == 2


def test_exhausted_retries_give_a_clear_key_free_error(fake_client):
    fake = FakePolygon(httpx.Response(200, content=b"not json at all " + KEY.encode()))
    with pytest.raises(PolygonUnavailableError) as info:
        fake_client(fake, breaker_threshold=100).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))
    message = str(info.value)
    assert "failed 5 times" in message and "malformed JSON" in message
    assert KEY not in message and KEY not in repr(info.value)
    assert len(fake.requests) == 5  # max_retries=4 in FAST_RETRY


def test_breaker_fails_fast_when_its_cool_down_outlasts_the_deadline(fake_client):
    fake = FakePolygon(httpx.Response(503, content=b"down"))
    client = fake_client(fake, breaker_threshold=3, breaker_cooldown_s=30)  # FAST_RETRY's deadline: 10 s
    with pytest.raises(CircuitOpenError, match=r"circuit open after 3 consecutive failures; retrying after \d\d:\d\d:\d\d"):
        client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))
    assert len(fake.requests) == 3
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        client.aggs.grouped_daily(date(2024, 6, 5))
    assert time.monotonic() - started < 1 and len(fake.requests) == 3  # nothing sent, no wait that cannot help


def test_a_call_that_meets_an_open_breaker_waits_for_it(fake_client):
    down = httpx.Response(503, content=b"down")
    fake = FakePolygon(down, down, down, json_response(200, page([bar(T0)])))
    client = fake_client(fake, breaker_threshold=3, breaker_cooldown_s=0.5)
    started = time.monotonic()
    assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1  # the half-open trial
    assert time.monotonic() - started >= 0.5 and len(fake.requests) == 4
    assert not client.breaker.is_open


class SlowBudget:
    """A budget whose first slot takes `wait_s`, like a full window on a 5 requests/minute plan."""

    def __init__(self, wait_s: float):
        self.waits = [wait_s]

    def acquire(self) -> float:
        wait = self.waits.pop() if self.waits else 0.0
        time.sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        pass


def test_a_long_budget_wait_does_not_eat_the_retry_deadline(fake_client):
    fake = FakePolygon(httpx.Response(503, content=b"down"), json_response(200, page([bar(T0)])))
    retry = RetryPolicy(max_retries=4, max_retry_seconds=1.0, backoff_base_s=0.01, backoff_cap_s=0.05)
    client = fake_client(fake, budget=SlowBudget(1.5), retry=retry)
    assert len(client.aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))) == 1
    assert len(fake.requests) == 2  # the 503 after the 1.5 s wait was retried: the deadline began at the send


def test_the_retry_deadline_still_ends_the_retries(fake_client):
    fake = FakePolygon(httpx.Response(503, content=b"down"))
    retry = RetryPolicy(max_retries=100, max_retry_seconds=0.5, backoff_base_s=0.1, backoff_cap_s=0.1)
    with pytest.raises(PolygonUnavailableError, match=r"failed \d+ times over 0\.\ds"):
        fake_client(fake, retry=retry, breaker_threshold=1000).aggs.range("AAPL", "1d", date(2024, 6, 5), date(2024, 6, 5))
    assert 2 <= len(fake.requests) < 20


def test_short_keys_are_not_redacted_and_keys_only_as_tokens():
    Secret("t")  # a one-letter "key" must not turn "ticker" into "***icker"
    Secret("icker")
    Secret("abcdefgh")
    assert redact("ticker t failed; icker") == "ticker t failed; icker"
    assert redact("xabcdefghx abcdefgh1 key=abcdefgh&x 'abcdefgh'") == "xabcdefghx abcdefgh1 key=***&x '***'"
    Secret(KEY)
    assert redact(f"Bearer {KEY}, apiKey={KEY}&limit=1 ({KEY})") == "Bearer ***, apiKey=***&limit=1 (***)"
    short = "x" * (MIN_SECRET_LENGTH - 1)
    Secret(short)
    assert redact(f"id {short}") == f"id {short}"


def test_retry_policy_waits():
    policy = RetryPolicy(backoff_base_s=1, backoff_cap_s=10, rate_limit_cap_s=20)
    assert policy.wait_s(TransientError("429", status=429, retry_after=7.0), 1) == 7.0
    assert all(0 <= policy.wait_s(TransientError("503", status=503), 10) <= 10 for _ in range(200))
    waits = [policy.wait_s(TransientError("429", status=429), 10) for _ in range(200)]
    assert max(waits) <= 20 and max(waits) > 10  # 429s back off further, to ride out a per-minute window
    assert retry_after_s({"retry-after": "3"}) == 3.0 and retry_after_s({}) is None
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_missing_key_is_a_clear_config_error():
    for key in (None, "", "  "):
        with pytest.raises(PolygonConfigError, match="POLYGON_API_KEY.*MASSIVE_API_KEY"):
            PolygonClient(key, "https://api.test")


def test_key_stays_out_of_reprs():
    secret = Secret(KEY)
    client = PolygonClient(secret, "https://api.test")
    assert KEY not in repr(client) and KEY not in repr(secret) and KEY not in str(secret)
    assert KEY not in repr(client._transport._http.headers)
    client.close()
