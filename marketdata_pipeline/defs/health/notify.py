"""Alert channels: a structured log line always, a JSON webhook and Slack when configured.

Webhook URLs and Slack tokens are credentials (the URL usually carries the token), so a failure is
reported by host, status code and error type only: exception texts name the URL and are never logged.
The webhook is posted with the standard library because httpx logs every request's full URL.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from marketdata_pipeline.defs.resources import AlertChannels

_TIMEOUT_S = 10.0
REDACTED = "***"


def send(payload: dict, text: str, log: logging.Logger | logging.LoggerAdapter, channels: AlertChannels) -> None:
    """Deliver one alert everywhere configured: `payload` as JSON to the log and the webhook, `text` to
    Slack. A failing channel is logged, never raised: the log line already carries the alert."""
    log.info(json.dumps({"event": "marketdata_alert", **payload}, sort_keys=True))
    if channels.webhook_url:
        _post_webhook(channels.webhook_url, payload, log)
    if channels.slack is not None and channels.slack_channel:
        _post_slack(channels, text, log)


def without_secrets(text: str, channels: AlertChannels) -> str:
    """`text` with the configured credentials masked, for messages composed from other components' errors."""
    for secret in sorted(channels.secrets(), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _post_webhook(url: str, payload: dict, log: logging.Logger | logging.LoggerAdapter) -> None:
    host = urlsplit(url).hostname or "an unparsable URL"
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S):
            pass
    except urllib.error.HTTPError as exc:
        log.warning(f"alert webhook at {host} answered HTTP {exc.code}")
    except Exception as exc:  # refused, DNS, timeout, malformed URL: the type says which
        log.warning(f"alert webhook at {host} failed: {type(exc).__name__}")


def _post_slack(channels: AlertChannels, text: str, log: logging.Logger | logging.LoggerAdapter) -> None:
    from slack_sdk.errors import SlackApiError

    assert channels.slack is not None
    client = channels.slack.get_client()
    # SlackResource builds a client for slack.com; a Slack-compatible endpoint (a local receiver) is set here.
    client.base_url, client.timeout = channels.slack_api_url, int(_TIMEOUT_S)
    try:
        client.chat_postMessage(channel=channels.slack_channel, text=text)
    except SlackApiError as exc:
        log.warning(f"alert to Slack failed: HTTP {exc.response.status_code}, {exc.response.get('error')}")
    except Exception as exc:  # network errors carry the API URL and request in their text
        log.warning(f"alert to Slack failed: {type(exc).__name__}")
