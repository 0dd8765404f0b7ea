"""The production topology on loopback: code server (gRPC), webserver and daemon as three processes over
one PostgreSQL, a backfill launched through the webserver's GraphQL API, then a code deploy (the code
server alone restarted) and a second launch with the webserver and daemon left running."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

from marketdata_pipeline.cli.serve import ProductionTopology
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline_tests.support import REPO, marketdata

PARTITIONS = ["AAPL|1d", "MSFT|1d"]


def _launch_and_check(topology: ProductionTopology, env: dict) -> None:
    """One backfill through GraphQL: it succeeds, its runs ran on the code server, the bars are stored."""
    backfill = topology.wait_backfill(topology.launch_backfill(PARTITIONS), timeout_s=300)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    assert backfill["runs"] and all(r["status"] == "SUCCESS" for r in backfill["runs"]), backfill
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", env["DATABASE_URL"])
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            for r in backfill["runs"]:
                run = instance.get_run_by_id(r["runId"])
                origin = run.remote_job_origin.repository_origin.code_location_origin
                # The run was launched through the gRPC server, not a code location the daemon loaded itself.
                assert isinstance(origin, GrpcServerCodeLocationOrigin), origin
                assert origin.port == topology.code_server_port
                assert instance.get_records_for_run(r["runId"], of_type=dg.DagsterEventType.RUN_ENQUEUED).records
    for key in PARTITIONS:
        symbol, tf = key.split("|")
        assert len(load_bars(env["DATABASE_URL"], symbol, tf)) > 0, key


@pytest.mark.slow
def test_backfill_through_the_three_services_and_a_code_deploy(project_env, tmp_path):
    marketdata(project_env, "symbols", "add", "AAPL", "MSFT")
    with ProductionTopology(project_env, REPO, log_dir=tmp_path) as topology:
        webserver_pid, daemon_pid = topology.process.pid, topology.daemon.pid
        first_server = topology.code_server_id()
        topology.wait_location_server(first_server)
        _launch_and_check(topology, project_env)

        # A code deploy: only the code server restarts, while idle.
        new_server = topology.restart_code_server()
        assert new_server != first_server
        topology.wait_location_server(new_server)  # the webserver reloaded the location by itself

        with engine_for(project_env["DATABASE_URL"]).begin() as conn:
            conn.execute(sa.text("truncate market_data, partition_writes"))  # so the second launch must store the bars again
        _launch_and_check(topology, project_env)

        assert (topology.process.pid, topology.daemon.pid) == (webserver_pid, daemon_pid)
        assert all(topology.alive().values()), topology.alive()
