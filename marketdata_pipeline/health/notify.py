"""Alert channels: a structured log line always, a JSON webhook and Slack when configured."""

from __future__ import annotations

import json
import logging

import httpx

from marketdata_pipeline.health import config
from marketdata_pipeline.settings import Settings

_TIMEOUT = httpx.Timeout(10.0)


def send(payload: dict, log: logging.Logger | logging.LoggerAdapter, settings: Settings | None = None) -> None:
    """Deliver one alert everywhere configured. A failing channel is logged, never raised: the log line
    already carries the alert, and raising would make the sensor re-send everything next tick."""
    settings = settings or Settings.from_env()
    log.info(json.dumps({"event": "marketdata_alert", **payload}, sort_keys=True))
    if settings.alert_webhook_url:
        try:
            httpx.post(settings.alert_webhook_url, json=payload, timeout=_TIMEOUT).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning(f"alert webhook failed: {exc}")
    slack = config.slack()
    if slack:
        from dagster_slack import SlackResource

        token, channel = slack
        try:
            SlackResource(token=token).get_client().chat_postMessage(channel=channel, text=_slack_text(payload))
        except Exception as exc:  # slack_sdk raises its own error types for API and network failures
            log.warning(f"alert to Slack failed: {exc}")


def _slack_text(p: dict) -> str:
    checks = f", failing checks: {', '.join(p['failing_checks'])}" if p["failing_checks"] else ""
    verb = "recovered" if p["event"] == "recovered" else "is unhealthy"
    return (
        f"{p['symbol']} {p['timeframe']} {verb}: {p['state']} (was {p['previous_state'] or 'not seen before'}){checks}. "
        f"Last bar {p['last_bar'] or 'none'}, expected {p['expected_last_bar']}. <{p['url']}|Open in Dagster>"
    )
