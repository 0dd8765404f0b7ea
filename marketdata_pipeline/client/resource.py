"""The Dagster face of the client. Everything Dagster-specific lives here."""

from __future__ import annotations

import os
import threading
from typing import Any

import dagster as dg
from pydantic import Field

from marketdata_pipeline.client.budget import NullBudget, PostgresRequestBudget, RequestBudget, budget_name
from marketdata_pipeline.client.errors import PolygonConfigError
from marketdata_pipeline.client.polygon import MISSING_KEY, PolygonClient
from marketdata_pipeline.client.redaction import Secret
from marketdata_pipeline.client.transport import RetryPolicy
from marketdata_pipeline.settings import OFFICIAL_BASE_URL, Settings

# Dagster masks fields flagged like this in the UI's config views (an EnvVar shows only its name anyway).
_SECRET = {"dagster__is_secret": True}

_clients: dict[tuple, PolygonClient] = {}
_clients_lock = threading.Lock()


class PolygonResource(dg.ConfigurableResource):
    """Polygon/Massive REST access. Configure `api_key` with `dg.EnvVar("POLYGON_API_KEY")`.

    Note: outside a run, an EnvVar-configured field holds the variable's *name*; call `client()` on
    the resource Dagster hands to an asset, or build one with `from_settings`.
    """

    api_key: str = Field(
        description="Polygon/Massive API key (POLYGON_API_KEY or MASSIVE_API_KEY).", json_schema_extra=_SECRET, repr=False
    )
    base_url: str = Field(default=OFFICIAL_BASE_URL, description="API host; https://api.polygon.io also works.")
    max_requests_per_minute: int | None = Field(
        default=None,
        description="Shared budget for every process using this key and database, a hard ceiling; unset = the limit "
        "learned from the API's 429s.",
    )
    database_url: str | None = Field(
        default=None, description="PostgreSQL holding the shared request budget.", json_schema_extra=_SECRET, repr=False
    )
    timeout_s: float = Field(default=30.0, description="Read timeout per request.")
    max_retries: int = 10
    max_retry_seconds: float = Field(default=300.0, description="Total time one call may spend retrying.")
    breaker_threshold: int = Field(default=5, description="Consecutive failures that open the circuit.")
    breaker_cooldown_s: float = 30.0

    def client(self) -> PolygonClient:
        """One client per configuration and process, shared by every thread and asset in it."""
        key = tuple(self.model_dump().items())
        with _clients_lock:
            if key not in _clients:
                _clients[key] = self._build_client()
            return _clients[key]

    def _build_client(self) -> PolygonClient:
        if not self.api_key.strip():
            raise PolygonConfigError(MISSING_KEY)
        api_key = Secret(self.api_key)
        return PolygonClient(
            api_key,
            self.base_url,
            budget=self._budget(api_key),
            timeout_s=self.timeout_s,
            retry=RetryPolicy(max_retries=self.max_retries, max_retry_seconds=self.max_retry_seconds),
            breaker_threshold=self.breaker_threshold,
            breaker_cooldown_s=self.breaker_cooldown_s,
        )

    def _budget(self, api_key: Secret) -> RequestBudget:
        # With a database the budget is always shared: even without a configured maximum it learns the
        # API's limit from 429s, so a storm costs every process only a few rejected requests.
        if self.database_url:
            return PostgresRequestBudget(
                self.database_url, budget_name(self.base_url, api_key.get()), self.max_requests_per_minute
            )
        if self.max_requests_per_minute is not None:
            raise PolygonConfigError("POLYGON_MAX_REQUESTS_PER_MINUTE needs a database (DATABASE_URL) to share the budget")
        return NullBudget()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "PolygonResource":
        """Built from the environment's Settings; secrets stay EnvVar references where the environment holds them."""
        config: dict[str, Any] = {
            # Unset key: an EnvVar anyway, so definitions load and a run fails naming the variable.
            "api_key": _env_reference(settings.polygon_api_key, ("POLYGON_API_KEY", "MASSIVE_API_KEY"))
            or dg.EnvVar("POLYGON_API_KEY"),
            "base_url": settings.polygon_base_url,
            "max_requests_per_minute": settings.max_requests_per_minute,
            "database_url": _env_reference(settings.database_url, ("DATABASE_URL",)),
        }
        return cls(**{**config, **overrides})


def _env_reference(value: str | None, names: tuple[str, ...]) -> Any:
    """An EnvVar for whichever variable holds `value` (so Dagster shows the name, not the secret), else the value."""
    for name in names:
        if value and os.environ.get(name) == value:
            return dg.EnvVar(name)
    return value
