"""The contract path as users and outside tools take it: the CLI and `dagster asset materialize`
in subprocesses, against an instance configured by the repo's own dagster.yaml."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline_tests.support import FRIDAY, REPO, marketdata, materialize_cmd, run


def instance_partitions(env) -> list[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", env["DATABASE_URL"])
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            return sorted(instance.get_dynamic_partitions(SYMBOLS_PARTITION))


def test_symbols_cli_registers_partitions_and_refuses_malformed(project_env):
    out = marketdata(project_env, "symbols", "add", "AAPL", "msft", "X:BTCUSD").stdout
    assert "added: AAPL MSFT X:BTCUSD" in out
    assert instance_partitions(project_env) == ["AAPL", "MSFT", "X:BTCUSD"]

    bad = marketdata(project_env, "symbols", "add", "NVDA", "BRK|B", check=False)
    assert bad.returncode == 2
    assert "malformed ticker 'BRK|B'" in bad.stderr
    listed = marketdata(project_env, "symbols", "list").stdout
    assert "NVDA" not in listed  # nothing from a rejected batch is written

    marketdata(project_env, "symbols", "remove", "MSFT")
    assert instance_partitions(project_env) == ["AAPL", "X:BTCUSD"]


def test_dead_database_gives_a_clear_error(project_env):
    env = {**project_env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    proc = marketdata(env, "symbols", "list", check=False)
    assert proc.returncode == 3  # a connection error, not a usage error
    assert "cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/nowhere" in proc.stderr
    assert "Traceback" not in proc.stderr


def _waiting_writer(url: str) -> int | None:
    with engine_for(url).connect() as conn:
        return conn.execute(sa.text(
            "select pid from pg_stat_activity where wait_event_type = 'Lock' and query like 'insert into market_data%'"
        )).scalar()


def test_contract_materialize_and_a_killed_run_leaves_no_partial_partition(project_env, sandbox):
    url = project_env["DATABASE_URL"]
    marketdata(project_env, "symbols", "add", "AAPL")
    run(project_env, *materialize_cmd("AAPL|5m"))
    before = load_bars(url, "AAPL", "5m")
    assert len(before) > 0

    # Hold a lock on the newest stored bar: the next run's upsert (which re-fetches an overlap)
    # must block inside its transaction, where we kill it.
    sandbox.set_now(FRIDAY)
    engine = engine_for(url)
    with engine.connect() as blocker:
        blocker.execute(sa.text(
            "select 1 from market_data where symbol='AAPL' and timeframe='5m' and time = :t for update"
        ), {"t": before["time"].iloc[-1].to_pydatetime()})
        proc = subprocess.Popen(materialize_cmd("AAPL|5m"), env=project_env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while (backend := _waiting_writer(url)) is None:
                assert proc.poll() is None, "the run ended before reaching the write"
                assert time.monotonic() < deadline, "the run never reached the write"
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        blocker.rollback()

    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while conn.execute(sa.text("select count(*) from pg_stat_activity where pid = :p"), {"p": backend}).scalar():
            assert time.monotonic() < deadline
            time.sleep(0.2)
    pd.testing.assert_frame_equal(load_bars(url, "AAPL", "5m"), before)
