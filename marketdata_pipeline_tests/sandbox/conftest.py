"""A sandbox server shared by the sandbox tests, reset to a known config before each test."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer

# A fixed clock so every test sees the same data no matter when it runs.
DEFAULT_NOW = datetime(2025, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def _shared_sandbox():
    with SandboxServer(SandboxConfig(now=DEFAULT_NOW)) as server:
        yield server


@pytest.fixture
def sandbox(_shared_sandbox: SandboxServer) -> SandboxServer:
    _shared_sandbox.config = SandboxConfig(now=DEFAULT_NOW)
    _shared_sandbox.clear_requests()
    return _shared_sandbox


@pytest.fixture
def client(sandbox: SandboxServer):
    with httpx.Client(base_url=sandbox.base_url, headers={"Authorization": "Bearer test-key"}, timeout=10) as c:
        yield c


def fetch_all(client: httpx.Client, url: str, params: dict | None = None) -> tuple[list[dict], list[dict]]:
    """Follow next_url to the end; returns (bars, page bodies)."""
    bars, pages = [], []
    while url:
        body = client.get(url, params=params).raise_for_status().json()
        pages.append(body)
        bars.extend(body.get("results", []))
        url, params = body.get("next_url"), None
    return bars, pages


def frame_records(frame) -> list[dict]:
    """aggregate.bars() rows keyed like the JSON bars."""
    return [
        {"v": r.v, "vw": r.vw, "o": r.o, "c": r.c, "h": r.h, "l": r.l, "t": int(r.t_ms), "n": int(r.n)}
        for r in frame.itertuples()
    ]
