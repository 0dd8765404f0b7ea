"""Fewer requests, same bars: 15m/1h/4h derived from 5m while the conformance probe agrees (and fetched
natively, with a failed check, when the vendor aligns them differently), daily updates by grouped daily.
Every stored bar is compared with what the sandbox's native endpoint serves for it."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.checks import DERIVATION, market_data_health
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.rules.derive import DERIVABLE
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline_tests.defs.market_data.test_market_data import assert_matches_truth, logged_requests
from marketdata_pipeline_tests.support import FRIDAY, THURSDAY

INTRADAY = ["1h", "4h", "15m", "5m"]  # the partitions' timeframe order: a range AAPL|1h..X|5m covers these


def run_range(instance, first: str, last: str, checks: bool = False) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(
        assets=[market_data], asset_checks=[market_data_health] if checks else [], resources=resources_from_env()
    )
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, tags=tags)


def sources(url: str) -> dict[tuple[str, str], set[str]]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(sa.text("select distinct symbol, timeframe, source from market_data")).all()
    out: dict[tuple[str, str], set[str]] = {}
    for symbol, tf, source in rows:
        out.setdefault((symbol, tf), set()).add(source)
    return out


def range_requests(sandbox, symbol: str) -> list[str]:
    """The timeframes of the range requests the sandbox logged for `symbol`, e.g. ["5/minute", "1/hour"]."""
    prefix = f"/v2/aggs/ticker/{symbol}/range/"
    return ["/".join(r["path"][len(prefix):].split("/")[:2]) for r in logged_requests(sandbox) if r["path"].startswith(prefix)]


@pytest.fixture(autouse=True)
def pipeline_clock(monkeypatch):
    monkeypatch.setenv("MARKETDATA_NOW", THURSDAY.isoformat())


def test_derived_timeframes_equal_the_vendors_bars_for_one_5m_fetch(pipeline_env, instance, sandbox):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "X:BTCUSD"])
    result = run_range(instance, "AAPL|1h", "X:BTCUSD|5m", checks=True)
    assert result.success
    for symbol in ["AAPL", "X:BTCUSD"]:
        for tf in INTRADAY:
            assert_matches_truth(pipeline_env, symbol, tf, THURSDAY)
        # One 5m fetch (bitcoin's month of minutes takes two pages), plus the first run's conformance probe:
        # one native request per derived timeframe.
        requested = range_requests(sandbox, symbol)
        assert sorted(set(requested)) == sorted(["5/minute", "1/hour", "4/hour", "15/minute"])
        assert len(requested) == 3 + requested.count("5/minute")
    assert sources(pipeline_env) == {
        (s, tf): {"api"} if tf == "5m" else {"derived:5m"} for s in ["AAPL", "X:BTCUSD"] for tf in INTRADAY
    }
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == DERIVATION]
    assert check.passed

    # The next run probes nothing (the verdicts are a week good) and derives again from one 5m request each.
    httpx.delete(f"{sandbox.base_url}/_sandbox/requests").raise_for_status()
    assert run_range(instance, "AAPL|1h", "X:BTCUSD|5m").success
    for symbol in ["AAPL", "X:BTCUSD"]:
        assert range_requests(sandbox, symbol) == ["5/minute"]  # the last sessions: one page


def test_a_vendor_aligned_differently_is_fetched_natively_and_fails_the_check(pipeline_env, instance, sandbox):
    # Hourly buckets anchored at the 09:30 open: 1h and 4h can no longer be built from 5m bars; 15m can.
    httpx.post(f"{sandbox.base_url}/_sandbox/config", json={"intraday_anchor_minutes": 570}).raise_for_status()
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    result = run_range(instance, "AAPL|1h", "AAPL|5m", checks=True)
    assert result.success
    for tf in INTRADAY:
        assert_matches_truth(pipeline_env, "AAPL", tf, THURSDAY, anchor_minutes=570)
    assert sources(pipeline_env) == {
        ("AAPL", "1h"): {"api"}, ("AAPL", "4h"): {"api"}, ("AAPL", "15m"): {"derived:5m"}, ("AAPL", "5m"): {"api"}
    }
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == DERIVATION]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["differing"].value == "stocks 1h, stocks 4h"


def test_derivation_off_fetches_every_timeframe(pipeline_env, instance, sandbox, monkeypatch):
    monkeypatch.setenv("MARKETDATA_DERIVE_INTRADAY", "off")
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["MSFT"])
    assert run_range(instance, "MSFT|1h", "MSFT|5m").success
    assert sorted(range_requests(sandbox, "MSFT")) == sorted(["1/hour", "4/hour", "15/minute", "5/minute"])
    assert all(s == {"api"} for s in sources(pipeline_env).values())
    for tf in DERIVABLE:
        assert_matches_truth(pipeline_env, "MSFT", tf, THURSDAY)


def test_a_daily_update_by_grouped_daily_stores_exactly_the_per_symbol_daily_bars(
    pipeline_env, instance, sandbox, monkeypatch
):
    symbols = ["AAPL", "MSFT", "NVDA"]
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, symbols)
    assert run_range(instance, "AAPL|1d", "NVDA|1d").success  # a first fetch: the range endpoint
    httpx.post(f"{sandbox.base_url}/_sandbox/config", json={"now": FRIDAY.isoformat()}).raise_for_status()
    monkeypatch.setenv("MARKETDATA_NOW", FRIDAY.isoformat())
    httpx.delete(f"{sandbox.base_url}/_sandbox/requests").raise_for_status()

    assert run_range(instance, "AAPL|1d", "NVDA|1d").success
    paths = [r["path"] for r in logged_requests(sandbox)]
    # Wednesday (re-read) and Thursday (new): two requests for three symbols, none per symbol.
    assert sorted(paths) == [
        "/v2/aggs/grouped/locale/us/market/stocks/2024-06-05", "/v2/aggs/grouped/locale/us/market/stocks/2024-06-06"
    ]
    for symbol in symbols:
        assert_matches_truth(pipeline_env, symbol, "1d", FRIDAY)
