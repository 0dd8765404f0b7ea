"""What `marketdata run` and `marketdata serve` start from: a database, a Dagster home, the API (real or the
sandbox), the symbol universe and its partitions."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from marketdata_pipeline.environment import ensure_dagster_home, ensure_database
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


@contextlib.contextmanager
def local_stack(settings: Settings, step: Callable[[str], object] = lambda _: None) -> Iterator[tuple[str, Path]]:
    """Yields (database URL, Dagster home) once the database (DATABASE_URL or the embedded one), the Dagster
    home, the sandbox (unless an API key is set) and the default universe (on first start) are ready and the
    universe is registered as partitions; stops the sandbox on exit. `step` hears each stage's name."""
    from marketdata_pipeline.cli.symbols import _sync

    step("database")
    url = ensure_database(settings)
    print(f"database: {redacted(url)}")
    step("Dagster instance")
    home = ensure_dagster_home()
    sandbox = None
    if not settings.polygon_api_key:
        from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer

        step("sandbox")
        sandbox = SandboxServer(SandboxConfig())
        sandbox.start()
        # The environment of the Dagster processes the commands start.
        os.environ["POLYGON_API_KEY"] = SANDBOX_KEY
        os.environ["POLYGON_BASE_URL"] = sandbox.base_url
        print(SANDBOX_BANNER.format(url=sandbox.base_url))
    try:
        step("symbol universe and partitions")
        if not list_symbols(url):
            add_symbols(url, DEFAULT_UNIVERSE)
            print(f"registered the default universe: {' '.join(DEFAULT_UNIVERSE)}")
        _sync(url)
        yield url, home
    finally:
        if sandbox is not None:
            sandbox.stop()
