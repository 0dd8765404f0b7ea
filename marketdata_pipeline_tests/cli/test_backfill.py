"""`marketdata backfill`: launched through a real `dagster dev` webserver's GraphQL API (the UI's path), in a
subprocess as a user runs it; and its exit codes when the arguments or the webserver are wrong."""

from __future__ import annotations

from datetime import date

import pytest

from marketdata_pipeline.bench.dagster_dev import DagsterDev, free_port
from marketdata_pipeline.cli.main import main
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline_tests.support import REPO, marketdata


@pytest.mark.slow
def test_backfill_through_the_webserver(project_env):
    marketdata(project_env, "symbols", "add", "AAPL", "MSFT")
    with DagsterDev(project_env, REPO) as dev:
        env = {**project_env, "MARKETDATA_WEBSERVER_URL": f"http://127.0.0.1:{dev.port}"}

        # --start reaches the runs as run config: partitions never fetched start there, not at HISTORY_START.
        ok = marketdata(env, "backfill", "AAPL", "MSFT", "--timeframes", "1d", "--start", "2024-05-20", check=False)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "2 materialized, 0 failed" in ok.stdout
        for symbol in ("AAPL", "MSFT"):
            bars = load_bars(env["DATABASE_URL"], symbol, "1d")
            assert len(bars) > 0, symbol
            assert bars["time"].min().date() >= date(2024, 5, 20), (symbol, bars["time"].min())

        unregistered = marketdata(env, "backfill", "NVDA", check=False)
        assert unregistered.returncode == 2
        assert unregistered.stderr.strip().startswith("error: unknown symbol NVDA")

        # ZZZZ is registered, but the sandbox (as Polygon) has no bars for it: its partition fails.
        marketdata(env, "symbols", "add", "ZZZZ")
        bad = marketdata(env, "backfill", "ZZZZ", "AAPL", "--timeframes", "1d", check=False)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    failed = next(line for line in bad.stdout.splitlines() if line.startswith("failed partitions: "))
    assert "ZZZZ|1d" in failed
    assert "Polygon has no bars for ZZZZ" in bad.stdout


def test_no_webserver_is_exit_3(monkeypatch, capsys):
    monkeypatch.setenv("MARKETDATA_WEBSERVER_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["backfill", "AAPL"]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no Dagster webserver at http://127.0.0.1:") and "\n" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["AAPL", "--timeframes", "1d,2d"], "error: unknown timeframe 2d"),
    (["BRK|B"], "error: malformed ticker 'BRK|B'"),
    (["AAPL", "--start", "2999-01-01"], "error: --start is in the future"),
])
def test_bad_arguments_are_exit_2_before_any_connection(monkeypatch, capsys, args, message):
    monkeypatch.setenv("MARKETDATA_WEBSERVER_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    assert main(["backfill", *args]) == 2
    assert capsys.readouterr().err.strip().startswith(message)
