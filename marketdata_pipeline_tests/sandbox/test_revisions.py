"""Vendor corrections on demand: revised prices and dropped minutes, set through POST /_sandbox/config and
applied at the minute level so every timeframe (and grouped daily) agrees."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from marketdata_pipeline.sandbox import aggregate
from marketdata_pipeline.sandbox.calendar import ET, to_ms

from .conftest import fetch_all

RANGE = "/v2/aggs/ticker/{}/range/{}/{}/{}/{}"
DAY = "2024-03-05"
# 10:00-10:02 ET revised by 1 %, the 11:00 ET 5m bar dropped entirely, one minute of the 11:15 bar dropped.
CORRECTIONS = {
    "revisions": [{"ticker": "AAPL", "start": "2024-03-05T15:00:00+00:00", "end": "2024-03-05T15:02:00+00:00",
                   "price_factor": 1.01}],
    "drops": [{"ticker": "AAPL", "start": "2024-03-05T16:00:00+00:00", "end": "2024-03-05T16:05:00+00:00"},
              {"ticker": "AAPL", "start": "2024-03-05T16:17:00+00:00", "end": "2024-03-05T16:18:00+00:00"}],
}
MS = {hhmm: to_ms(datetime.fromisoformat(f"{DAY}T{hhmm}").replace(tzinfo=ET))
      for hhmm in ("10:00", "10:01", "11:00", "11:15", "11:17")}


def served(client, multiplier, timespan, ticker="AAPL") -> dict[int, dict]:
    bars, _ = fetch_all(client, RANGE.format(ticker, multiplier, timespan, DAY, DAY), {"adjusted": "false"})
    return {bar["t"]: bar for bar in bars}


def test_corrections_round_trip_through_the_admin_endpoint(client):
    body = client.post("/_sandbox/config", json=CORRECTIONS).raise_for_status().json()
    assert body["revisions"] == CORRECTIONS["revisions"] and body["drops"] == CORRECTIONS["drops"]
    assert client.get("/_sandbox/config").json()["drops"] == CORRECTIONS["drops"]


def test_revised_and_dropped_minutes_reach_every_timeframe(client, sandbox):
    original = {tf: served(client, *tf) for tf in [(1, "minute"), (5, "minute"), (1, "day")]}
    client.post("/_sandbox/config", json=CORRECTIONS).raise_for_status()
    minutes, fives, daily = (served(client, *tf) for tf in [(1, "minute"), (5, "minute"), (1, "day")])

    for t in (MS["10:00"], MS["10:01"]):
        for field in ("o", "h", "l", "c", "vw"):
            assert minutes[t][field] == pytest.approx(original[(1, "minute")][t][field] * 1.01, rel=1e-12)
        assert minutes[t]["v"] == original[(1, "minute")][t]["v"]
    assert set(original[(1, "minute")]) - set(minutes) == {MS["11:00"] + i * 60_000 for i in range(5)} | {MS["11:17"]}
    # A bar whose minutes are all dropped disappears; one missing a minute shrinks.
    assert MS["11:00"] in original[(5, "minute")] and MS["11:00"] not in fives
    assert fives[MS["11:15"]]["v"] == original[(5, "minute")][MS["11:15"]]["v"] - original[(1, "minute")][MS["11:17"]]["v"]
    # The daily bar is the roll-up of the corrected minutes.
    [day] = daily.values()
    ordered = [minutes[t] for t in sorted(minutes)]
    assert day["v"] == pytest.approx(sum(m["v"] for m in ordered))
    assert day["h"] == max(m["h"] for m in ordered) and day["l"] == min(m["l"] for m in ordered)
    assert day["v"] != original[(1, "day")][day["t"]]["v"]
    # The same truth as aggregate.bars under the config's corrections, and as grouped daily.
    expected = aggregate.bars("AAPL", 1, "day", date(2024, 3, 5), date(2024, 3, 5), adjusted=False,
                              edits=sandbox.config.edits)
    assert day["v"] == expected["v"].iloc[0] and day["c"] == expected["c"].iloc[0]
    grouped = client.get(f"/v2/aggs/grouped/locale/us/market/stocks/{DAY}", params={"adjusted": "false"}).json()
    assert [r["v"] for r in grouped["results"] if r["T"] == "AAPL"] == [day["v"]]


def test_clearing_corrections_serves_the_original_bars_again(client):
    original = served(client, 1, "day")
    client.post("/_sandbox/config", json=CORRECTIONS).raise_for_status()
    assert served(client, 1, "day") != original
    client.post("/_sandbox/config", json={"revisions": [], "drops": []}).raise_for_status()
    assert served(client, 1, "day") == original  # no per-day cache serves the corrected day any longer


def test_corrections_touch_only_their_ticker(client):
    original = served(client, 5, "minute", "MSFT")
    client.post("/_sandbox/config", json=CORRECTIONS).raise_for_status()
    assert served(client, 5, "minute", "MSFT") == original


@pytest.mark.parametrize("bad", [
    {"drops": [{"ticker": "AAPL", "start": "2024-03-05T16:00:00", "end": "2024-03-05T16:05:00+00:00"}]},
    {"drops": [{"ticker": "AAPL", "start": "2024-03-05T16:05:00+00:00", "end": "2024-03-05T16:00:00+00:00"}]},
    {"revisions": [{"ticker": "AAPL", "start": "2024-03-05T16:00:00Z", "end": "2024-03-05T16:05:00Z", "price_factor": 0}]},
    {"drops": [{"start": "2024-03-05T16:00:00Z", "end": "2024-03-05T16:05:00Z"}]},
])
def test_malformed_corrections_are_refused(client, bad):
    response = client.post("/_sandbox/config", json=bad)
    assert response.status_code == 400
    assert client.get("/_sandbox/config").json()["drops"] == []
