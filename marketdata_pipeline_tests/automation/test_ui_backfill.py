"""A backfill launched the way the UI launches it, on a real `dagster dev` (webserver + daemon)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import dagster as dg
import httpx
import pytest
from dagster_graphql import DagsterGraphQLClient

from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline_tests.support import BIN, REPO, marketdata

LAUNCH = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs(limit: 50) { runId status } } } }"""
PARTITIONS = ["AAPL|1d", "MSFT|1d", "AAPL|1h", "MSFT|1h", "AAPL|4h", "MSFT|4h"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_dev(project_env):
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO, env=project_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # dagster dev ignores SIGINT if it inherits it ignored; restore it so the fixture can stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "dagster dev exited during start-up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "dagster dev did not come up"
            time.sleep(1)
        yield DagsterGraphQLClient("127.0.0.1", port_number=port)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ui_backfill_runs_through_the_queue_in_few_runs(project_env, dagster_dev):
    marketdata(project_env, "symbols", "add", "AAPL", "MSFT")
    launched = dagster_dev._execute(
        LAUNCH, {"p": {"partitionNames": PARTITIONS, "assetSelection": [{"path": ["market_data"]}]}}
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + 300
    while True:
        backfill = dagster_dev._execute(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED",):
            break
        assert time.monotonic() < deadline, f"backfill still {backfill['status']}"
        time.sleep(2)
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
