"""Exceptions the client raises. Every message is built key-free; see redaction.py for the safety net."""

from __future__ import annotations


class PolygonError(Exception):
    """Base class for everything the Polygon client raises."""


class PolygonConfigError(PolygonError, ValueError):
    """The client was configured in a way that cannot work (e.g. no API key)."""


class PolygonAuthError(PolygonError):
    """401/403: the key is wrong, missing, or not entitled to the data. Never retried."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class PolygonRequestError(PolygonError):
    """400/404 and other non-retryable 4xx: the request itself is wrong. Never retried."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class PolygonResponseError(PolygonError):
    """A 200 whose content breaks the contract (wrong `adjusted`, error status, pagination loop)."""


class PolygonUnavailableError(PolygonError):
    """Transient failures (429, 5xx, timeouts, bad JSON) outlasted the retry budget."""


class CircuitOpenError(PolygonUnavailableError):
    """Too many consecutive failures: the client refuses to call the API until the cool-down ends."""


class TransientError(PolygonError):
    """One failed attempt worth retrying. Internal: callers see PolygonUnavailableError once retries run out."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429
