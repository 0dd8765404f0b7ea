"""Keeping the API key out of reprs, exception texts and log lines."""

from __future__ import annotations

import logging
import threading

REDACTED = "***"

_lock = threading.Lock()
_secrets: set[str] = set()


class Secret:
    """Holds a credential; its repr and str never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        if value:
            with _lock:
                _secrets.add(value)

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


def redact(text: str) -> str:
    """Replace every key any Secret in this process has held (a belt to the key-free-messages braces)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


# A logger's filters only see records created on that very logger, not its children, so each
# logger that handles requests (ours, httpx's and httpcore's) gets the filter by name.
REQUEST_LOGGERS = ("marketdata_pipeline.client", "httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")
_filter = RedactingFilter()
for _name in REQUEST_LOGGERS:
    logging.getLogger(_name).addFilter(_filter)
