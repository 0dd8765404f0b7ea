"""The official `massive` client, pointed at the sandbox, pages through a range and gets exactly its bars."""

from __future__ import annotations

import logging
from datetime import date

import httpx
from massive import RESTClient

from marketdata_pipeline.sandbox import aggregate
from marketdata_pipeline.sandbox.requestlog import key_id

KEY = "conformance-key-7Hq2"


def test_official_client_pages_through_a_multi_page_range(sandbox):
    client = RESTClient(api_key=KEY, base=sandbox.base_url, retries=0)
    got = list(client.list_aggs("MSFT", 5, "minute", "2024-03-04", "2024-03-08", limit=1000))
    expected = aggregate.bars("MSFT", 5, "minute", date(2024, 3, 4), date(2024, 3, 8), adjusted=True)

    assert len([r for r in sandbox.requests if r.path.startswith("/v2/aggs/ticker/MSFT/")]) >= 3
    assert [(a.timestamp, a.open, a.high, a.low, a.close, a.volume, a.vwap, a.transactions) for a in got] == [
        (int(r.t_ms), r.o, r.h, r.l, r.c, r.v, r.vw, int(r.n)) for r in expected.itertuples()
    ]
    assert {r.key_id for r in sandbox.requests} == {key_id(KEY)}  # the header's key reached the sandbox


def test_the_sandbox_never_records_or_logs_the_key(sandbox, caplog):
    caplog.set_level(logging.DEBUG)  # everything the sandbox's loggers emit, at their configured levels
    # Older clients send the key as ?apiKey=; the request log served to tests and tools must not hold it.
    response = httpx.get(f"{sandbox.base_url}/v2/aggs/ticker/AAPL/range/1/day/2024-03-04/2024-03-08",
                         params={"apiKey": KEY, "limit": 10})
    assert response.status_code == 200
    RESTClient(api_key=KEY, base=sandbox.base_url, retries=0).get_aggs("AAPL", 1, "day", "2024-03-04", "2024-03-08")
    recorded = httpx.get(f"{sandbox.base_url}/_sandbox/requests").text
    assert recorded.count(key_id(KEY)) == 2 and "limit=10" in recorded  # both requests recorded, the query kept
    assert KEY not in recorded
    # (This test's own httpx logs its URL: only the sandbox's loggers are the sandbox's business.)
    sandbox_lines = [r.getMessage() for r in caplog.records if r.name.startswith(("uvicorn", "marketdata_pipeline.sandbox"))]
    assert not [line for line in sandbox_lines if KEY in line]
