"""Every resource of the code location, and how each is configured from Settings.

Resources receive their values as Dagster config: secrets as `dg.EnvVar` (the UI shows the variable's name,
never its value, and the value is read when a run or sensor starts), everything else as validated values
from Settings. Nothing here reads the environment itself.
"""

# No `from __future__ import annotations`: Dagster inspects the nested resources' annotations at runtime.
from datetime import UTC, datetime
from typing import Any, Optional

import dagster as dg
from dagster_slack import SlackResource
from pydantic import Field, PrivateAttr

from marketdata_pipeline.client import OFFICIAL_BASE_URL, NullBudget, PolygonClient, PolygonConfigError, RequestBudget
from marketdata_pipeline.client.budget import budget_name
from marketdata_pipeline.client.polygon import MISSING_KEY
from marketdata_pipeline.client.redaction import Secret
from marketdata_pipeline.client.transport import RetryPolicy
from marketdata_pipeline.rules.freshness import FreshnessRules
from marketdata_pipeline.settings import (
    DEFAULT_SLACK_API_URL,
    DEFAULT_WEBSERVER_URL,
    Settings,
    freshness_rules,
    parse_now,
)
from marketdata_pipeline.storage.io_manager import PostgresBarsIOManager
from marketdata_pipeline.storage.request_budget import PostgresRequestBudget
from marketdata_pipeline.storage.resource import MarketDatabase

# Dagster masks fields flagged like this in the UI's config views (an EnvVar shows only its name anyway).
_SECRET: dict[str, Any] = {"dagster__is_secret": True}


class PolygonResource(dg.ConfigurableResource):
    """Polygon/Massive REST access. Configure `api_key` with `dg.EnvVar("POLYGON_API_KEY")`.

    Each run (step process) gets its own client, built in `setup_for_execution` and closed in
    `teardown_after_execution`; `client()` returns it. Outside a run, `build_client()` makes one
    (the caller closes it).
    """

    api_key: str = Field(
        description="Polygon/Massive API key (POLYGON_API_KEY or MASSIVE_API_KEY).", json_schema_extra=_SECRET, repr=False
    )
    base_url: str = Field(default=OFFICIAL_BASE_URL, description="API host; https://api.polygon.io also works.")
    max_requests_per_minute: Optional[int] = Field(
        default=None,
        description="Shared budget for every process using this key and database, a hard ceiling; unset = the limit "
        "learned from the API's 429s.",
    )
    database: Optional[MarketDatabase] = Field(default=None, description="Where the shared request budget lives.")
    timeout_s: float = Field(default=30.0, description="Read timeout per request.")
    max_retries: int = 10
    max_retry_seconds: float = Field(default=300.0, description="Total time one call may spend retrying.")
    breaker_threshold: int = Field(default=5, description="Consecutive failures that open the circuit.")
    breaker_cooldown_s: float = 30.0

    _client: Optional[PolygonClient] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._client = self.build_client()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self) -> PolygonClient:
        """The run's client, shared by every thread of the step."""
        if self._client is None:
            raise RuntimeError("PolygonResource.client() is only available inside a run; use build_client()")
        return self._client

    def build_client(self) -> PolygonClient:
        """A new client for this configuration; the caller owns (and closes) it."""
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
        if self.database is not None:
            return PostgresRequestBudget(
                self.database.url, budget_name(self.base_url, api_key.get()), self.max_requests_per_minute
            )
        if self.max_requests_per_minute is not None:
            raise PolygonConfigError("POLYGON_MAX_REQUESTS_PER_MINUTE needs a database (DATABASE_URL) to share the budget")
        return NullBudget()


class FetchConfig(dg.ConfigurableResource):
    """How far back a partition's first fetch reaches and how many sessions every fetch re-reads."""

    history_start: Optional[str] = Field(
        default=None, description="MARKETDATA_HISTORY_START: an ISO session date in the market's zone."
    )
    revision_sessions: int = Field(default=2, description="MARKETDATA_REVISION_SESSIONS: sessions re-fetched.")
    derive_intraday: str = Field(
        default="auto", description="MARKETDATA_DERIVE_INTRADAY: auto (15m/1h/4h from 5m while the probe agrees) or off."
    )


class HealthRules(dg.ConfigurableResource):
    """The clock and the freshness thresholds the checks and the alerts sensor judge by."""

    now: Optional[str] = Field(default=None, description="MARKETDATA_NOW: pins the clock (an ISO instant).")
    publication_delay_minutes: Optional[float] = None
    fresh_within_minutes: Optional[float] = None
    stale_after_minutes: Optional[float] = None

    def clock(self) -> datetime:
        return parse_now(self.now) if self.now else datetime.now(UTC)

    def rules(self) -> FreshnessRules:
        return freshness_rules(self.publication_delay_minutes, self.fresh_within_minutes, self.stale_after_minutes)


class AlertChannels(dg.ConfigurableResource):
    """Where alerts go besides the log: a JSON webhook and Slack (through dagster-slack's SlackResource)."""

    webserver_url: str = Field(default=DEFAULT_WEBSERVER_URL, description="Base of the links in alerts.")
    webhook_url: Optional[str] = Field(default=None, json_schema_extra=_SECRET, repr=False)
    slack: Optional[SlackResource] = None
    slack_channel: Optional[str] = None
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, description="Slack's Web API or a compatible endpoint.")
    # Only to mask it in error texts other components composed (the run-failure alerts).
    polygon_api_key: Optional[str] = Field(default=None, json_schema_extra=_SECRET, repr=False)

    def secrets(self) -> list[str]:
        return [s for s in (self.polygon_api_key, self.webhook_url, self.slack.token if self.slack else None) if s]


def _env(name: str, value: Any) -> Any:
    """An EnvVar reference when the variable is set (Settings saw a value), else None."""
    return dg.EnvVar(name) if value else None


def build_resources(settings: Settings) -> dict[str, Any]:
    """The code location's resources, configured from `settings`."""
    database = MarketDatabase(url=dg.EnvVar("DATABASE_URL"))
    return {
        "database": database,
        "bars_io_manager": PostgresBarsIOManager(database=database),
        "polygon": PolygonResource(
            # Unset key: an EnvVar anyway, so definitions load and a run fails naming the variable.
            api_key=dg.EnvVar(settings.api_key_var),
            base_url=settings.polygon_base_url,
            max_requests_per_minute=settings.max_requests_per_minute,
            database=database,
        ),
        "fetch_config": FetchConfig(
            history_start=settings.history_start.isoformat() if settings.history_start else None,
            revision_sessions=settings.revision_sessions,
            derive_intraday=settings.derive_intraday,
        ),
        "health_rules": HealthRules(
            now=settings.now.isoformat() if settings.now else None,
            publication_delay_minutes=settings.publication_delay_minutes,
            fresh_within_minutes=settings.fresh_within_minutes,
            stale_after_minutes=settings.stale_after_minutes,
        ),
        "alerts": AlertChannels(
            webserver_url=settings.webserver_url,
            webhook_url=_env("MARKETDATA_ALERT_WEBHOOK_URL", settings.alert_webhook_url),
            slack=SlackResource(token=dg.EnvVar("SLACK_BOT_TOKEN")) if settings.slack else None,
            slack_channel=settings.slack_channel,
            slack_api_url=settings.slack_api_url,
            polygon_api_key=_env(settings.api_key_var, settings.polygon_api_key),
        ),
    }


def resources_from_env() -> dict[str, Any]:
    """Resources for this process's environment (and ./.env); ConfigError names a bad variable."""
    return build_resources(Settings.from_env())
