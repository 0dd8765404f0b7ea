"""`marketdata symbols` prints its own output only: no INFO lines from the embedded PostgreSQL (pgserver)
or from the Dagster instance's alembic migrations."""

import os
import shutil

import psutil

from marketdata_pipeline_tests.support import REPO, marketdata


def embedded_env(tmp_path) -> dict:
    """A user without DATABASE_URL, the embedded server's data in a temporary directory."""
    runtime = tmp_path / "run"  # set on a desktop session; without it platformdirs warns (rightly shown)
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    env.update(MARKETDATA_DATA_DIR=str(tmp_path / "data"), XDG_RUNTIME_DIR=str(runtime))
    return env


def test_symbols_commands_on_the_embedded_database_print_only_their_output(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**embedded_env(tmp_path), "DAGSTER_HOME": str(home)}

    # The first command initialises the embedded server and the Dagster storage (alembic migrations).
    added = marketdata(env, "symbols", "add", "AAPL", "X:BTCUSD")
    listed = marketdata(env, "symbols", "list")

    assert added.stderr == "" and listed.stderr == ""
    assert added.stdout.splitlines() == ["added: AAPL X:BTCUSD", "dagster partitions: +2 -0"]
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["AAPL", "stocks", "active"],
        ["X:BTCUSD", "crypto", "active"],
    ]
    # The embedded server's narration went to its log file instead.
    assert "Initializing pgdata" in (tmp_path / "data" / "pgserver.log").read_text()
    # Each command stopped the server it started.
    data_dir = str(tmp_path / "data")
    assert not [p for p in psutil.process_iter(["cmdline"]) if data_dir in " ".join(p.info["cmdline"] or [])]


def test_errors_still_reach_the_user(tmp_path):
    refused = marketdata(embedded_env(tmp_path), "symbols", "add", "BRK|B", check=False)
    assert refused.returncode == 2 and "malformed ticker 'BRK|B'" in refused.stderr
