"""`marketdata db-url`: the PostgreSQL URL the pipeline uses (for psql, pandas, BI tools)."""

from __future__ import annotations

import sys

import click

from marketdata_pipeline.environment import EMBEDDED_DB_NAME, embedded_data_dir
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage import database
from marketdata_pipeline.storage.schema import create_schema


@click.command("db-url")
def command() -> int:
    """Print the database URL (starting the embedded PostgreSQL, left running, if DATABASE_URL is unset).

    \b
    Examples:
      psql "$(marketdata db-url)"
      python -c "import pandas as pd; print(pd.read_sql('select * from symbols', '$(marketdata db-url)'))"
    """
    settings = Settings.from_env()
    url = settings.database_url
    if not url:
        # Left running after this command exits (cleanup=None): the URL must stay usable by whoever reads it.
        data_dir = embedded_data_dir(settings)
        admin = database.start_embedded(data_dir, cleanup=None)
        url = database.create_database(admin, EMBEDDED_DB_NAME)
        print(f"embedded PostgreSQL in {data_dir} (left running)", file=sys.stderr)
    database.check_connection(url)
    create_schema(url)
    print(url)
    return 0
