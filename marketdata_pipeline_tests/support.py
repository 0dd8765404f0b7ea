"""Constants and helpers shared by the tests."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# 02:00 ET on Thursday 2024-06-06: every bar up to Wednesday's close exists.
THURSDAY = datetime(2024, 6, 6, 6, 0, tzinfo=UTC)
FRIDAY = datetime(2024, 6, 7, 6, 0, tzinfo=UTC)
HISTORY_START = "2024-05-01"


def run(env, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def marketdata(env, *args, check=True) -> subprocess.CompletedProcess:
    return run(env, str(BIN / "marketdata"), *args, check=check)


def materialize_cmd(key: str) -> list[str]:
    return [str(BIN / "dagster"), "asset", "materialize", "-m", "marketdata_pipeline.definitions",
            "--select", "market_data", "--partition", key]
