"""One benchmark environment: a fresh database, the sandbox process, and `dagster dev` on a scratch instance."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.bench.dagster_dev import DagsterDev
from marketdata_pipeline.bench.sandbox_process import SandboxProcess
from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.defs.automation.sensors import sync_partitions
from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.sandbox.synthetic import DEFAULT_STOCKS
from marketdata_pipeline.storage.schema import create_schema
from marketdata_pipeline.storage.universe import add_symbols


@dataclass
class Stack:
    database_url: str
    sandbox: SandboxProcess
    dev: DagsterDev
    instance: dg.DagsterInstance
    env: dict


def scratch_environment(database_url: str, dagster_home: Path, base_url: str, api_key: str,
                        history_start: str, max_requests_per_minute: int | None = None) -> dict:
    """The environment of a user who set DATABASE_URL and an API key, with the repo's dagster.yaml
    copied into `dagster_home` as the instance config."""
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DAGSTER_HOME": str(dagster_home),
        "POLYGON_API_KEY": api_key,
        "POLYGON_BASE_URL": base_url,
        "MARKETDATA_HISTORY_START": history_start,
    }
    env.pop("MASSIVE_API_KEY", None)
    env.pop("POLYGON_MAX_REQUESTS_PER_MINUTE", None)
    if max_requests_per_minute:
        env["POLYGON_MAX_REQUESTS_PER_MINUTE"] = str(max_requests_per_minute)
    return env


@contextlib.contextmanager
def stack(admin_url: str, sandbox: SandboxProcess, symbols: list[str], history_start: date,
          max_requests_per_minute: int | None):
    """Yields a Stack on a database of its own; the symbols are registered as partitions."""
    with scratch_database(admin_url, "mdp_bench") as url:
        create_schema(url)
        home = Path(tempfile.mkdtemp(prefix="mdp-bench-home-"))
        env = scratch_environment(url, home, sandbox.base_url, "bench-key", history_start.isoformat(),
                                  max_requests_per_minute)
        previous = os.environ.get("DATABASE_URL")
        os.environ["DATABASE_URL"] = url  # this process's view of the same instance
        try:
            add_symbols(url, symbols)
            with dg.DagsterInstance.from_config(str(home)) as instance:
                sync_partitions(instance, symbols)
                with DagsterDev(env, PROJECT_ROOT) as dev:
                    yield Stack(url, sandbox, dev, instance, env)
        finally:
            if previous is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = previous
            shutil.rmtree(home, ignore_errors=True)


def symbol_universe(n: int) -> list[str]:
    """n stock tickers: the sandbox's liquid names first, then generated ones (QAAA, QAAB, …)."""
    liquid = [s for s in DEFAULT_STOCKS if "." not in s]
    generated = (f"Q{chr(65 + i // 676)}{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}" for i in range(17576))
    return list(itertools.islice(itertools.chain(liquid, generated), n))


def partition_keys(symbols: list[str], timeframes: list[str]) -> list[str]:
    return [partition_key(s, tf) for s in symbols for tf in timeframes]


def at_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
