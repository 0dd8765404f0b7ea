"""What every command needs before it starts: a database URL and a Dagster home.

Both are exported into this process's environment on purpose: it is the environment of the Dagster
processes the commands start (`marketdata run` spawns `dagster dev`), which read them from there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage import database
from marketdata_pipeline.storage.schema import create_schema

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_DB_NAME = "marketdata"


def data_dir(settings: Settings) -> Path:
    """Where local state lives (embedded PostgreSQL, Dagster home): MARKETDATA_DATA_DIR, default .data/."""
    return settings.data_dir or PROJECT_ROOT / ".data"


def embedded_data_dir(settings: Settings) -> Path:
    return data_dir(settings) / "postgres"


def ensure_database(settings: Settings | None = None) -> str:
    """DATABASE_URL if set, else the embedded PostgreSQL kept under .data/ or MARKETDATA_DATA_DIR (started if needed).

    Exports DATABASE_URL so Dagster processes started from here use the same database, and
    creates the schema.
    """
    settings = settings or Settings.from_env()
    url = settings.database_url
    if not url:
        admin = database.start_embedded(embedded_data_dir(settings))
        url = database.create_database(admin, EMBEDDED_DB_NAME)
        os.environ["DATABASE_URL"] = url  # the child processes' environment
    database.check_connection(url)
    create_schema(url)
    return url


def ensure_dagster_home(settings: Settings | None = None) -> Path:
    """DAGSTER_HOME if set, else <MARKETDATA_DATA_DIR or .data>/dagster_home with the repo's dagster.yaml.

    Dagster writes storage/, logs/ and history/ into its home, so the default home lives with the data,
    outside the source tree. The repo's dagster.yaml is copied there on every start: it stays the one
    instance config (set DAGSTER_HOME to manage your own). DAGSTER_HOME is Dagster's own variable (read
    by DagsterInstance.get() here and in the child processes), not pipeline configuration."""
    if not os.environ.get("DAGSTER_HOME"):
        home = data_dir(settings or Settings.from_env()) / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home.resolve())
    home = Path(os.environ["DAGSTER_HOME"])
    if not (home / "dagster.yaml").exists():
        raise SystemExit(f"DAGSTER_HOME={home} has no dagster.yaml; copy the project's dagster.yaml there")
    return home
