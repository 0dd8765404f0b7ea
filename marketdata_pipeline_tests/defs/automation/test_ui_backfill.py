"""A backfill launched the way the UI launches it, on a real `dagster dev` (webserver + daemon)."""

from __future__ import annotations

import dagster as dg
import pytest

from marketdata_pipeline.bench.dagster_dev import DagsterDev
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline_tests.support import REPO, marketdata

PARTITIONS = ["AAPL|1d", "MSFT|1d", "AAPL|1h", "MSFT|1h", "AAPL|4h", "MSFT|4h"]


def test_ui_backfill_runs_through_the_queue_in_few_runs(project_env):
    marketdata(project_env, "symbols", "add", "AAPL", "MSFT")
    with DagsterDev(project_env, REPO) as dev:
        backfill = dev.wait_backfill(dev.launch_backfill(PARTITIONS), timeout_s=300)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    # single_run backfill policy: one run per timeframe (or per symbol), never one per partition.
    assert 1 <= len(backfill["runs"]) <= 3 < len(PARTITIONS)
    assert all(r["status"] == "SUCCESS" for r in backfill["runs"])

    for key in PARTITIONS:
        symbol, tf = key.split("|")
        assert len(load_bars(project_env["DATABASE_URL"], symbol, tf)) > 0, key

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", project_env["DATABASE_URL"])
        with dg.DagsterInstance.from_config(project_env["DAGSTER_HOME"]) as instance:
            for r in backfill["runs"]:
                enqueued = instance.get_records_for_run(r["runId"], of_type=dg.DagsterEventType.RUN_ENQUEUED)
                assert enqueued.records, f"run {r['runId']} did not go through the run queue"
