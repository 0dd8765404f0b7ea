"""The read API and `marketdata bars` return exactly the stored bars, in every format; bad input is one line."""

from __future__ import annotations

import io
import json
import os
import warnings
from datetime import date

import pandas as pd
import pyarrow.parquet as pq
import pytest

import marketdata_pipeline
from marketdata_pipeline.cli.main import main
from marketdata_pipeline.read import StaleDataWarning, UnknownSymbolError, load_bars
from marketdata_pipeline.storage.bars import load_bars as load_partition
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.universe import add_symbols
from marketdata_pipeline_tests.corporate_actions.conftest import AFTER_SPLIT
from marketdata_pipeline_tests.support import REPO, marketdata

COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "trade_count"]


@pytest.fixture
def stored(clean_db, client, monkeypatch):
    """NVDA 1d and 5m, X:BTCUSD 1h, as the sandbox served them (unadjusted)."""
    monkeypatch.setenv("DATABASE_URL", clean_db)
    add_symbols(clean_db, ["NVDA", "X:BTCUSD"])
    for symbol, tf, start in [("NVDA", "1d", date(2024, 1, 2)), ("NVDA", "5m", date(2024, 6, 3)),
                              ("X:BTCUSD", "1h", date(2024, 6, 1))]:
        upsert_bars(clean_db, symbol, tf, client.aggs.range(symbol, tf, start, date(2024, 6, 11)))
    return clean_db


def _expected(url, symbol, tf) -> pd.DataFrame:
    frame = load_partition(url, symbol, tf).set_index("time")
    return frame[COLUMNS]


def test_load_bars_returns_exactly_the_stored_bars(stored):
    frame = marketdata_pipeline.load_bars("NVDA", "5m")  # DATABASE_URL from the settings
    expected = _expected(stored, "NVDA", "5m")
    assert str(frame.index.tz) == "UTC" and frame.index.name == "time" and list(frame.columns) == COLUMNS
    pd.testing.assert_frame_equal(frame, expected, check_exact=True, check_freq=False)
    fresh = frame.attrs["freshness"]
    assert fresh["state"] == "Fresh" and fresh["last_bar"] == expected.index[-1]


def test_many_symbols_one_frame_with_a_symbol_level(stored):
    with pytest.warns(StaleDataWarning, match=r"NVDA\|1h is Missing"):
        frame = load_bars(["NVDA", "X:BTCUSD"], "1h", database_url=stored)
    assert frame.index.names == ["symbol", "time"]
    assert set(frame.index.get_level_values("symbol")) == {"X:BTCUSD"}  # NVDA has no 1h bars stored
    pd.testing.assert_frame_equal(frame.loc["X:BTCUSD"], _expected(stored, "X:BTCUSD", "1h"), check_exact=True)
    assert frame.attrs["freshness"]["NVDA"]["state"] == "Missing"


def test_start_and_end_are_market_sessions(stored):
    frame = load_bars("NVDA", "5m", start="2024-06-04", end="2024-06-05", database_url=stored)
    sessions = frame.index.tz_convert("America/New_York").normalize().unique()
    assert [d.date() for d in sessions] == [date(2024, 6, 4), date(2024, 6, 5)]
    expected = _expected(stored, "NVDA", "5m")
    ny = expected.index.tz_convert("America/New_York").date
    assert len(frame) == ((ny >= date(2024, 6, 4)) & (ny <= date(2024, 6, 5))).sum()


def test_stale_data_warns(stored, monkeypatch):
    monkeypatch.setenv("MARKETDATA_NOW", "2024-07-15T16:00:00Z")
    with pytest.warns(StaleDataWarning, match=r"NVDA\|1d is Stale"):
        frame = load_bars("NVDA", "1d", database_url=stored)
    assert frame.attrs["freshness"]["state"] == "Stale"
    monkeypatch.setenv("MARKETDATA_NOW", AFTER_SPLIT.isoformat())
    with warnings.catch_warnings():
        warnings.simplefilter("error", StaleDataWarning)
        load_bars("NVDA", "1d", database_url=stored)


@pytest.mark.parametrize(
    "args, message",
    [
        (("ZZZZ", "1d"), "unknown symbol ZZZZ"),
        (("nvda!", "1d"), "malformed ticker"),
        (("NVDA", "2m"), "unknown timeframe '2m'"),
        (("NVDA", "1d", "--start", "2024-06-05", "--end", "2024-06-01"), "is after end"),
        (("NVDA", "1d", "--start", "2024-13-01"), "bad start date '2024-13-01'"),
        (("NVDA", "1d", "--format", "parquet"), "needs --output"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(stored, capsys, args, message):
    assert main(["bars", *args]) != 0
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_bad_input_from_python_raises_value_errors(stored):
    with pytest.raises(UnknownSymbolError):
        load_bars("ZZZZ", "1d", database_url=stored)
    with pytest.raises(ValueError, match="unknown adjust mode"):
        load_bars("NVDA", "1d", adjust="dividends", database_url=stored)


@pytest.mark.parametrize("adjust", ["none", "splits", "all"])
def test_cli_formats_return_exactly_the_stored_bars(stored, tmp_path, capsys, adjust):
    expected = load_bars("NVDA", "1d", adjust=adjust, database_url=stored)
    # csv
    assert main(["bars", "NVDA", "1d", "--adjust", adjust, "--format", "csv"]) == 0
    csv = pd.read_csv(io.StringIO(capsys.readouterr().out), parse_dates=["time"], index_col="time")
    csv["trade_count"] = csv["trade_count"].astype("Int64")
    pd.testing.assert_frame_equal(csv, expected, check_exact=True, check_freq=False, check_index_type=False)
    # json
    assert main(["bars", "NVDA", "1d", "--adjust", adjust, "--format", "json", "--output", str(tmp_path / "b.json")]) == 0
    records = json.loads((tmp_path / "b.json").read_text())
    as_json = pd.DataFrame(records).set_index("time")
    as_json.index = pd.to_datetime(as_json.index, utc=True)
    as_json["trade_count"] = as_json["trade_count"].astype("Int64")
    pd.testing.assert_frame_equal(as_json, expected, check_exact=True, check_freq=False, check_names=False)
    # parquet
    assert main(["bars", "NVDA", "1d", "--adjust", adjust, "--format", "parquet", "--output", str(tmp_path / "b.pq")]) == 0
    table = pq.read_table(tmp_path / "b.pq").to_pandas().set_index("time")
    table["trade_count"] = table["trade_count"].astype("Int64")
    pd.testing.assert_frame_equal(table, expected, check_exact=True, check_freq=False)
    # table: the last rows
    assert main(["bars", "NVDA", "1d", "--adjust", adjust]) == 0
    shown = capsys.readouterr().out
    assert "2024-06-11" in shown and "earlier rows not shown" in shown


def test_marketdata_command_and_db_url(stored):
    env = {**os.environ, "DATABASE_URL": stored, "PYTHONPATH": str(REPO)}
    assert marketdata(env, "db-url").stdout.strip() == stored
    out = marketdata(env, "bars", "NVDA", "1d", "--start", "2024-06-10", "--format", "csv").stdout
    assert out.splitlines()[0] == "time,open,high,low,close,volume,vwap,trade_count" and len(out.splitlines()) == 3
