"""Fixtures for corporate actions and the read path: the sandbox at a clock after NVDA's 2024 split, a client."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from marketdata_pipeline.client.polygon import PolygonClient
from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer

# Wednesday 2024-06-12 02:00 ET: NVDA's 10-for-1 split (executed Monday 2024-06-10) is known and traded.
AFTER_SPLIT = datetime(2024, 6, 12, 6, 0, tzinfo=UTC)
# Saturday 2024-06-08: the same split is not executed yet, so not listed.
BEFORE_SPLIT = datetime(2024, 6, 8, 6, 0, tzinfo=UTC)


@pytest.fixture
def actions_sandbox():
    with SandboxServer(SandboxConfig(now=AFTER_SPLIT)) as server:
        yield server


@pytest.fixture
def client(actions_sandbox):
    with PolygonClient("test-key", actions_sandbox.base_url) as c:
        yield c


def logged(sandbox) -> list[dict]:
    """The sandbox's request log over HTTP, as any client would read it."""
    return httpx.get(f"{sandbox.base_url}/_sandbox/requests").raise_for_status().json()["requests"]


def configure(sandbox, **changes) -> None:
    httpx.post(f"{sandbox.base_url}/_sandbox/config", json=changes).raise_for_status()


def served(sandbox, path: str, **params) -> list[dict]:
    """Every record a reference listing serves, following next_url, read raw over HTTP."""
    out, url = [], f"{sandbox.base_url}{path}"
    query = {"apiKey": "test-key", "limit": 1000, **params}
    while url:
        body = httpx.get(url, params=query).raise_for_status().json()
        out += body.get("results", [])
        url, query = body.get("next_url"), {"apiKey": "test-key"}
    return out


@pytest.fixture(autouse=True)
def market_clock(monkeypatch):
    """Freshness is judged at the sandbox's clock, so reads of bars stored up to it are Fresh."""
    monkeypatch.setenv("MARKETDATA_NOW", AFTER_SPLIT.isoformat())
