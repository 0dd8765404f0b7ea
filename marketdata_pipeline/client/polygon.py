"""PolygonClient: one object per (key, base URL) with sub-APIs, usable with or without Dagster."""

from __future__ import annotations

import httpx

from marketdata_pipeline.bars import MAX_PAGE_LIMIT
from marketdata_pipeline.client.aggs import AggsAPI
from marketdata_pipeline.client.breaker import CircuitBreaker
from marketdata_pipeline.client.budget import NullBudget, RequestBudget
from marketdata_pipeline.client.errors import PolygonConfigError
from marketdata_pipeline.client.redaction import Secret, install_log_redaction
from marketdata_pipeline.client.reference import ReferenceAPI
from marketdata_pipeline.client.stats import ClientStats
from marketdata_pipeline.client.transport import RetryPolicy, Transport

OFFICIAL_BASE_URL = "https://api.massive.com"  # Polygon.io renamed itself Massive; api.polygon.io still works
MISSING_KEY = "no Polygon API key: set POLYGON_API_KEY (or its alias MASSIVE_API_KEY)"


class PolygonClient:
    """`client.aggs.range(...)`, `client.aggs.grouped_daily(...)`, `client.reference.splits(...)`.

    Thread-safe: share one client between worker threads; `client.stats` counts for all of them.
    """

    def __init__(
        self,
        api_key: str | Secret | None,
        base_url: str = OFFICIAL_BASE_URL,
        *,
        budget: RequestBudget | None = None,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 30.0,
        page_limit: int = MAX_PAGE_LIMIT,
        http_transport: httpx.BaseTransport | None = None,
    ):
        install_log_redaction()
        key = api_key if isinstance(api_key, Secret) else Secret(api_key or "")
        if not key.get().strip():
            raise PolygonConfigError(MISSING_KEY)
        self.base_url = base_url.rstrip("/")
        self.stats = ClientStats()
        self.budget = budget or NullBudget()
        self.breaker = CircuitBreaker(breaker_threshold, breaker_cooldown_s)
        self._transport = Transport(
            key,
            self.base_url,
            budget=self.budget,
            breaker=self.breaker,
            retry=retry or RetryPolicy(),
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            stats=self.stats,
            http_transport=http_transport,
        )
        self.aggs = AggsAPI(self._transport, page_limit=page_limit)
        self.reference = ReferenceAPI(self._transport)

    def __repr__(self) -> str:
        return f"PolygonClient(base_url={self.base_url!r}, api_key=***, budget={self.budget!r})"

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> PolygonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
