"""`marketdata serve`: the production topology on one machine.

Three long-running processes over one PostgreSQL (Dagster's storage and the market data), as a team
deploys them: the code location served over gRPC by `dagster code-server start`, `dagster-webserver`
and `dagster-daemon run`, the last two reading deploy/workspace.grpc.yaml. A code deploy restarts
only the code server; the webserver and the daemon pick up the new server without a restart.
`marketdata run` (dagster dev) stays the one-command laptop path.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import click

from marketdata_pipeline.bench.dagster_dev import DagsterDev, free_port
from marketdata_pipeline.bench.waiting import stop_process_group, wait_for, wait_until_answers
from marketdata_pipeline.cli.local_stack import local_stack
from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.settings import Settings

WORKSPACE = PROJECT_ROOT / "deploy" / "workspace.grpc.yaml"
CODE_MODULE = "marketdata_pipeline.definitions"
LOCATION_NAME = "marketdata_pipeline"
CODE_SERVER_HOST_VAR = "MARKETDATA_CODE_SERVER_HOST"  # read by deploy/workspace.grpc.yaml
CODE_SERVER_PORT_VAR = "MARKETDATA_CODE_SERVER_PORT"
DEFAULT_CODE_SERVER_PORT = 4000  # Dagster's conventional user-code port (Helm chart, compose.yaml)

LOCATION_STATUS = """
query { workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { serverId } ... on PythonError { message } } } } } }"""


class ProductionTopology(DagsterDev):
    """Code server, webserver and daemon as separate processes sharing the instance in env's DAGSTER_HOME.

    Reuses DagsterDev's readiness poll, GraphQL client and backfill helpers; only the processes differ.
    Each process gets its own session so stopping it stops its children (run workers, the gRPC child).
    """

    def __init__(self, env: dict, cwd: Path = PROJECT_ROOT, *, host: str = "127.0.0.1", port: int | None = None,
                 code_server_port: int | None = None, log_dir: Path | None = None, startup_timeout_s: float = 180):
        super().__init__(env, cwd, startup_timeout_s)
        self.host = host
        self.port = port or self.port
        self.code_server_port = code_server_port or free_port()
        # The code server listens on loopback only: the webserver and daemon are its sole clients here.
        self.env = {**env, CODE_SERVER_HOST_VAR: "127.0.0.1", CODE_SERVER_PORT_VAR: str(self.code_server_port)}
        self.log_dir = log_dir
        self.code_server: subprocess.Popen | None = None
        self.daemon: subprocess.Popen | None = None
        self._logs: list[IO] = []

    # -- processes ---------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = None  # inherit the terminal (marketdata serve) unless a log directory is given (tests)
        if self.log_dir is not None:
            out = open(self.log_dir / f"{name}.log", "ab")
            self._logs.append(out)
        return subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=out, stderr=out, start_new_session=True)

    def _bin(self, name: str) -> str:
        return str(Path(sys.executable).parent / name)

    def start_code_server(self) -> None:
        self.code_server = self._spawn("code_server", [
            self._bin("dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(self.code_server_port),
            "-m", CODE_MODULE, "--location-name", LOCATION_NAME,
        ])

        def serving() -> bool:
            try:
                self.code_server_id()
                return True
            except Exception:  # noqa: BLE001 - any gRPC error means "not serving yet"
                return False

        wait_until_answers(self.code_server, serving, "the code server", self.startup_timeout_s, 0.5)

    def code_server_id(self) -> str:
        from dagster._grpc.client import DagsterGrpcClient

        return DagsterGrpcClient(port=self.code_server_port, host="127.0.0.1").get_server_id(timeout=5)

    def restart_code_server(self) -> str:
        """A code deploy: the code server alone is stopped and started again on its port; returns its new id."""
        stop_process_group(self.code_server, signal.SIGTERM)
        self.start_code_server()
        return self.code_server_id()

    def __enter__(self) -> ProductionTopology:
        try:
            self.start_code_server()  # first, so the webserver's first load of the location succeeds
            self.process = self._spawn("webserver", [
                self._bin("dagster-webserver"), "-h", self.host, "-p", str(self.port), "-w", str(WORKSPACE),
            ])
            self.daemon = self._spawn("daemon", [self._bin("dagster-daemon"), "run", "-w", str(WORKSPACE)])
            self._wait_until_up()
        except BaseException:
            self.__exit__()
            raise
        from dagster_graphql import DagsterGraphQLClient

        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.port)
        return self

    def __exit__(self, *exc) -> None:
        # The daemon first: it must not launch runs on a code server that is going away.
        for process in (self.daemon, self.process, self.code_server):
            stop_process_group(process, signal.SIGTERM)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def alive(self) -> dict[str, bool]:
        return {name: p is not None and p.poll() is None
                for name, p in (("code_server", self.code_server), ("webserver", self.process), ("daemon", self.daemon))}

    # -- what the webserver sees -------------------------------------------------------------------
    def location_server_id(self) -> str | None:
        """The code server id the webserver currently serves the location from (None: not loaded)."""
        entries = self.client._execute(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        for entry in entries:
            loaded = entry["locationOrLoadError"] or {}
            if entry["name"] == LOCATION_NAME and loaded.get("__typename") == "RepositoryLocation":
                return loaded["serverId"]
        return None

    def wait_location_server(self, server_id: str, timeout_s: float = 120) -> None:
        """Until the webserver serves the location from `server_id` (its watch thread reloads it)."""
        if not wait_for(lambda: self.location_server_id() == server_id, timeout_s, 0.5):
            seen = self.location_server_id()
            raise TimeoutError(f"the webserver still serves {LOCATION_NAME} from server {seen}, not {server_id}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Webserver bind address; anything but loopback is deliberate (the UI has no authentication). "
                   "Example: --host 0.0.0.0")
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True,
              help="Webserver port. Example: --port 3000")
@click.option("--code-server-port", type=click.IntRange(1, 65535), default=DEFAULT_CODE_SERVER_PORT,
              show_default=True, help="gRPC code server port (loopback only). Example: --code-server-port 4000")
def command(host: str, port: int, code_server_port: int) -> int:
    """Start the production topology: code server (gRPC), webserver and daemon as separate processes.

    A code deploy restarts only the code server; the webserver and daemon pick it up without a restart.

    \b
    Examples:
      marketdata serve
      DATABASE_URL=postgresql://dagster@db/marketdata marketdata serve --host 0.0.0.0
    """
    return serve(argparse.Namespace(host=host, port=port, code_server_port=code_server_port))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    # Ctrl-C and SIGTERM (systemd, docker stop) both stop the three services. SIGINT is set explicitly:
    # a command started in the background from a shell inherits it ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    from marketdata_pipeline.cli.run import client_host, warn_if_exposed

    warn_if_exposed(args.host, args.port)
    try:
        with local_stack(Settings.from_env()) as (_, home):
            os.environ.setdefault("MARKETDATA_WEBSERVER_URL", f"http://{client_host(args.host)}:{args.port}")
            topology = ProductionTopology(dict(os.environ), host=args.host, port=args.port,
                                          code_server_port=args.code_server_port)
            print(f"starting code server (127.0.0.1:{args.code_server_port}), webserver and daemon "
                  f"(DAGSTER_HOME={home}); Ctrl-C stops everything")
            with topology:
                print(f"Dagster UI on http://{args.host}:{args.port}")
                while all(topology.alive().values()):
                    time.sleep(1)
                dead = [name for name, up in topology.alive().items() if not up]
                print(f"error: {', '.join(dead)} exited; stopping the others", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 0
