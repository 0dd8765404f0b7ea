"""intraday_anchor_minutes: multi-unit intraday buckets on another grid than local midnight, set over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime

from marketdata_pipeline.sandbox import aggregate
from marketdata_pipeline.sandbox.calendar import ET

from .conftest import fetch_all, frame_records

RANGE = "/v2/aggs/ticker/{}/range/{}/{}/{}/{}"


def starts(bars: list[dict], tz) -> list[str]:
    return [datetime.fromtimestamp(b["t"] / 1000, tz).strftime("%H:%M") for b in bars]


def test_the_anchor_is_set_through_the_admin_route(client):
    assert client.get("/_sandbox/config").json()["intraday_anchor_minutes"] == 0
    body = client.post("/_sandbox/config", json={"intraday_anchor_minutes": "570"}).raise_for_status().json()
    assert body["intraday_anchor_minutes"] == 570
    refused = client.post("/_sandbox/config", json={"intraday_anchor_minutes": 1440})
    assert refused.status_code == 400 and "intraday_anchor_minutes" in refused.json()["error"]


def test_anchored_buckets_start_off_midnight_and_stay_inside_the_day(client):
    client.post("/_sandbox/config", json={"intraday_anchor_minutes": 570}).raise_for_status()
    stock, _ = fetch_all(client, RANGE.format("AAPL", 4, "hour", "2024-06-05", "2024-06-05"))
    assert starts(stock, ET) == ["01:30", "05:30", "09:30", "13:30", "17:30"]  # the first covers 04:00-05:30
    hours, _ = fetch_all(client, RANGE.format("AAPL", 1, "hour", "2024-06-05", "2024-06-05"))
    assert starts(hours, ET)[:3] == ["03:30", "04:30", "05:30"]
    crypto, _ = fetch_all(client, RANGE.format("X:BTCUSD", 4, "hour", "2024-06-05", "2024-06-05"))
    assert starts(crypto, UTC) == ["00:00", "01:30", "05:30", "09:30", "13:30", "17:30", "21:30"]
    # The shortened first and last buckets tile the day with the others: every minute counted once.
    [day], _ = fetch_all(client, RANGE.format("X:BTCUSD", 1, "day", "2024-06-05", "2024-06-05"))
    assert sum(b["v"] for b in crypto) == day["v"] and sum(b["n"] for b in crypto) == day["n"]


def test_anchored_bars_page_like_the_default_grid(client):
    client.post("/_sandbox/config", json={"intraday_anchor_minutes": 570}).raise_for_status()
    bars, pages = fetch_all(client, RANGE.format("MSFT", 4, "hour", "2024-03-05", "2024-03-07"), {"limit": 300})
    assert len(pages) >= 3
    expected = aggregate.bars("MSFT", 4, "hour", date(2024, 3, 5), date(2024, 3, 7), adjusted=True, anchor_minutes=570)
    assert bars == frame_records(expected)


def test_grids_the_anchor_falls_on_are_unchanged(client):
    default = {
        size: fetch_all(client, RANGE.format("AAPL", size, "minute", "2024-06-05", "2024-06-05"))[0] for size in (1, 15)
    }
    client.post("/_sandbox/config", json={"intraday_anchor_minutes": 570}).raise_for_status()
    for size, bars in default.items():
        assert fetch_all(client, RANGE.format("AAPL", size, "minute", "2024-06-05", "2024-06-05"))[0] == bars
