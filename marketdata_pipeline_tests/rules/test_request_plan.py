"""The request planner: page estimates (checked against the sandbox's real paging), derived partitions,
grouped daily against range per market."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from marketdata_pipeline.bench.measure import reference_pages
from marketdata_pipeline.client.polygon import PolygonClient
from marketdata_pipeline.rules.market_calendar import local_midnight
from marketdata_pipeline.rules.request_plan import (
    DERIVABLE,
    PROBE_REQUESTS,
    PartitionNeed,
    base_aggregates,
    duration_text,
    plan_requests,
    range_pages,
)
from marketdata_pipeline.rules.windows import fetch_window
from marketdata_pipeline.timeframes import TIMEFRAMES, timeframe
from marketdata_pipeline_tests.support import THURSDAY

STOCKS = [f"S{i:02d}" for i in range(25)]
DERIVE = {"stocks": DERIVABLE, "crypto": DERIVABLE}


def need(symbol: str, tf: str, start: date, stored: bool = False, now: datetime = THURSDAY) -> PartitionNeed:
    return PartitionNeed(symbol, tf, local_midnight(symbol, start), now, stored)


def daily_update(symbol: str, tf: str = "1d", now: datetime = THURSDAY) -> PartitionNeed:
    """An update after a run that stored everything up to Wednesday 2024-06-05: 2 sessions re-fetched."""
    last = local_midnight(symbol, date(2024, 6, 5))
    start, end = fetch_window(symbol, timeframe(tf), last, now, None, 2)
    return PartitionNeed(symbol, tf, start, end, True)


def test_base_aggregates_count_extended_minutes_of_closed_sessions():
    # Mon 3 .. Wed 5 June 2024: three full sessions of 960 minutes; Thursday has not started by THURSDAY.
    assert base_aggregates("AAPL", "5m", local_midnight("AAPL", date(2024, 6, 3)), THURSDAY, THURSDAY) == 3 * 960
    # Early close (Wed 2024-07-03, 13:00): extended hours end at 17:00, 780 minutes.
    early = base_aggregates(
        "AAPL",
        "1h",
        local_midnight("AAPL", date(2024, 7, 3)),
        datetime(2024, 7, 4, tzinfo=UTC),
        datetime(2024, 7, 10, tzinfo=UTC),
    )
    assert early == 780
    assert base_aggregates("X:BTCUSD", "4h", local_midnight("X:BTCUSD", date(2024, 6, 1)), THURSDAY, THURSDAY) == (
        5 * 1440 + 6 * 60
    )
    # 1d counts days: the weekend holds none, and a session counts once its bar is complete.
    assert base_aggregates("AAPL", "1d", local_midnight("AAPL", date(2024, 6, 1)), THURSDAY, THURSDAY) == 3


def test_range_pages_round_up_and_cost_at_least_one():
    assert range_pages(0) == 1
    assert range_pages(50_000) == 1
    assert range_pages(50_001) == 2
    assert range_pages(241_920) == 5  # a stock year of 5m: as many pages as 1h or 4h of it


@pytest.mark.parametrize(
    ("symbol", "tf", "start"),
    [("AAPL", "5m", date(2024, 1, 2)), ("X:BTCUSD", "1h", date(2024, 4, 1)), ("MSFT", "1d", date(2020, 1, 2))],
)
def test_estimates_bound_the_sandboxs_real_page_count(sandbox, symbol, tf, start):
    window = need(symbol, tf, start)
    with PolygonClient("test-key", sandbox.base_url) as client:
        client.aggs.range(symbol, tf, window.start, window.end)
        real = client.stats.snapshot()["pages"]
    # The benchmark's exact count of the sandbox's base aggregates goes through the same page formula...
    assert reference_pages([symbol], [tf], window.start, window.end) == real
    # ...and the planner's calendar bound never promises fewer pages than the API serves.
    planned = plan_requests([window], {}, THURSDAY).requests["range"]
    assert real <= planned <= real + 1, (real, planned)


def test_derived_partitions_cost_nothing_but_pull_in_their_5m():
    needs = [need("AAPL", tf, date(2023, 6, 6)) for tf in ("1d", "15m", "1h", "4h")]
    plan = plan_requests(needs, DERIVE, THURSDAY)
    methods = {(p.timeframe, p.added): (p.method, p.requests) for p in plan.partitions}
    assert methods[("1h", False)] == methods[("4h", False)] == methods[("15m", False)] == ("derived", 0)
    assert methods[("5m", True)] == ("range", 5)  # a stock year of minutes: 5 pages
    assert plan.requests["range"] == 1 + 5
    assert plan.as_metadata()["added_5m_fetches"] == 1

    # With a 5m partition in the input, nothing is added and the 5m is fetched once.
    with_5m = plan_requests([*needs, need("AAPL", "5m", date(2023, 6, 6))], DERIVE, THURSDAY)
    assert [p for p in with_5m.partitions if p.added] == []
    assert with_5m.requests["range"] == 1 + 5


def test_derived_windows_widen_a_shorter_5m_fetch():
    needs = [need("AAPL", "5m", date(2024, 5, 1)), need("AAPL", "1h", date(2023, 6, 6))]
    plan = plan_requests(needs, DERIVE, THURSDAY)
    five = next(p for p in plan.partitions if p.timeframe == "5m")
    assert five.start == needs[1].start and five.requests == 5


def test_derivation_is_per_asset_class_and_the_probe_is_its_own_line():
    needs = [need(s, tf, date(2024, 3, 1)) for s in ("AAPL", "X:BTCUSD") for tf in ("5m", "1h")]
    plan = plan_requests(needs, {"stocks": DERIVABLE}, THURSDAY, probe={"stocks", "crypto"})
    methods = {(p.symbol, p.timeframe): p.method for p in plan.partitions}
    assert methods[("AAPL", "1h")] == "derived" and methods[("X:BTCUSD", "1h")] == "range"
    assert plan.requests["probe"] == PROBE_REQUESTS  # only stocks derives anything
    with pytest.raises(ValueError, match="can be derived"):
        plan_requests(needs, {"stocks": {"5m"}}, THURSDAY)


def test_grouped_daily_for_25_stocks_needing_2_sessions():
    plan = plan_requests([daily_update(s) for s in STOCKS], {}, THURSDAY, rate_per_minute=5)
    assert plan.requests == {"range": 0, "grouped_daily": 2, "probe": 0}
    assert plan.grouped_sessions == {"stocks": (date(2024, 6, 4), date(2024, 6, 5))}
    assert {p.method for p in plan.partitions} == {"grouped"}
    # The window of each partition is the union of the sessions fetched.
    assert {(p.start, p.end) for p in plan.partitions} == {
        (local_midnight("AAPL", date(2024, 6, 4)), local_midnight("AAPL", date(2024, 6, 6)))
    }
    assert plan.floor_seconds == 24.0
    assert plan.as_metadata()["daily_stocks"] == "grouped"

    native = plan_requests([daily_update(s) for s in STOCKS], {}, THURSDAY, grouped=False)
    assert native.requests["range"] == 25 and native.daily == ()


def test_range_for_a_single_symbol_and_on_ties():
    one = plan_requests([daily_update("AAPL")], {}, THURSDAY)
    assert one.requests["grouped_daily"] == 0 and one.requests["range"] == 1
    assert one.daily[0].method == "range" and len(one.daily[0].sessions) == 2
    tie = plan_requests([daily_update("AAPL"), daily_update("MSFT")], {}, THURSDAY)
    assert tie.daily[0].method == "range" and tie.requests["range"] == 2


def test_crypto_and_stocks_are_planned_separately():
    crypto = [f"X:C{i}USD" for i in range(5)]
    plan = plan_requests([daily_update(s) for s in [*STOCKS, *crypto, "X:BTCUSD"]], {}, THURSDAY)
    choices = {c.market: c for c in plan.daily}
    assert choices["stocks"].method == "grouped" and len(choices["stocks"].sessions) == 2
    # Crypto's days are UTC: at 06:00 UTC Thursday its last two days are Wed 5 (ended) and Thu 6 (not yet).
    assert choices["crypto"].method == "grouped" and choices["crypto"].symbols == 6
    assert plan.grouped_sessions["crypto"] == (date(2024, 6, 5),)
    assert plan.requests["grouped_daily"] == 3 and plan.requests["range"] == 0


def test_a_first_fetch_never_uses_grouped_daily():
    backfill = [PartitionNeed(n.symbol, n.timeframe, n.start, n.end, False) for n in map(daily_update, STOCKS)]
    plan = plan_requests(backfill, {}, THURSDAY)
    assert plan.daily == () and {p.method for p in plan.partitions} == {"range"}
    assert plan.requests["range"] == 25
    # Mixed: stored partitions go grouped, the new one keeps its range request.
    mixed = plan_requests([*map(daily_update, STOCKS), need("NVDA", "1d", date(2020, 1, 2))], {}, THURSDAY)
    methods = {p.symbol: p.method for p in mixed.partitions}
    assert methods["NVDA"] == "range" and methods["S00"] == "grouped"
    assert mixed.requests == {"range": 1, "grouped_daily": 2, "probe": 0}


def test_summary_and_metadata_are_flat_and_readable():
    needs = [need(s, tf, date(2023, 6, 6)) for s in STOCKS for tf in TIMEFRAMES]
    plan = plan_requests(needs, DERIVE, THURSDAY, rate_per_minute=5, probe={"stocks"})
    metadata = plan.as_metadata()
    assert all(isinstance(v, int | str) for v in metadata.values())
    assert metadata["requests_total"] == plan.total_requests == 25 * (1 + 5) + PROBE_REQUESTS
    assert "at 5 requests/min this takes 31 min" in plan.summary()
    assert plan_requests(needs, {}, THURSDAY).floor_seconds is None
    assert [duration_text(s) for s in (9, 61, 3600, 7260)] == ["9 s", "2 min", "1 h", "2 h 1 min"]
