"""The one place that reads the environment: which API, which database, which limits, which alert channels.

Every variable is read here, once, and validated with a message that names it. A `.env` file in the working
directory is honoured the way Dagster's own loader does (its values win over the shell's), so `marketdata
run` and the Dagster processes it starts see the same configuration. Code elsewhere receives values from a
Settings object (the CLI) or as Dagster resource config (assets and sensors), never from os.environ.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from marketdata_pipeline.client.polygon import OFFICIAL_BASE_URL
from marketdata_pipeline.rules.freshness import FreshnessRules

# Vendors revise bars after the close (late prints, busted trades): each run re-fetches this many sessions.
DEFAULT_REVISION_SESSIONS = 2
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# The variables that may hold the API key, in order of precedence.
API_KEY_VARS = ("POLYGON_API_KEY", "MASSIVE_API_KEY")
NOW_VAR = "MARKETDATA_NOW"
DeriveIntraday = Literal["auto", "off"]


class ConfigError(ValueError):
    pass


class Settings(BaseSettings):
    """Typed configuration. Field names are Python's; each field's alias is its environment variable."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True, validate_default=False
    )

    database_url: str | None = Field(default=None, alias="DATABASE_URL", repr=False)
    polygon_api_key_primary: str | None = Field(default=None, alias="POLYGON_API_KEY", repr=False)
    massive_api_key: str | None = Field(default=None, alias="MASSIVE_API_KEY", repr=False)
    polygon_base_url: str = Field(default=OFFICIAL_BASE_URL, alias="POLYGON_BASE_URL")
    max_requests_per_minute: int | None = Field(default=None, alias="POLYGON_MAX_REQUESTS_PER_MINUTE")
    # A session date in the market's own zone (ET for stocks, UTC for crypto).
    history_start: date | None = Field(default=None, alias="MARKETDATA_HISTORY_START")
    revision_sessions: int = Field(default=DEFAULT_REVISION_SESSIONS, alias="MARKETDATA_REVISION_SESSIONS")
    # auto: 15m/1h/4h are built from stored 5m bars where the asset class's conformance probe agrees.
    derive_intraday: DeriveIntraday = Field(default="auto", alias="MARKETDATA_DERIVE_INTRADAY")
    # MARKETDATA_NOW pins the clock (an ISO instant) for tests and the sandbox.
    now: datetime | None = Field(default=None, alias="MARKETDATA_NOW")
    publication_delay_minutes: float | None = Field(default=None, alias="MARKETDATA_PUBLICATION_DELAY_MINUTES")
    fresh_within_minutes: float | None = Field(default=None, alias="MARKETDATA_FRESH_WITHIN_MINUTES")
    stale_after_minutes: float | None = Field(default=None, alias="MARKETDATA_STALE_AFTER_MINUTES")
    alert_webhook_url: str | None = Field(default=None, alias="MARKETDATA_ALERT_WEBHOOK_URL", repr=False)
    webserver_url: str = Field(default=DEFAULT_WEBSERVER_URL, alias="MARKETDATA_WEBSERVER_URL")
    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN", repr=False)
    slack_channel: str | None = Field(default=None, alias="MARKETDATA_SLACK_CHANNEL")
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, alias="MARKETDATA_SLACK_API_URL")
    # Where the embedded PostgreSQL lives when DATABASE_URL is unset; default .data/ in the repo.
    data_dir: Path | None = Field(default=None, alias="MARKETDATA_DATA_DIR")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Dagster's loader lets ./.env override the shell; so do we, or the CLI and the runs could disagree.
        return init_settings, dotenv_settings, env_settings

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The process environment (and ./.env), or exactly the variables in `env`; ConfigError names the
        offending variable."""
        try:
            if env is None:
                return cls()
            return cls.model_validate({k: v for k, v in env.items() if v})
        except ValidationError as exc:
            raise _config_error(exc) from None

    # ---- derived values ----------------------------------------------------------------------
    @property
    def polygon_api_key(self) -> str | None:
        return self.polygon_api_key_primary or self.massive_api_key

    @property
    def api_key_var(self) -> str:
        """The variable that holds the key (POLYGON_API_KEY when neither does, so an error names it)."""
        return "MASSIVE_API_KEY" if not self.polygon_api_key_primary and self.massive_api_key else "POLYGON_API_KEY"

    @property
    def slack(self) -> tuple[str, str] | None:
        """(bot token, channel) when Slack alerts are configured."""
        return (self.slack_bot_token, self.slack_channel) if self.slack_bot_token and self.slack_channel else None

    def clock(self) -> datetime:
        """MARKETDATA_NOW when pinned, else the real time."""
        return self.now if self.now is not None else datetime.now(UTC)

    def freshness_rules(self) -> FreshnessRules:
        return freshness_rules(self.publication_delay_minutes, self.fresh_within_minutes, self.stale_after_minutes)

    # ---- validation, with the messages users see ---------------------------------------------------
    @field_validator("polygon_base_url", mode="before")
    @classmethod
    def _base_url(cls, raw: Any) -> str:
        parts = urlsplit(str(raw))
        # Without a scheme, "127.0.0.1:8765" or "api.massive.com" would surface later as an odd network error.
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"POLYGON_BASE_URL must be an http(s) URL such as {OFFICIAL_BASE_URL}, got {raw!r}")
        return str(raw).rstrip("/")

    @field_validator("webserver_url", mode="after")
    @classmethod
    def _no_trailing_slash(cls, raw: str) -> str:
        return raw.rstrip("/")

    @field_validator("max_requests_per_minute", mode="before")
    @classmethod
    def _max_requests(cls, raw: Any) -> int:
        return _positive_int("POLYGON_MAX_REQUESTS_PER_MINUTE", raw)

    @field_validator("revision_sessions", mode="before")
    @classmethod
    def _revision_sessions(cls, raw: Any) -> int:
        return _positive_int("MARKETDATA_REVISION_SESSIONS", raw)

    @field_validator("derive_intraday", mode="before")
    @classmethod
    def _derive_intraday(cls, raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in get_args(DeriveIntraday):
            raise ValueError(f"MARKETDATA_DERIVE_INTRADAY must be auto or off, got {raw!r}")
        return value

    @field_validator("history_start", mode="before")
    @classmethod
    def _history_start(cls, raw: Any) -> date:
        name = "MARKETDATA_HISTORY_START"
        try:
            start = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise ValueError(f"{name} must be an ISO date such as 2024-01-31, got {raw!r}") from None
        # A day of slack: the date is read in the market's zone, which may already be tomorrow somewhere.
        if start > (datetime.now(UTC) + timedelta(days=1)).date():
            raise ValueError(f"{name} is in the future ({start}): no bars exist yet from that date")
        return start

    @field_validator("now", mode="before")
    @classmethod
    def _now(cls, raw: Any) -> datetime:
        return parse_now(raw)

    @field_validator("publication_delay_minutes", "fresh_within_minutes", "stale_after_minutes", mode="before")
    @classmethod
    def _minutes(cls, raw: Any, info: Any) -> float:
        var = cls.model_fields[info.field_name].alias
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{var} must be a number of minutes, got {raw!r}") from None

    @model_validator(mode="after")
    def _windows_in_order(self) -> Settings:
        self.freshness_rules()  # raises when the Fresh window is not shorter than the Stale threshold
        return self


def _positive_int(name: str, raw: Any) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def parse_now(raw: Any) -> datetime:
    """An aware ISO instant (MARKETDATA_NOW's form) in UTC."""
    try:
        moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    except ValueError:
        raise ConfigError(f"{NOW_VAR} must be an ISO instant such as 2024-05-28T14:00:00Z, got {raw!r}") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{NOW_VAR} needs a time zone (e.g. a trailing Z), got {raw!r}")
    return moment.astimezone(UTC)


def freshness_rules(
    publication_delay_minutes: float | None = None,
    fresh_within_minutes: float | None = None,
    stale_after_minutes: float | None = None,
) -> FreshnessRules:
    """The rules with the configured overrides; ConfigError unless the Fresh window ends before Stale starts."""
    overrides = {
        field: timedelta(minutes=minutes)
        for field, minutes in (
            ("publication_delay", publication_delay_minutes),
            ("fresh_within", fresh_within_minutes),
            ("stale_after", stale_after_minutes),
        )
        if minutes is not None
    }
    rules = FreshnessRules(**overrides)
    if rules.fresh_within >= rules.stale_after:
        raise ConfigError("the Fresh window must be shorter than the Stale threshold")
    return rules


def _config_error(exc: ValidationError) -> ConfigError:
    """The first problem's own message (pydantic prefixes it with "Value error, " and a field path)."""
    error = exc.errors()[0]
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, Exception):
        return ConfigError(str(original))
    where = ".".join(str(part) for part in error.get("loc", ()))
    return ConfigError(f"{where}: {error.get('msg')}")
