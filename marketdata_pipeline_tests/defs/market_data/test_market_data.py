"""market_data end to end: sandbox over HTTP -> client -> asset -> IO manager -> PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg
import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.rules.derive import DERIVABLE
from marketdata_pipeline.rules.market_calendar import local_midnight, zone
from marketdata_pipeline.sandbox.aggregate import bars as sandbox_bars
from marketdata_pipeline.sandbox.revisions import NO_EDITS, Edits
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.timeframes import timeframe
from marketdata_pipeline_tests.support import FRIDAY, HISTORY_START, THURSDAY


@pytest.fixture(autouse=True)
def pipeline_clock(monkeypatch):
    """The pipeline's clock is the sandbox's (THURSDAY), as the wall clock is the real API's: the revision
    window is the market's last sessions as of now."""
    monkeypatch.setenv("MARKETDATA_NOW", THURSDAY.isoformat())


def truth(symbol: str, tf: str, now: datetime, edits: Edits = NO_EDITS, anchor_minutes: int = 0) -> pd.DataFrame:
    """What the sandbox serves from the history start (a session date in the market's zone) to `now`."""
    spec = timeframe(tf)
    start = local_midnight(symbol, date.fromisoformat(HISTORY_START))
    frame = sandbox_bars(
        symbol, spec.multiplier, spec.timespan, start, now, adjusted=False, edits=edits, anchor_minutes=anchor_minutes
    )
    # The sandbox serves only bars whose window has closed by its clock.
    complete = frame["t_ms"] + spec.length.total_seconds() * 1000 <= now.timestamp() * 1000
    return frame[complete].reset_index(drop=True)


def materialize(instance, key: str, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize([market_data], partition_key=key, instance=instance, resources=resources_from_env(), **kwargs)


def assert_matches_truth(url, symbol, tf, now, edits: Edits = NO_EDITS, anchor_minutes: int = 0):
    """Every stored bar equals the sandbox's, field by field, and nothing else is stored."""
    stored = load_bars(url, symbol, tf)
    expected = truth(symbol, tf, now, edits, anchor_minutes)
    assert len(stored) == len(expected) > 0
    assert (stored["time"].astype("datetime64[ms, UTC]").astype("int64").to_numpy() == expected["t_ms"].to_numpy()).all()
    for column, field in [("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"), ("vwap", "vw")]:
        assert stored[column].to_numpy() == pytest.approx(expected[field].to_numpy(), rel=1e-12), column
    assert (stored["trade_count"].to_numpy(dtype="int64") == expected["n"].to_numpy()).all()
    return stored


def logged_requests(sandbox) -> list[dict]:
    """The sandbox's request log, read over HTTP as any client would."""
    return httpx.get(f"{sandbox.base_url}/_sandbox/requests").raise_for_status().json()["requests"]


def requested_from_ms(request: dict) -> int:
    """The `from` of a range request's path (/v2/aggs/ticker/T/range/M/S/from/to), sent as Unix ms."""
    return int(request["path"].split("/")[-2])


def second_newest_session_start(stored: pd.DataFrame, symbol: str) -> int:
    """Midnight (in the market's zone, Unix ms) of the second-newest session among the stored bars: where a
    run must start re-fetching with the default two-session revision window."""
    sessions = sorted(set(stored["time"].dt.tz_convert(zone(symbol)).dt.date))
    return int(local_midnight(symbol, sessions[-2]).timestamp() * 1000)


@pytest.mark.parametrize("key", ["AAPL|1d", "X:BTCUSD|1h"])
def test_first_materialization_stores_exactly_the_sandbox_bars(pipeline_env, instance, key):
    symbol, tf = key.split("|")
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, [symbol])
    result = materialize(instance, key)
    assert result.success
    stored = assert_matches_truth(pipeline_env, symbol, tf, THURSDAY)
    meta = result.asset_materializations_for_node("market_data")[0].metadata
    # A derived timeframe's run brings its symbol's 5m bars up to date first and writes them too.
    derived = tf in DERIVABLE
    base_rows = len(assert_matches_truth(pipeline_env, symbol, "5m", THURSDAY)) if derived else 0
    assert meta["rows_written"].value == len(stored) + base_rows
    assert meta["partitions_derived"].value == int(derived)
    assert meta["requests"].value >= 1


@pytest.mark.parametrize("key", ["AAPL|1d", "AAPL|1h", "X:BTCUSD|1d"])
def test_history_start_is_a_session_date_in_the_markets_zone(pipeline_env, instance, key):
    """No bar of a session before MARKETDATA_HISTORY_START: for stocks that date is an ET session date (read as
    UTC midnight, a stock partition also got the previous session's 1d bar and its evening hourly bars)."""
    symbol, tf = key.split("|")
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, [symbol])
    assert materialize(instance, key).success
    stored = load_bars(pipeline_env, symbol, tf)
    sessions = stored["time"].dt.tz_convert(zone(symbol)).dt.date
    assert sessions.min() == date.fromisoformat(HISTORY_START)  # a Wednesday: its bars exist


