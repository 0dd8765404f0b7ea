"""PostgreSQL size of one symbol-year per timeframe, measured: the real pipeline (`dagster asset materialize`
of one partition, sandbox over HTTP) stores one year of a stock per timeframe into an empty `market_data`,
then pg_total_relation_size (table + primary-key index + TOAST) is read after a VACUUM.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python -m marketdata_pipeline.bench.storage_size

Writes a scratch database `mdp_size_*` on that server and drops it at the end. Prints JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from marketdata_pipeline.bench.sandbox_process import SandboxProcess
from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.bench.stack import scratch_environment
from marketdata_pipeline.environment import PROJECT_ROOT
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import create_schema
from marketdata_pipeline.timeframes import TIMEFRAMES

SYMBOL = "AAPL"
NOW = datetime(2024, 6, 6, 6, 0, tzinfo=UTC)  # the test suite's sandbox clock: every bar to Wednesday's close
START = (NOW - timedelta(days=365)).date()


def measure(admin_url: str) -> dict:
    bin_dir = Path(sys.executable).parent
    results = {}
    with scratch_database(admin_url, "mdp_size") as url:
        create_schema(url)
        with SandboxProcess(now=NOW) as sandbox, tempfile.TemporaryDirectory(prefix="mdp-size-") as home:
            env = scratch_environment(url, Path(home), sandbox.base_url, "size-key", START.isoformat())
            run = lambda *args: subprocess.run(args, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)  # noqa: E731
            run(str(bin_dir / "marketdata"), "symbols", "add", SYMBOL)
            engine = engine_for(url)
            for tf in TIMEFRAMES:
                with engine.begin() as conn:
                    conn.execute(sa.text("truncate market_data, partition_writes"))
                run(str(bin_dir / "dagster"), "asset", "materialize", "-m", "marketdata_pipeline.definitions",
                    "--select", "market_data", "--partition", f"{SYMBOL}|{tf}")
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(sa.text("vacuum (analyze) market_data"))
                    rows = conn.execute(sa.text("select count(*) from market_data")).scalar_one()
                    size = conn.execute(sa.text("select pg_total_relation_size('market_data')")).scalar_one()
                results[tf] = {"rows": rows, "bytes": size, "bytes_per_row": round(size / rows, 1) if rows else None}
    return {"symbol": SYMBOL, "history_start": START.isoformat(), "sandbox_now": NOW.isoformat(),
            "per_timeframe": results}


def main() -> None:
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        raise SystemExit("set DATABASE_URL to a PostgreSQL server this may create a scratch database on")
    print(json.dumps(measure(admin_url), indent=2))


if __name__ == "__main__":
    main()
