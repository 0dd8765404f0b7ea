"""The health domain's environment: the clock and the freshness thresholds, read here and nowhere else."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from marketdata_pipeline.health.freshness import FreshnessRules
from marketdata_pipeline.settings import ConfigError

# MARKETDATA_NOW pins the clock (an ISO instant) for tests and the sandbox.
NOW_VAR = "MARKETDATA_NOW"
_RULE_VARS = {
    "publication_delay": "MARKETDATA_PUBLICATION_DELAY_MINUTES",
    "fresh_within": "MARKETDATA_FRESH_WITHIN_MINUTES",
    "stale_after": "MARKETDATA_STALE_AFTER_MINUTES",
}


def now(env=None) -> datetime:
    env = os.environ if env is None else env
    raw = env.get(NOW_VAR)
    if not raw:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{NOW_VAR} must be an ISO instant such as 2024-05-28T14:00:00Z, got {raw!r}") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{NOW_VAR} needs a time zone (e.g. a trailing Z), got {raw!r}")
    return moment.astimezone(UTC)


def freshness_rules(env=None) -> FreshnessRules:
    env = os.environ if env is None else env
    overrides = {}
    for field, var in _RULE_VARS.items():
        raw = env.get(var)
        if not raw:
            continue
        try:
            minutes = float(raw)
        except ValueError:
            raise ConfigError(f"{var} must be a number of minutes, got {raw!r}") from None
        overrides[field] = timedelta(minutes=minutes)
    rules = FreshnessRules(**overrides)
    if rules.fresh_within >= rules.stale_after:
        raise ConfigError("the Fresh window must be shorter than the Stale threshold")
    return rules


def slack(env=None) -> tuple[str, str] | None:
    """(bot token, channel) when Slack alerts are configured."""
    env = os.environ if env is None else env
    token, channel = env.get("SLACK_BOT_TOKEN"), env.get("MARKETDATA_SLACK_CHANNEL")
    return (token, channel) if token and channel else None


def slack_api_url(env=None) -> str:
    """Slack's Web API, or a Slack-compatible endpoint (MARKETDATA_SLACK_API_URL, e.g. a local receiver)."""
    env = os.environ if env is None else env
    return env.get("MARKETDATA_SLACK_API_URL") or "https://slack.com/api/"
