"""Every response in polygon_fixtures/ goes through the client's own parsing and classification."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from marketdata_pipeline.bars import BAR_DTYPES  # the client returns bars in the stored schema
from marketdata_pipeline.client.aggs import BAR_COLUMNS, bars_frame, check_adjusted, grouped_frame
from marketdata_pipeline.client.errors import (
    PolygonAuthError,
    PolygonRequestError,
    PolygonResponseError,
    TransientError,
)
from marketdata_pipeline.client.reference import DIVIDEND_COLUMNS, SPLIT_COLUMNS, records_frame
from marketdata_pipeline.client.transport import parse_response

NOT_CLIENT_ENDPOINTS = ("/v3/reference/tickers",)  # the symbol universe is not fetched through this client


def load(fixtures_dir, name: str) -> tuple[int, dict[str, str], bytes, dict]:
    meta = json.loads((fixtures_dir / "index.json").read_text())["files"][name]
    raw = (fixtures_dir / name).read_bytes()
    wrapped = json.loads(raw)
    if "_body" in wrapped:  # non-JSON bodies are stored wrapped
        return meta.get("http_status", 200), {"content-type": wrapped["_content_type"]}, wrapped["_body"].encode(), meta
    return meta.get("http_status", 200), {"content-type": "application/json"}, raw, meta


def fixture_names(fixtures_dir) -> list[str]:
    return sorted(json.loads((fixtures_dir / "index.json").read_text())["files"])


def assert_bars(frame: pd.DataFrame, results: list[dict]) -> None:
    assert {c: str(t) for c, t in frame.dtypes.items() if c in BAR_COLUMNS} == BAR_DTYPES
    assert len(frame) == len(results)
    for row, result in zip(frame.itertuples(), results):
        assert row.open == result["o"] and row.close == result["c"] and row.volume == float(result["v"])
        assert (pd.isna(row.vwap) if "vw" not in result else row.vwap == result["vw"])
        assert (pd.isna(row.trade_count) if "n" not in result else row.trade_count == result["n"])


def session_midnight(t_ms: int, zone: str) -> datetime:
    """00:00 of the session day of `t_ms` in `zone`, by the standard library (not the code under test's pandas)."""
    tz = ZoneInfo(zone)
    day = datetime.fromtimestamp(t_ms / 1000, tz).date()
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def test_session_midnight_by_hand():
    # 2020-10-14T20:00Z is 16:00 EDT (UTC-4): midnight is 04:00Z; 2020-01-02T21:00Z is 16:00 EST (UTC-5): 05:00Z.
    assert session_midnight(1602705600000, "America/New_York") == datetime(2020, 10, 14, 4, tzinfo=UTC)
    assert session_midnight(1577998800000, "America/New_York") == datetime(2020, 1, 2, 5, tzinfo=UTC)
    assert session_midnight(1602705600000, "UTC") == datetime(2020, 10, 14, tzinfo=UTC)


def test_every_fixture_parses(fixtures_dir):
    names = fixture_names(fixtures_dir)
    assert len(names) >= 30, "the fixture index looks truncated"
    handled = set()
    for name in names:
        status, headers, content, meta = load(fixtures_dir, name)
        path = meta["path"]
        if name.endswith(".schema.json") or status != 200 or path.startswith(NOT_CLIENT_ENDPOINTS):
            continue  # error bodies: test_error_fixtures; schema is not a response
        body = parse_response(status, headers, content, f"GET {path}")
        results = body.get("results") or []
        if "/range/" in path:
            # What the request asked for (Polygon's default is adjusted=true), not what the body says.
            asked = dict(parse_qsl(meta.get("query", ""))).get("adjusted", "true") == "true"
            check_adjusted(body, asked, path)
            with pytest.raises(PolygonResponseError, match="but the page says"):
                check_adjusted(body, not asked, path)
            frame = bars_frame(results)
            assert_bars(frame, results)
            assert list(frame.columns) == BAR_COLUMNS
            assert list(frame["time"]) == [pd.Timestamp(r["t"], unit="ms", tz="UTC") for r in results]
        elif "/grouped/" in path or path.endswith("/prev"):
            zone = "UTC" if "crypto" in path or "X:" in path else "America/New_York"
            frame = grouped_frame(results, zone)
            by_symbol = sorted(results, key=lambda r: r["T"])
            assert list(frame["symbol"]) == [r["T"] for r in by_symbol]
            assert_bars(frame, by_symbol)
            for stamp, result in zip(frame["time"], by_symbol):
                assert stamp.to_pydatetime() == session_midnight(result["t"], zone)
        elif path.endswith("/splits"):
            frame = records_frame(results, SPLIT_COLUMNS)
            assert list(frame["split_to"] / frame["split_from"]) == [r["split_to"] / r["split_from"] for r in results]
            assert list(frame["execution_date"]) == [pd.Timestamp(r["execution_date"]) for r in results]
        elif path.endswith("/dividends"):
            frame = records_frame(results, DIVIDEND_COLUMNS)
            assert list(frame["cash_amount"]) == [r["cash_amount"] for r in results]
            assert list(frame["ex_dividend_date"]) == [pd.Timestamp(r["ex_dividend_date"]) for r in results]
            assert str(frame["frequency"].dtype) == "Int64"
        else:
            pytest.fail(f"fixture {name} ({path}) has no parser: classify it in this test")
        handled.add(name)
    assert any("DELAYED" in n.upper() for n in handled) and any("empty" in n for n in handled)


def test_known_shapes(fixtures_dir):
    _, headers, content, _ = load(fixtures_dir, "openapi-examples/stocks_grouped_daily.200.json")
    frame = grouped_frame(parse_response(200, headers, content, "GET grouped")["results"], "America/New_York")
    # t = 2020-10-14T20:00Z (16:00 ET close) becomes 2020-10-14 00:00 ET = 04:00Z, like range 1d bars.
    assert set(frame["time"]) == {pd.Timestamp("2020-10-14T04:00Z")}

    # Index notes: AAPL 1/day bars at ET midnight, 2005-04-01T05:00Z (EST) and 2005-04-04T04:00Z (EDT).
    _, headers, content, _ = load(fixtures_dir, "client-python/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04.json")
    frame = bars_frame(parse_response(200, headers, content, "GET range")["results"])
    assert list(frame["time"]) == [pd.Timestamp("2005-04-01T05:00Z"), pd.Timestamp("2005-04-04T04:00Z")]

    _, headers, content, _ = load(fixtures_dir, "errors/200_empty_range.json")
    empty = bars_frame(parse_response(200, headers, content, "GET range").get("results") or [])
    assert empty.empty and list(empty.columns) == BAR_COLUMNS
    assert {c: str(t) for c, t in empty.dtypes.items()} == BAR_DTYPES

    _, headers, content, _ = load(fixtures_dir, "client-php/v2/aggs/ticker/X;BTCUSD/prev.json")
    prev = parse_response(200, headers, content, "GET prev")["results"]
    assert "n" not in prev[0] and grouped_frame(prev, "UTC")["trade_count"].isna().all()


ERROR_CASES = [
    ("errors/401_unknown_api_key.json", PolygonAuthError, "invalid or unauthorized Polygon API key (HTTP 401): Unknown API Key"),
    ("errors/401_api_key_not_provided.json", PolygonAuthError, "invalid or unauthorized Polygon API key (HTTP 401): API Key was not provided"),
    ("errors/403_not_entitled.json", PolygonAuthError, "(HTTP 403): You are not entitled to this data"),
    ("errors/403_past_historical_entitlement.json", PolygonAuthError, "Attempted to request data past historical entitlements"),
    ("errors/400_to_before_from.json", PolygonRequestError, "The parameter 'to' cannot be a time that occurs before 'from'"),
    ("errors/400_bad_from.json", PolygonRequestError, "Could not parse the time parameter: 'from'"),
    ("errors/400_bad_date_path.json", PolygonRequestError, "The path parameter `date` with value 2023-1-5 is invalid"),
    ("errors/429_rate_limited.json", TransientError, "You've exceeded the maximum requests per minute"),
    ("errors/504_html_gateway.json", TransientError, "HTTP 504: 504 Gateway Time-out"),
]


@pytest.mark.parametrize("name, exc_type, text", ERROR_CASES)
def test_error_fixtures(fixtures_dir, name, exc_type, text):
    status, headers, content, _ = load(fixtures_dir, name)
    with pytest.raises(exc_type) as info:
        parse_response(status, headers, content, "GET /v2/aggs/ticker/AAPL/range/1/day/x/y")
    assert type(info.value) is exc_type and text in str(info.value)
    assert getattr(info.value, "status", None) == status


def test_every_error_fixture_is_covered(fixtures_dir):
    tested = {name for name, _, _ in ERROR_CASES}
    errors = {n for n in fixture_names(fixtures_dir) if load(fixtures_dir, n)[0] != 200}
    assert errors <= tested, f"error fixtures without an expected exception: {sorted(errors - tested)}"
