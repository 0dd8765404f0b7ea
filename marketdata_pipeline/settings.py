"""The one place that reads the environment: which API, which database, which limits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

OFFICIAL_BASE_URL = "https://api.massive.com"  # Polygon.io renamed itself Massive; api.polygon.io still works
FREE_TIER_REQUESTS_PER_MINUTE = 5
# Vendors revise bars after the close (late prints, busted trades): each run re-fetches this many sessions.
DEFAULT_REVISION_SESSIONS = 2


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    polygon_api_key: str | None
    polygon_base_url: str
    max_requests_per_minute: int | None  # None: no client-side budget
    history_start: date | None  # a session date in the market's own zone (ET for stocks, UTC for crypto)
    revision_sessions: int
    alert_webhook_url: str | None
    webserver_url: str

    @classmethod
    def from_env(cls, env: os._Environ | dict | None = None) -> "Settings":
        env = os.environ if env is None else env
        key = env.get("POLYGON_API_KEY") or env.get("MASSIVE_API_KEY") or None
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            polygon_api_key=key,
            polygon_base_url=_base_url(env, "POLYGON_BASE_URL"),
            max_requests_per_minute=_positive_int(env, "POLYGON_MAX_REQUESTS_PER_MINUTE"),
            history_start=_history_start(env, "MARKETDATA_HISTORY_START"),
            revision_sessions=_positive_int(env, "MARKETDATA_REVISION_SESSIONS") or DEFAULT_REVISION_SESSIONS,
            alert_webhook_url=env.get("MARKETDATA_ALERT_WEBHOOK_URL") or None,
            webserver_url=(env.get("MARKETDATA_WEBSERVER_URL") or "http://127.0.0.1:3000").rstrip("/"),
        )


def _base_url(env, name: str) -> str:
    raw = env.get(name) or OFFICIAL_BASE_URL
    parts = urlsplit(raw)
    # Without a scheme, "127.0.0.1:8765" or "api.massive.com" would surface later as an odd network error.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL such as {OFFICIAL_BASE_URL}, got {raw!r}")
    return raw.rstrip("/")


def _positive_int(env, name: str) -> int | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
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


def _history_start(env, name: str) -> date | None:
    start = _iso_date(env, name)
    # A day of slack: the date is read in the market's zone, which may already be tomorrow somewhere.
    if start is not None and start > (datetime.now(UTC) + timedelta(days=1)).date():
        raise ConfigError(f"{name} is in the future ({start}): no bars exist yet from that date")
    return start
