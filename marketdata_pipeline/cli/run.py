"""`marketdata run`: database, API (real or sandbox), schema, default universe, then `dagster dev`."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys

import click

from marketdata_pipeline.cli.console import stderr
from marketdata_pipeline.cli.local_stack import local_stack
from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.settings import Settings

NO_AUTH_WARNING = (
    "warning: the Dagster UI will listen on {host}, beyond this machine's loopback. It has NO authentication: "
    "anyone who can reach port {port} can launch and cancel runs and read the data. Put it behind a firewall "
    "or an authenticating proxy."
)


@click.command("run")
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True,
              help="Dagster UI port. Example: --port 3001")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="UI bind address. Anything but loopback is deliberate: the UI has no authentication "
                   "(a warning is printed). Example: --host 0.0.0.0")
def command(port: int, host: str) -> int:
    """Start everything and the Dagster UI (dagster dev) in one command: the laptop path.

    Uses DATABASE_URL or an embedded PostgreSQL, POLYGON_API_KEY or the local SYNTHETIC sandbox, registers the
    default universe on first start, then runs `dagster dev` until Ctrl-C. For a team, see `marketdata serve`.

    \b
    Examples:
      marketdata run
      marketdata run --port 3001
      marketdata run --host 0.0.0.0     # reachable from the network: no authentication!
    """
    warn_if_exposed(host, port)
    # ./.env counts as Dagster's loader counts it: a key set only there is the key the runs will use.
    settings = Settings.from_env()
    with contextlib.ExitStack() as stack:
        with stderr().status("preparing") as status:
            url, home = stack.enter_context(local_stack(settings, lambda step: status.update(f"preparing: {step}")))
        os.environ.setdefault("MARKETDATA_WEBSERVER_URL", f"http://{client_host(host)}:{port}")
        command = [sys.executable, "-m", "dagster", "dev", "-h", host, "-p", str(port), "-w", "workspace.yaml"]
        print(f"starting Dagster (DAGSTER_HOME={home}) on http://{host}:{port}; Ctrl-C stops everything")
        # dagster dev must see SIGINT at its default, or it ignores Ctrl-C and orphans its children.
        child = subprocess.Popen(command, cwd=PROJECT_ROOT,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            try:
                return child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                return 1


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def warn_if_exposed(host: str, port: int) -> None:
    """Binding beyond loopback is allowed, never silent."""
    if not is_loopback(host):
        print(NO_AUTH_WARNING.format(host=host, port=port), file=sys.stderr)


def client_host(host: str) -> str:
    """Where local clients (sensors, `marketdata backfill`) reach a server bound to `host`."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
