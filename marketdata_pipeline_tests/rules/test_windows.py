"""Which window a run re-fetches (pure logic on the real NYSE calendar), and the asset's step retries."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime

from marketdata_pipeline.client.polygon import PolygonClient
from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.rules.windows import fetch_window
from marketdata_pipeline.timeframes import timeframe

NOW = datetime(2024, 7, 8, 6, tzinfo=UTC)


def start(symbol, tf, last_bar, history_start=None, sessions=2):
    return fetch_window(symbol, timeframe(tf), last_bar, NOW, history_start, sessions)[0]


def test_stocks_refetch_the_last_sessions_in_new_york():
    friday_evening = datetime(2024, 7, 5, 23, 55, tzinfo=UTC)  # 19:55 ET; Thursday 4 July is a holiday
    assert start("AAPL", "5m", friday_evening) == datetime(2024, 7, 3, 4, tzinfo=UTC)  # Wednesday 00:00 EDT
    assert start("AAPL", "5m", friday_evening, sessions=1) == datetime(2024, 7, 5, 4, tzinfo=UTC)
    assert start("AAPL", "5m", friday_evening, sessions=3) == datetime(2024, 7, 2, 4, tzinfo=UTC)
    monday_daily = datetime(2024, 3, 4, 5, tzinfo=UTC)  # the 1d bar of Monday 4 March, 00:00 EST
    assert start("AAPL", "1d", monday_daily) == datetime(2024, 3, 1, 5, tzinfo=UTC)  # Friday 00:00 EST


def test_crypto_refetches_the_last_utc_days():
    assert start("X:BTCUSD", "1h", datetime(2024, 7, 7, 5, tzinfo=UTC)) == datetime(2024, 7, 6, tzinfo=UTC)


def test_the_history_start_is_a_session_date_in_the_markets_zone():
    assert start("AAPL", "1h", None, date(2024, 5, 1)) == datetime(2024, 5, 1, 4, tzinfo=UTC)  # 00:00 EDT
    assert start("X:BTCUSD", "1h", None, date(2024, 5, 1)) == datetime(2024, 5, 1, tzinfo=UTC)
    # The revision window never reaches before it.
    assert start("AAPL", "5m", datetime(2024, 5, 1, 23, 55, tzinfo=UTC), date(2024, 5, 1)) == datetime(
        2024, 5, 1, 4, tzinfo=UTC
    )


def test_the_first_step_retry_outlasts_the_client_breakers_cool_down():
    cool_down = inspect.signature(PolygonClient).parameters["breaker_cooldown_s"].default
    policy = market_data.op.retry_policy
    delays = [policy.calculate_delay(1) for _ in range(200)]  # any jitter would show among these
    assert min(delays) >= 45 > cool_down
