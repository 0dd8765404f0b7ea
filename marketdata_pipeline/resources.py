"""The tiny helper that picks the environment: resources built from environment variables at run time."""

from __future__ import annotations

import dagster as dg

from marketdata_pipeline.client.resource import PolygonResource
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.io_manager import PostgresBarsIOManager
from marketdata_pipeline.storage.resource import MarketDatabase


def resources_from_env() -> dict:
    # EnvVar keeps values out of the code location snapshot: the UI shows the variable's name, not the secret.
    database_url = dg.EnvVar("DATABASE_URL")
    return {
        "database": MarketDatabase(url=database_url),
        "bars_io_manager": PostgresBarsIOManager(database_url=database_url),
        "polygon": PolygonResource.from_settings(Settings.from_env()),
    }
