"""Keeping the API key out of reprs, exception texts and log lines."""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "***"
# Shorter values are no secret worth hiding (Polygon keys are 32 characters), and hiding them would
# corrupt ordinary words: a key "t" would turn "ticker" into "***icker".
MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_patterns: dict[str, re.Pattern[str]] = {}  # longest first, so a key containing another is replaced whole


class Secret:
    """Holds a credential; its repr and str never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        if len(value) >= MIN_SECRET_LENGTH:
            with _lock:
                if value not in _patterns:
                    _patterns[value] = _as_token(value)
                    ordered = sorted(_patterns.items(), key=lambda item: len(item[0]), reverse=True)
                    _patterns.clear()
                    _patterns.update(ordered)

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__


def _as_token(secret: str) -> re.Pattern[str]:
    # A key is a token: not part of a longer run of letters and digits (in a URL, header or message it
    # is bounded by "=", "&", " ", quotes or the end of the text).
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")


def redact(text: str) -> str:
    """Replace every key of at least MIN_SECRET_LENGTH characters any Secret in this process has held, where
    it stands as a token (a belt to the key-free-messages braces)."""
    with _lock:
        patterns = list(_patterns.values())
    for pattern in patterns:
        text = pattern.sub(REDACTED, text)
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


def install_log_redaction() -> None:
    """Add the redacting filter to the request loggers (idempotent). Called when a client is built, not at
    import: importing a module of this package must not change the process's logging."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
