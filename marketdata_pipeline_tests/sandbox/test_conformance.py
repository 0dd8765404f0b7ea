"""The official `massive` client, pointed at the sandbox, pages through a range and gets exactly its bars."""

from __future__ import annotations

from datetime import date

from massive import RESTClient

from marketdata_pipeline.sandbox import aggregate


def test_official_client_pages_through_a_multi_page_range(sandbox):
    client = RESTClient(api_key="conformance-key", base=sandbox.base_url, retries=0)
    got = list(client.list_aggs("MSFT", 5, "minute", "2024-03-04", "2024-03-08", limit=1000))
    expected = aggregate.bars("MSFT", 5, "minute", date(2024, 3, 4), date(2024, 3, 8), adjusted=True)

    assert len([r for r in sandbox.requests if r.path.startswith("/v2/aggs/ticker/MSFT/")]) >= 3
    assert [(a.timestamp, a.open, a.high, a.low, a.close, a.volume, a.vwap, a.transactions) for a in got] == [
        (int(r.t_ms), r.o, r.h, r.l, r.c, r.v, r.vw, int(r.n)) for r in expected.itertuples()
    ]
    assert all(r.key_id and "conformance-key" not in r.query for r in sandbox.requests)
