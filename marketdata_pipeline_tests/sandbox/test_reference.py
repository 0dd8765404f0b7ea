"""Splits, dividends, grouped daily and previous close."""

from __future__ import annotations

from datetime import UTC, date, datetime

from marketdata_pipeline.sandbox import aggregate, synthetic
from marketdata_pipeline.sandbox.calendar import ET

from .conftest import fetch_all


def test_splits_filter_sort_and_page(client, sandbox):
    everything, pages = fetch_all(client, "/v3/reference/splits", {"limit": 2, "order": "asc"})
    assert len(pages) >= 3 and all(len(p["results"]) <= 2 for p in pages)
    assert [s["execution_date"] for s in everything] == sorted(s["execution_date"] for s in everything)
    assert {(s["ticker"], s["execution_date"]) for s in everything} == {(s.ticker, s.execution_date.isoformat()) for s in synthetic.all_splits()}
    assert len({s["id"] for s in everything}) == len(everything)
    tsla = client.get("/v3/reference/splits", params={"ticker": "TSLA", "execution_date.gte": "2021-01-01"}).json()["results"]
    assert [(s["execution_date"], s["split_from"], s["split_to"]) for s in tsla] == [("2022-08-25", 1, 3)]


def test_splits_after_the_clock_are_unknown(client, sandbox):
    sandbox.set_now(datetime(2022, 1, 1, tzinfo=ET))
    dates = [s["execution_date"] for s in client.get("/v3/reference/splits", params={"limit": 1000}).json()["results"]]
    assert dates and max(dates) < "2022-01-01"


def test_dividends_page_by_ticker_and_date(client):
    quarter, pages = fetch_all(client, "/v3/reference/dividends", {"ticker": "AAPL", "ex_dividend_date.gte": "2023-01-01", "ex_dividend_date.lte": "2024-12-31", "limit": 3})
    assert len(pages) == 3 and len(quarter) == 8
    assert [d["ex_dividend_date"] for d in quarter] == sorted((d["ex_dividend_date"] for d in quarter), reverse=True)
    first = quarter[0]
    assert first["ticker"] == "AAPL" and first["frequency"] == 4 and first["dividend_type"] == "CD" and first["cash_amount"] > 0
    assert first["declaration_date"] < first["ex_dividend_date"] < first["record_date"] < first["pay_date"]
    assert synthetic.dividends_for("NVDA") == []


def test_grouped_daily_lists_the_universe_stamped_at_the_close(client):
    client.get("/v2/aggs/ticker/QQZZ/range/1/day/2024-03-05/2024-03-05")  # joins the universe
    body = client.get("/v2/aggs/grouped/locale/us/market/stocks/2024-03-05", params={"adjusted": "false", "include_otc": "false"}).json()
    by_ticker = {r["T"]: r for r in body["results"]}
    assert set(synthetic.DEFAULT_STOCKS) | {"QQZZ"} <= set(by_ticker) and body["resultsCount"] == len(by_ticker)
    close = int(datetime(2024, 3, 5, 16, tzinfo=ET).timestamp() * 1000)
    assert {r["t"] for r in body["results"]} == {close}
    daily = aggregate.bars("AAPL", 1, "day", date(2024, 3, 5), date(2024, 3, 5), adjusted=False).iloc[0]
    assert by_ticker["AAPL"]["c"] == daily.c and by_ticker["AAPL"]["v"] == daily.v


def test_grouped_daily_on_a_holiday_is_empty_and_a_bad_date_is_400(client):
    holiday = client.get("/v2/aggs/grouped/locale/us/market/stocks/2024-07-04").json()
    assert holiday["resultsCount"] == 0 and "results" not in holiday and holiday["status"] == "OK"
    bad = client.get("/v2/aggs/grouped/locale/us/market/stocks/2024-7-4")
    assert bad.status_code == 400
    assert bad.json()["error"] == "The path parameter `date` with value 2024-7-4 is invalid, must be of the format YYYY-MM-DD."


def test_prev_is_the_last_complete_session(client, sandbox):
    sandbox.set_now(datetime(2024, 7, 5, 12, tzinfo=ET))  # the session of 07-05 is still running; 07-04 a holiday
    body = client.get("/v2/aggs/ticker/AAPL/prev").json()
    (bar,) = body["results"]
    assert bar["T"] == "AAPL" and bar["t"] == int(datetime(2024, 7, 3, 16, tzinfo=ET).timestamp() * 1000)
    crypto = client.get("/v2/aggs/ticker/X:BTCUSD/prev").json()["results"][0]
    assert crypto["T"] == "X:BTCUSD" and crypto["t"] == int(datetime(2024, 7, 4, tzinfo=UTC).timestamp() * 1000)
