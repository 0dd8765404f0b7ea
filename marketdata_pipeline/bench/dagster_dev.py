"""A real `dagster dev` (webserver + daemon) in a subprocess, driven through the UI's GraphQL API."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from dagster_graphql import DagsterGraphQLClient

from marketdata_pipeline.bench.waiting import stop_process_group, wait_until_serving
from marketdata_pipeline.bench.webserver_api import BACKFILL_STATUS, LAUNCH_BACKFILL, TERMINAL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterDev:
    """Starts `dagster dev` for the project in `cwd` with `env`; stops it and every child on exit."""

    def __init__(self, env: dict, cwd: Path, startup_timeout_s: float = 180):
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen | None = None
        self.client: DagsterGraphQLClient | None = None

    def __enter__(self) -> DagsterDev:
        dagster = Path(sys.executable).parent / "dagster"
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"],
            cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # dagster dev ignores SIGINT when started with it ignored (as from a background shell).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), start_new_session=True,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.__exit__()
            raise
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)
        return self

    def _wait_until_up(self) -> None:
        assert self.process is not None
        wait_until_serving(
            self.process, f"http://127.0.0.1:{self.port}/server_info", "dagster dev", self.startup_timeout_s, 0.5
        )

    def __exit__(self, *exc) -> None:
        # SIGINT: dagster dev's own Ctrl-C path stops the webserver, daemon and code server cleanly.
        stop_process_group(self.process, signal.SIGINT)

    def launch_backfill(self, partitions: list[str], asset: str = "market_data", run_config: dict | None = None) -> str:
        params = {"partitionNames": partitions, "assetSelection": [{"path": [asset]}]}
        if run_config:
            params["runConfigData"] = run_config
        result = self.client._execute(LAUNCH_BACKFILL, {"p": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill was not launched: {result}")
        return result["backfillId"]

    def wait_backfill(self, backfill_id: str, timeout_s: float = 1800) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            backfill = self.client._execute(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            if backfill["status"] in TERMINAL:
                return backfill
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {backfill_id} still {backfill['status']} after {timeout_s} s")
            time.sleep(1)
