"""The range endpoint over loopback HTTP: paging, consistency, the clock, adjustment, validation."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import pytest

from marketdata_pipeline.sandbox import aggregate
from marketdata_pipeline.sandbox.calendar import ET

from .conftest import fetch_all, frame_records

RANGE = "/v2/aggs/ticker/{}/range/{}/{}/{}/{}"


def test_pagination_returns_every_bar_exactly_once(client, sandbox):
    bars, pages = fetch_all(client, RANGE.format("MSFT", 1, "minute", "2024-03-05", "2024-03-07"), {"limit": 500})
    assert len(pages) >= 3
    expected = frame_records(aggregate.bars("MSFT", 1, "minute", date(2024, 3, 5), date(2024, 3, 7), adjusted=True))
    assert bars == expected
    for body in pages:
        assert body["queryCount"] <= 500 and body["resultsCount"] == body["count"] == len(body["results"])
    for body in pages[:-1]:
        assert body["next_url"].startswith(sandbox.base_url + "/v2/aggs/ticker/MSFT/range/1/minute/")
        assert "test-key" not in body["next_url"] and "apiKey" not in body["next_url"]
    assert "next_url" not in pages[-1]


def test_limit_counts_base_minutes_and_drops_partial_bars(client):
    bars, pages = fetch_all(client, RANGE.format("MSFT", 1, "hour", "2024-03-05", "2024-03-08"), {"limit": 1000})
    assert len(pages) >= 2
    assert bars == frame_records(aggregate.bars("MSFT", 1, "hour", date(2024, 3, 5), date(2024, 3, 8), adjusted=True))
    first = pages[0]
    next_from = int(first["next_url"].split("/range/1/hour/")[1].split("/")[0])
    assert next_from > first["results"][-1]["t"]  # the cut bar is served whole on the next page


def test_cursor_carries_query_parameters(client):
    body = client.get(RANGE.format("MSFT", 5, "minute", "2024-03-05", "2024-03-08"), params={"limit": 2000, "adjusted": "false"}).json()
    cursor = body["next_url"].split("cursor=")[1]
    assert base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode() == "limit=2000&sort=asc&adjusted=false"
    second = client.get(body["next_url"] + "&adjusted=true&limit=5").json()  # cursor wins
    assert second["adjusted"] is False and second["queryCount"] > 5


def test_descending_pages_mirror_ascending(client):
    asc, _ = fetch_all(client, RANGE.format("MSFT", 15, "minute", "2024-03-05", "2024-03-08"), {"limit": 1500})
    desc, pages = fetch_all(client, RANGE.format("MSFT", 15, "minute", "2024-03-05", "2024-03-08"), {"limit": 1500, "sort": "desc"})
    assert len(pages) >= 2 and desc == asc[::-1]


@pytest.mark.parametrize("symbol, session", [("AAPL", "2024-03-05"), ("X:BTCUSD", "2024-03-09")])
def test_daily_bar_equals_aggregate_of_5m_bars_over_http(client, symbol, session):
    (daily,) = client.get(RANGE.format(symbol, 1, "day", session, session)).json()["results"]
    five, _ = fetch_all(client, RANGE.format(symbol, 5, "minute", session, session), {"limit": 50000})
    assert daily["o"] == five[0]["o"] and daily["c"] == five[-1]["c"]
    assert daily["h"] == max(b["h"] for b in five) and daily["l"] == min(b["l"] for b in five)
    assert daily["v"] == sum(b["v"] for b in five) and daily["n"] == sum(b["n"] for b in five)
    assert daily["vw"] == pytest.approx(sum(b["vw"] * b["v"] for b in five) / daily["v"], rel=1e-12)


def test_empty_window_and_unknown_ticker_have_no_results(client):
    for path in (RANGE.format("AAPL", 1, "day", "2024-07-04", "2024-07-04"), RANGE.format("AAPL", 1, "minute", "2014-01-02", "2014-01-03")):
        body = client.get(path).json()
        assert body["resultsCount"] == body["queryCount"] == 0 and "results" not in body and body["status"] == "OK"


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_clock_hides_the_future_and_never_rewrites_the_past(client, sandbox):
    wednesday_noon = datetime(2024, 6, 5, 12, tzinfo=ET)
    sandbox.set_now(wednesday_noon)
    past = client.get(RANGE.format("MSFT", 5, "minute", "2024-06-03", "2024-06-03"), params={"limit": 50000}).json()
    today = client.get(RANGE.format("MSFT", 5, "minute", "2024-06-05", "2024-06-06"), params={"limit": 50000}).json()
    assert max(b["t"] for b in today["results"]) + 5 * 60_000 <= ms(wednesday_noon)
    assert "next_url" not in today  # nothing more exists yet
    assert client.get(RANGE.format("MSFT", 1, "day", "2024-06-05", "2024-06-05")).json()["resultsCount"] == 0

    sandbox.set_now(wednesday_noon + timedelta(days=1))
    later = client.get(RANGE.format("MSFT", 5, "minute", "2024-06-05", "2024-06-06"), params={"limit": 50000}).json()
    thursday = ms(datetime(2024, 6, 6, tzinfo=ET))
    assert later["results"][: today["resultsCount"]] == today["results"]  # the morning didn't change
    assert any(ms(wednesday_noon) <= b["t"] < thursday for b in later["results"])  # Wednesday afternoon appeared
    assert any(b["t"] >= thursday for b in later["results"])  # and Thursday morning
    assert client.get(RANGE.format("MSFT", 1, "day", "2024-06-05", "2024-06-05")).json()["resultsCount"] == 1
    again = client.get(RANGE.format("MSFT", 5, "minute", "2024-06-03", "2024-06-03"), params={"limit": 50000}).json()
    assert again["results"] == past["results"]


def test_adjusted_is_unadjusted_divided_by_later_splits(client, sandbox):
    window = RANGE.format("NVDA", 1, "day", "2024-06-03", "2024-06-14")
    raw = {b["t"]: b for b in client.get(window, params={"adjusted": "false"}).json()["results"]}
    adj = {b["t"]: b for b in client.get(window).json()["results"]}
    split_ms = ms(datetime(2024, 6, 10, tzinfo=ET))
    for t, bar in raw.items():
        factor = 10 if t < split_ms else 1
        for field in ("o", "h", "l", "c", "vw"):
            assert adj[t][field] == pytest.approx(bar[field] / factor, rel=1e-12)
        assert adj[t]["v"] == bar["v"] * factor
    splits = client.get("/v3/reference/splits", params={"ticker": "NVDA"}).json()["results"]
    assert {"execution_date": "2024-06-10", "split_from": 1, "split_to": 10, "ticker": "NVDA"}.items() <= splits[0].items()

    sandbox.set_now(datetime(2024, 6, 8, tzinfo=UTC))  # before the split it is not known yet
    early = client.get(RANGE.format("NVDA", 1, "day", "2024-06-03", "2024-06-07")).json()["results"]
    assert [b["c"] for b in early] == [raw[b["t"]]["c"] for b in early]


@pytest.mark.parametrize(
    "path, error",
    [
        (RANGE.format("AAPL", 1, "day", "2024-13-01", "2024-12-31"), "Could not parse the time parameter: 'from'. Use YYYY-MM-DD or Unix MS Timestamps"),
        (RANGE.format("AAPL", 1, "day", "2024-01-01", "yesterday"), "Could not parse the time parameter: 'to'. Use YYYY-MM-DD or Unix MS Timestamps"),
        (RANGE.format("AAPL", 1, "day", "2024-02-01", "2024-01-01"), "The parameter 'to' cannot be a time that occurs before 'from'"),
    ],
)
def test_validation_errors_use_polygon_texts(client, path, error):
    response = client.get(path)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "ERROR" and body["error"] == error and len(body["request_id"]) == 32


def test_other_validation_errors_are_400(client):
    for path, params in (
        (RANGE.format("AAPL", 0, "day", "2024-01-01", "2024-01-05"), {}),
        (RANGE.format("AAPL", 1, "fortnight", "2024-01-01", "2024-01-05"), {}),
        (RANGE.format("AAPL", 1, "day", "2024-01-01", "2024-01-05"), {"sort": "up"}),
        (RANGE.format("AAPL", 1, "day", "2024-01-01", "2024-01-05"), {"limit": "many"}),
    ):
        assert client.get(path, params=params).status_code == 400


def test_ms_bounds_and_limit_clamp(client):
    start, end = ms(datetime(2024, 3, 5, 9, 30, tzinfo=ET)), ms(datetime(2024, 3, 5, 9, 34, tzinfo=ET))
    body = client.get(RANGE.format("MSFT", 1, "minute", start, end), params={"limit": 10**9}).json()
    assert [b["t"] for b in body["results"]] == list(range(start, end + 1, 60_000))


def test_delayed_status(client, sandbox):
    sandbox.config.delayed = True
    assert client.get(RANGE.format("AAPL", 1, "day", "2024-03-05", "2024-03-05")).json()["status"] == "DELAYED"
