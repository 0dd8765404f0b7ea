"""Polygon.io / Massive REST client: bars, grouped daily, splits, dividends; retries, budget, breaker."""

from marketdata_pipeline.client.budget import NullBudget, PostgresRequestBudget, RequestBudget, budget_name
from marketdata_pipeline.client.errors import (
    CircuitOpenError,
    PolygonAuthError,
    PolygonConfigError,
    PolygonError,
    PolygonRequestError,
    PolygonResponseError,
    PolygonUnavailableError,
)
from marketdata_pipeline.client.polygon import PolygonClient
from marketdata_pipeline.client.transport import RetryPolicy

__all__ = [
    "CircuitOpenError",
    "NullBudget",
    "PolygonAuthError",
    "PolygonClient",
    "PolygonConfigError",
    "PolygonError",
    "PolygonRequestError",
    "PolygonResponseError",
    "PolygonUnavailableError",
    "PostgresRequestBudget",
    "RequestBudget",
    "RetryPolicy",
    "budget_name",
]
