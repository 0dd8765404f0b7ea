"""The market database as a Dagster resource."""

from __future__ import annotations

import dagster as dg


class MarketDatabase(dg.ConfigurableResource):  # type: ignore[type-arg]  # Dagster's generic is for factories
    """Where market_data and friends live (a plain postgresql:// URL)."""

    url: str
