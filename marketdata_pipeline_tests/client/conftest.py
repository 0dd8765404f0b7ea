"""Helpers for client tests: a fake Polygon over httpx.MockTransport, and the shared fixtures folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from marketdata_pipeline.client import PolygonClient, RetryPolicy

KEY = "pk_test_Zq8sL2vN4mR7xT1c"  # distinctive, so a leak is easy to find in any text
# Real Polygon/Massive response bodies (official clients' test data, the OpenAPI spec's examples, and
# error bodies from public reports), kept with the tests; index.json says where each one comes from.
FIXTURES = Path(__file__).resolve().parent / "polygon_fixtures"
FAST_RETRY = RetryPolicy(max_retries=4, max_retry_seconds=10, backoff_base_s=0.01, backoff_cap_s=0.05, rate_limit_cap_s=0.05)


@pytest.fixture
def fixtures_dir() -> Path:
    if not (FIXTURES / "index.json").is_file():
        pytest.fail(f"Polygon fixtures missing: expected {FIXTURES}/index.json")
    return FIXTURES


def json_response(status: int, body: dict, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"content-type": "application/json", **headers})


def bar(t: int, price: float = 10.0, **extra) -> dict:
    return {"t": t, "o": price, "h": price + 1, "l": price - 1, "c": price + 0.5, "v": 100.0, "vw": price, "n": 5, **extra}


def page(results: list[dict] | None, *, next_url: str | None = None, adjusted: bool = False, status: str = "OK") -> dict:
    body = {"ticker": "AAPL", "adjusted": adjusted, "status": status, "queryCount": 1, "request_id": "r"}
    body["resultsCount"] = len(results or [])
    if results is not None:
        body["results"] = results
    if next_url:
        body["next_url"] = next_url
    return body


class FakePolygon:
    """Replays queued responses and records every request it saw."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.queue = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.queue:
            raise AssertionError(f"unexpected request {request.url}")
        response = self.queue.pop(0) if len(self.queue) > 1 else self.queue[0]
        if callable(response):
            return response(request)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)  # a fresh copy per request


@pytest.fixture
def fake_client():
    clients = []

    def make(fake: FakePolygon, **kwargs) -> PolygonClient:
        kwargs.setdefault("retry", FAST_RETRY)
        client = PolygonClient(KEY, "https://api.test", http_transport=httpx.MockTransport(fake), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