def test_incremental_update_refetches_only_the_revision_window(pipeline_env, instance, sandbox):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    materialize(instance, "AAPL|1d")
    before = load_bars(pipeline_env, "AAPL", "1d")

    sandbox.set_now(FRIDAY)
    sandbox.clear_requests()
    materialize(instance, "AAPL|1d")
    after = assert_matches_truth(pipeline_env, "AAPL", "1d", FRIDAY)
    assert len(after) == len(before) + 1  # Thursday's session, nothing duplicated
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)
    # The second fetch started at the last two stored sessions, not at the history start nor later.
    [request] = logged_requests(sandbox)
    assert requested_from_ms(request) == second_newest_session_start(before, "AAPL")


def test_rematerializing_is_idempotent_and_incremental(pipeline_env, instance, sandbox):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["MSFT"])
    materialize(instance, "MSFT|15m")
    first = load_bars(pipeline_env, "MSFT", "15m")
    sandbox.clear_requests()
    materialize(instance, "MSFT|15m")
    pd.testing.assert_frame_equal(load_bars(pipeline_env, "MSFT", "15m"), first)
    [request] = logged_requests(sandbox)
    assert requested_from_ms(request) == second_newest_session_start(first, "MSFT")


# Corrections inside the default revision window of a run at THURSDAY (whose newest stored bars are from
# Wednesday 2024-06-05 ET for AAPL and from 2024-06-06 UTC for bitcoin): revised prices, a partly dropped bar,
# and a bar whose minutes are all dropped.
_CORRECTIONS = {
    "AAPL|5m": {
        "revisions": [{"ticker": "AAPL", "start": "2024-06-05T14:00:00+00:00", "end": "2024-06-05T14:10:00+00:00",
                       "price_factor": 1.01}],
        "drops": [{"ticker": "AAPL", "start": "2024-06-05T15:00:00+00:00", "end": "2024-06-05T15:05:00+00:00"},
                  {"ticker": "AAPL", "start": "2024-06-04T16:02:00+00:00", "end": "2024-06-04T16:03:00+00:00"}],
    },
    "X:BTCUSD|1h": {
        "revisions": [{"ticker": "X:BTCUSD", "start": "2024-06-05T10:00:00+00:00",
                       "end": "2024-06-05T12:00:00+00:00", "price_factor": 0.98}],
        "drops": [{"ticker": "X:BTCUSD", "start": "2024-06-05T15:00:00+00:00", "end": "2024-06-05T16:00:00+00:00"},
                  {"ticker": "X:BTCUSD", "start": "2024-06-06T02:30:00+00:00", "end": "2024-06-06T02:31:00+00:00"}],
    },
}


@pytest.mark.parametrize("key", list(_CORRECTIONS))
def test_revised_and_deleted_bars_are_corrected(pipeline_env, instance, sandbox, key):
    symbol, tf = key.split("|")
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, [symbol])
    assert materialize(instance, key).success
    before = assert_matches_truth(pipeline_env, symbol, tf, THURSDAY)

    httpx.post(f"{sandbox.base_url}/_sandbox/config", json=_CORRECTIONS[key]).raise_for_status()
    assert materialize(instance, key).success
    after = assert_matches_truth(pipeline_env, symbol, tf, THURSDAY, sandbox.config.edits)
    # The corrections did reach the stored bars: a revised close and one bar fewer.
    assert len(after) == len(before) - 1
    kept = before.set_index("time").loc[after["time"]]
    assert (kept["close"].to_numpy() != after["close"].to_numpy()).any()


def test_a_range_run_covers_every_partition(pipeline_env, instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "MSFT", "X:ETHUSD"])
    job = dg.Definitions(assets=[market_data], resources=resources_from_env()).resolve_implicit_global_asset_job_def()
    tags = {"dagster/asset_partition_range_start": "AAPL|4h", "dagster/asset_partition_range_end": "X:ETHUSD|4h"}
    result = job.execute_in_process(instance=instance, tags=tags)
    assert result.success
    for symbol in ["AAPL", "MSFT", "X:ETHUSD"]:
        assert_matches_truth(pipeline_env, symbol, "4h", THURSDAY)
    materialized = {str(m.partition) for m in result.asset_materializations_for_node("market_data")}
    assert materialized == {"AAPL|4h", "MSFT|4h", "X:ETHUSD|4h"}


def test_a_ticker_the_vendor_does_not_know_fails_readably_and_is_not_retried(pipeline_env, instance):
    # Polygon (and the sandbox, for ZZ… tickers) answers an unknown ticker with an empty 200.
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL", "ZZZZ"])
    job = dg.Definitions(assets=[market_data], resources=resources_from_env()).resolve_implicit_global_asset_job_def()
    tags = {"dagster/asset_partition_range_start": "AAPL|1d", "dagster/asset_partition_range_end": "ZZZZ|1d"}
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.user_failure_data.description
    assert "1 of 2 partitions failed (the other 1 were written): ZZZZ|1d: Polygon has no bars for ZZZZ" in message
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    assert_matches_truth(pipeline_env, "AAPL", "1d", THURSDAY)
    with engine_for(pipeline_env).connect() as conn:
        assert conn.execute(sa.text("select count(*) from market_data where symbol = 'ZZZZ'")).scalar() == 0


def test_the_only_partition_failing_does_not_claim_others_were_written(pipeline_env, instance, monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", "bad-key")  # the sandbox answers 401: permanent, not retried
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    result = materialize(instance, "AAPL|1d", raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert "1 of 1 partitions failed (nothing was written)" in message
    assert "other" not in message
