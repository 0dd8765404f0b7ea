"""The one place that reads the environment: which API, which database, which limits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

OFFICIAL_BASE_URL = "https://api.massive.com"  # Polygon.io renamed itself Massive; api.polygon.io still works
FREE_TIER_REQUESTS_PER_MINUTE = 5


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    polygon_api_key: str | None
    polygon_base_url: str
    max_requests_per_minute: int | None  # None: no client-side budget
    history_start: date | None
    alert_webhook_url: str | None
    webserver_url: str

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> "Settings":
        env = os.environ if env is None else env
        key = env.get("POLYGON_API_KEY") or env.get("MASSIVE_API_KEY") or None
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            polygon_api_key=key,
            polygon_base_url=(env.get("POLYGON_BASE_URL") or OFFICIAL_BASE_URL).rstrip("/"),
            max_requests_per_minute=_positive_int(env, "POLYGON_MAX_REQUESTS_PER_MINUTE"),
            history_start=_iso_date(env, "MARKETDATA_HISTORY_START"),
            alert_webhook_url=env.get("MARKETDATA_ALERT_WEBHOOK_URL") or None,
            webserver_url=(env.get("MARKETDATA_WEBSERVER_URL") or "http://127.0.0.1:3000").rstrip("/"),
        )


def _positive_int(env, name: str) -> int | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of requests per minute, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {value}")
    return value


def _iso_date(env, name: str) -> date | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an ISO date such as 2024-01-31, got {raw!r}") from None
