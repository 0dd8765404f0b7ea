"""What every command needs before it starts: a database URL and a Dagster home.

Both are exported into this process's environment on purpose: it is the environment of the Dagster
processes the commands start (`marketdata run` spawns `dagster dev`), which read them from there.
"""

from __future__ import annotations

import os
from pathlib import Path

from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage import database
from marketdata_pipeline.storage.schema import create_schema

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_DB_NAME = "marketdata"


def embedded_data_dir(settings: Settings) -> Path:
    """Where the embedded PostgreSQL lives: MARKETDATA_DATA_DIR, default .data/ in the repo."""
    return (settings.data_dir or PROJECT_ROOT / ".data") / "postgres"


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


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME if set, else the project root, whose dagster.yaml is the instance config.

    DAGSTER_HOME is Dagster's own variable (read by DagsterInstance.get() here and in the child processes),
    not pipeline configuration; it is only defaulted here."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT)))
    if not (home / "dagster.yaml").exists():
        raise SystemExit(f"DAGSTER_HOME={home} has no dagster.yaml; point it at the project root")
    return home
