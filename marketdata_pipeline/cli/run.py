"""`marketdata run`: database, API (real or sandbox), schema, default universe, then `dagster dev`."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from marketdata_pipeline.environment import PROJECT_ROOT, ensure_dagster_home, ensure_database
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.database import redacted
from marketdata_pipeline.storage.universe import DEFAULT_UNIVERSE, add_symbols, list_symbols

SANDBOX_KEY = "sandbox-key"  # the sandbox accepts any non-empty key
SANDBOX_BANNER = """
  ******************************************************************************
  *  No POLYGON_API_KEY set: using the local Polygon SANDBOX at {url}
  *  Every bar you see is SYNTHETIC (deterministic fake data), not market data.
  *  Set POLYGON_API_KEY (or MASSIVE_API_KEY) to use the real API.
  ******************************************************************************
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="start everything and the Dagster UI (dagster dev)")
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # ./.env counts as Dagster's loader counts it: a key set only there is the key the runs will use.
    settings = Settings.from_env()
    url = ensure_database(settings)
    print(f"database: {redacted(url)}")
    home = ensure_dagster_home()
    sandbox = None
    if not settings.polygon_api_key:
        from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer

        sandbox = SandboxServer(SandboxConfig())
        sandbox.start()
        # The environment of the `dagster dev` child below.
        os.environ["POLYGON_API_KEY"] = SANDBOX_KEY
        os.environ["POLYGON_BASE_URL"] = sandbox.base_url
        print(SANDBOX_BANNER.format(url=sandbox.base_url))
    if not list_symbols(url):
        add_symbols(url, DEFAULT_UNIVERSE)
        print(f"registered the default universe: {' '.join(DEFAULT_UNIVERSE)}")
    from marketdata_pipeline.cli.symbols import _sync

    _sync(url)
    os.environ.setdefault("MARKETDATA_WEBSERVER_URL", f"http://127.0.0.1:{args.port}")
    command = [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(args.port), "-w", "workspace.yaml"]
    print(f"starting Dagster (DAGSTER_HOME={home}) on http://127.0.0.1:{args.port}; Ctrl-C stops everything")
    # dagster dev must see SIGINT at its default, or it ignores Ctrl-C and orphans its children.
    child = subprocess.Popen(command, cwd=PROJECT_ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        try:
            return child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            return 1
    finally:
        if sandbox is not None:
            sandbox.stop()
