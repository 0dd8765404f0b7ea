"""Polygon.io / Massive REST client: bars, grouped daily, splits, dividends; retries, budget, breaker.

A standalone library: it imports nothing of the project but the leaf modules (bars, timeframes)."""

from marketdata_pipeline.client.budget import NullBudget, RequestBudget, budget_name
from marketdata_pipeline.client.errors import (
    CircuitOpenError,
    PolygonAuthError,
    PolygonConfigError,
    PolygonError,
    PolygonRequestError,
    PolygonResponseError,
    PolygonUnavailableError,
)
from marketdata_pipeline.client.polygon import OFFICIAL_BASE_URL, PolygonClient
from marketdata_pipeline.client.transport import RetryPolicy

__all__ = [
    "OFFICIAL_BASE_URL",
    "CircuitOpenError",
    "NullBudget",
    "PolygonAuthError",
    "PolygonClient",
    "PolygonConfigError",
    "PolygonError",
    "PolygonRequestError",
    "PolygonResponseError",
    "PolygonUnavailableError",
    "RequestBudget",
    "RetryPolicy",
    "budget_name",
]
