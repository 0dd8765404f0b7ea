"""A run terminated while it writes (Dagster turns the signal into an interrupt inside the step): the log names
the partition and says its previous rows are intact, and they are."""

from __future__ import annotations

import os
import signal
import threading
import time

import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline_tests.defs.market_data.test_market_data import materialize
from marketdata_pipeline_tests.support import FRIDAY


def _writer_waiting_on_a_lock(url: str) -> bool:
    with engine_for(url).connect() as conn:
        return bool(conn.execute(sa.text(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' "
            "and query like 'insert into market_data%'"
        )).scalar())


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_an_interrupted_write_names_its_partition_and_keeps_its_rows(pipeline_env, instance, sandbox):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    assert materialize(instance, "AAPL|1d").success
    before = load_bars(pipeline_env, "AAPL", "1d")

    # Hold the newest stored bar: the next run's write re-fetches it and blocks there, mid-transaction, where
    # this process gets a SIGINT (what a run worker gets on termination).
    sandbox.set_now(FRIDAY)
    with engine_for(pipeline_env).connect() as blocker:
        blocker.execute(sa.text("select 1 from market_data where symbol = 'AAPL' and timeframe = '1d' and time = :t "
                                "for update"), {"t": before["time"].iloc[-1].to_pydatetime()})

        def terminate_once_blocked():
            _wait_for(lambda: _writer_waiting_on_a_lock(pipeline_env))
            os.kill(os.getpid(), signal.SIGINT)  # the step is interrupted (and, by its retry policy, retried)
            _wait_for(lambda: not _writer_waiting_on_a_lock(pipeline_env))  # the write was abandoned
            time.sleep(1)
            os.kill(os.getpid(), signal.SIGINT)  # the run is stopped while the retry waits (45 s)

        killer = threading.Thread(target=terminate_once_blocked)
        killer.start()
        result = materialize(instance, "AAPL|1d", raise_on_error=False)
        killer.join()
        blocker.rollback()

    assert not result.success
    messages = [record.user_message for record in instance.all_logs(result.run_id)]
    assert any("interrupted while writing AAPL|1d" in m and "previous rows are intact" in m for m in messages)
    assert not _writer_waiting_on_a_lock(pipeline_env)  # nothing left behind holding the partition
    pd.testing.assert_frame_equal(load_bars(pipeline_env, "AAPL", "1d"), before)
