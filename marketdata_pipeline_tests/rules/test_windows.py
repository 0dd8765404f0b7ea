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
    # Monday 8 July's session has not begun at NOW (02:00 ET): the last two are Wednesday and Friday.
    wednesday_daily = datetime(2024, 7, 3, 4, tzinfo=UTC)  # the 1d bar of Wednesday 3 July, 00:00 EDT
    assert start("AAPL", "1d", wednesday_daily) == datetime(2024, 7, 3, 4, tzinfo=UTC)


def test_a_last_bar_older_than_the_last_sessions_refetches_everything_since_its_day():
    monday_daily = datetime(2024, 3, 4, 5, tzinfo=UTC)  # the 1d bar of Monday 4 March, 00:00 EST
    assert start("AAPL", "1d", monday_daily) == monday_daily


def test_the_sessions_count_back_from_now_not_from_the_last_bar():
    # A daily update the morning after: Thursday's session is new, so Wednesday and Thursday are re-read
    # (a window counted back from Wednesday's last bar would re-read Tuesday too, one grouped request more).
    now = datetime(2024, 6, 7, 6, tzinfo=UTC)  # Friday 02:00 ET
    wednesday_daily = datetime(2024, 6, 5, 4, tzinfo=UTC)
    assert fetch_window("AAPL", timeframe("1d"), wednesday_daily, now, None, 2)[0] == wednesday_daily


def test_crypto_refetches_the_last_utc_days():
    # 8 July (UTC) has begun at NOW: the last two days are the 7th and the 8th.
    assert start("X:BTCUSD", "1h", datetime(2024, 7, 7, 5, tzinfo=UTC)) == datetime(2024, 7, 7, tzinfo=UTC)
    assert start("X:BTCUSD", "1h", datetime(2024, 7, 8, 5, tzinfo=UTC)) == datetime(2024, 7, 7, tzinfo=UTC)


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
