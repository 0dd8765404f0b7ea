"""The original service's design, re-implemented as the baseline: one request at a time, fixed sleeps
between groups and long backoffs on 429, rows written with pandas `to_sql`."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.bars import MAX_PAGE_LIMIT
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.timeframes import timeframe

STAGGER_S = 1.0  # the original's pause between symbols, "to stay under the limit"
BACKOFF_S = (10, 20, 40, 60)  # its "longer backoffs" on 429
TABLE = "market_data_naive"


def _create_table(url: str) -> None:
    with engine_for(url).begin() as conn:
        conn.execute(sa.text(f"drop table if exists {TABLE}"))
        conn.execute(sa.text(f"create table {TABLE} (like market_data including all)"))


def _fetch(http: httpx.Client, symbol: str, tf: str, start: datetime, end: datetime, counts: dict) -> list[dict]:
    spec = timeframe(tf)
    url = (f"/v2/aggs/ticker/{symbol}/range/{spec.multiplier}/{spec.timespan}/"
           f"{int(start.timestamp() * 1000)}/{int(end.timestamp() * 1000)}")
    params: dict | None = {"adjusted": "false", "limit": MAX_PAGE_LIMIT}
    rows: list[dict] = []
    while url:
        for backoff in (*BACKOFF_S, None):
            started = time.monotonic()
            response = http.get(url, params=params)
            counts["api_s"] += time.monotonic() - started
            counts["requests"] += 1
            if response.status_code != 429:
                break
            counts["rate_limited_429s"] += 1
            if backoff is None:
                response.raise_for_status()
            time.sleep(backoff)
        response.raise_for_status()
        body = response.json()
        rows.extend(body.get("results", []))
        next_url = body.get("next_url")
        url, params = (httpx.URL(next_url).raw_path.decode(), None) if next_url else (None, None)
    return rows


def run_naive(url: str, base_url: str, api_key: str, symbols: list[str], timeframes: list[str],
              start: datetime, end: datetime) -> dict:
    _create_table(url)
    counts = {"requests": 0, "rate_limited_429s": 0, "api_s": 0.0, "db_s": 0.0, "bars_written": 0}
    began = time.monotonic()
    engine = engine_for(url)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as http:
        for symbol in symbols:
            for tf in timeframes:
                results = _fetch(http, symbol, tf, start, end, counts)
                frame = pd.DataFrame(
                    {
                        "symbol": symbol,
                        "timeframe": tf,
                        "time": pd.to_datetime([r["t"] for r in results], unit="ms", utc=True),
                        "open": [r["o"] for r in results],
                        "high": [r["h"] for r in results],
                        "low": [r["l"] for r in results],
                        "close": [r["c"] for r in results],
                        "volume": [r["v"] for r in results],
                        "vwap": [r.get("vw") for r in results],
                        "trade_count": [r.get("n") for r in results],
                    }
                )
                started = time.monotonic()
                frame.to_sql(TABLE, engine, if_exists="append", index=False, chunksize=1000)
                counts["db_s"] += time.monotonic() - started
                counts["bars_written"] += len(frame)
            time.sleep(STAGGER_S)
    wall = time.monotonic() - began
    counts.update(api_s=round(counts["api_s"], 1), db_s=round(counts["db_s"], 1))
    return {"wall_s": round(wall, 1), **counts, "sleep_s": round(wall - counts["api_s"] - counts["db_s"], 1)}
