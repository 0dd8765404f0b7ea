"""The request budget protocol: how many requests per minute every process using one API key may send together.

The client only asks a budget for permission; a shared implementation (the Postgres one in
marketdata_pipeline.storage.request_budget) is handed in by whoever builds the client."""

from __future__ import annotations

import hashlib
from typing import Protocol


class RequestBudget(Protocol):
    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds spent waiting."""

    def penalize(self, seconds: float) -> None:
        """A 429 arrived: learn the limit and make every user of the budget hold off for `seconds`."""


class NullBudget:
    """No client-side limit (paid plans); 429s are still handled by the retry policy."""

    def acquire(self) -> float:
        return 0.0

    def penalize(self, seconds: float) -> None:
        pass

    def __repr__(self) -> str:
        return "NullBudget()"


def budget_name(base_url: str, api_key: str) -> str:
    """Limits are per key and host; the name is a digest so the key never reaches the database."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return f"polygon:{digest[:24]}"
