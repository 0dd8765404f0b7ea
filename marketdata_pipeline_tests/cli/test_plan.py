"""`marketdata plan`, in process: the planned requests against native ones for a backfill (no database
needed) and for a daily update of what is stored (read from PostgreSQL); bad input is one line, exit 2."""

from __future__ import annotations

from datetime import date

import pytest

from marketdata_pipeline.cli.main import main
from marketdata_pipeline_tests.bars_support import make_bars

NOW = "2024-06-06T06:00:00Z"  # 02:00 ET Thursday
STOCKS = [f"S{i:02d}" for i in range(24)]
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nothing"  # a database the command must not need


@pytest.fixture
def env(monkeypatch):
    for var in ("POLYGON_MAX_REQUESTS_PER_MINUTE", "MARKETDATA_HISTORY_START", "MARKETDATA_DERIVE_INTRADAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MARKETDATA_NOW", NOW)
    monkeypatch.setenv("DATABASE_URL", UNREACHABLE)
    return monkeypatch


def rows(out: str) -> dict[str, tuple[str, str]]:
    """The comparison table: label -> (planned, native)."""
    found = {}
    for line in out.splitlines():
        parts = line.rsplit(maxsplit=2)
        if len(parts) == 3 and parts[0].startswith(("partitions ", "requests: ", "5m fetches")):
            found[parts[0]] = (parts[1], parts[2])
    return found


def test_a_backfill_of_25_symbols_costs_fewer_requests_derived_than_native(env, capsys):
    assert main(["plan", *STOCKS, "x:btcusd", "--start", "2023-06-06", "--rate", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plan: backfill of 25 symbols × 5 timeframes (125 partitions)")
    assert "assuming the conformance probe agrees for stocks, crypto" in out
    table = rows(out)
    assert table["partitions derived from 5m"] == ("75", "0")
    assert table["requests: probe"] == ("6", "0")
    planned, native = (int(v) for v in table["requests: total"])
    # Per stock: 1d + 5m (5 pages of a year's minutes) instead of 1d + 4 × 5 pages; crypto 1 + 11 vs 1 + 4 × 11.
    assert (planned, native) == (24 * 6 + 12 + 6, 24 * 21 + 45)
    assert "at 5 requests/min this takes 33 min (native: 1 h 50 min)" in out


def test_derivation_off_plans_natively_and_the_setting_is_the_default(env, capsys):
    env.setenv("MARKETDATA_DERIVE_INTRADAY", "off")
    env.setenv("POLYGON_MAX_REQUESTS_PER_MINUTE", "100")
    assert main(["plan", "AAPL", "--start", "2023-06-06"]) == 0
    out = capsys.readouterr().out
    table = rows(out)
    assert table["requests: total"] == ("21", "21") and "requests: probe" not in table
    assert "probe" not in out and "at 100 requests/min this takes 13 s" in out
    assert main(["plan", "AAPL", "--start", "2023-06-06", "--derive", "auto"]) == 0
    assert rows(capsys.readouterr().out)["requests: total"] == ("9", "21")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["AAPL", "BRK|B"], "error: malformed ticker 'BRK|B'"),
        (["AAPL", "--start", "2024-13-01"], "error: --start must be a date such as 2023-01-02, got '2024-13-01'"),
        (["AAPL", "--start", "2999-01-01"], "error: --start is in the future"),
        (["AAPL", "--timeframes", "1d,2d"], "error: unknown timeframe 2d"),
        (["AAPL", "BRK|B", "--daily"], "error: malformed ticker 'BRK|B'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_without_a_database(env, capsys, args, message):
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err


def test_a_bad_derive_setting_is_a_configuration_error(env, capsys):
    env.setenv("MARKETDATA_DERIVE_INTRADAY", "maybe")
    assert main(["plan", "AAPL"]) == 3
    assert "MARKETDATA_DERIVE_INTRADAY must be auto or off, got 'maybe'" in capsys.readouterr().err


def test_a_daily_update_uses_grouped_daily_for_what_is_stored(env, capsys, store, clean_db):
    env.setenv("DATABASE_URL", clean_db)
    for symbol in STOCKS:
        store(symbol, "1d", make_bars(symbol, "1d", date(2024, 5, 1), date(2024, 6, 5)))
    store("AAPL", "5m", make_bars("AAPL", "5m", date(2024, 6, 3), date(2024, 6, 5)))
    # No SYMBOLS: the active universe, 24 stocks with 1d bars and AAPL with 5m only.
    assert main(["plan", "--daily", "--timeframes", "1d,5m,1h", "--rate", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("plan: daily update of 25 symbols × 3 timeframes (75 partitions)")
    assert "1d stocks: grouped daily (2 grouped daily sessions or 24 range requests for 24 symbols" in out
    table = rows(out)
    assert table["partitions by grouped daily"] == ("24", "0")
    assert table["requests: grouped_daily"] == ("2", "0")
    # Range: AAPL's 1d backfill (1) and 5m update (1); 24 first 5m fetches widened to their 2-year 1h windows.
    planned, native = (int(v) for v in table["requests: total"])
    assert planned < native
    assert "at 5 requests/min this takes" in out
