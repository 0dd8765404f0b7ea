"""Fetching many partitions' bars concurrently, handed over lazily so writing overlaps fetching, and what a
failed fetch means for the step (the error policy)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.client import PolygonAuthError, PolygonClient, PolygonConfigError, PolygonRequestError
from marketdata_pipeline.storage.io_manager import PartitionBars


class NoBarsError(Exception):
    """A partition's first fetch covered closed sessions and the vendor had no bar in any of them: Polygon
    answers a ticker it does not know with an empty 200, so this is how an unknown ticker shows."""


# Bad requests, bad keys and unknown tickers will not heal by retrying; outages and throttling may.
PERMANENT_ERRORS = (PolygonAuthError, PolygonConfigError, PolygonRequestError, NoBarsError)


@dataclass(frozen=True)
class PartitionRequest:
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    # Nothing stored yet and the window holds closed sessions: an empty answer means the ticker is unknown.
    expects_bars: bool = False

    @property
    def key(self) -> str:
        return partition_key(self.symbol, self.timeframe)


@dataclass
class PartitionResult:
    request: PartitionRequest
    started: datetime  # when the fetch began: a write never lets an older fetch overwrite a newer one
    bars: pd.DataFrame | None = None
    error: Exception | None = None


def fetch_concurrently(
    client: PolygonClient, requests: list[PartitionRequest], max_workers: int = 8
) -> Iterator[PartitionResult]:
    """Each requested partition's result as it completes, a few at a time: in-flight work is bounded so
    memory stays flat however many partitions a run covers."""

    def fetch(req: PartitionRequest) -> PartitionResult:
        started = datetime.now(UTC)
        try:
            bars = client.aggs.range(req.symbol, req.timeframe, req.start, req.end, adjusted=False)
            return PartitionResult(req, started, bars=bars)
        except Exception as exc:  # reported per partition; BarStream decides the step's fate
            return PartitionResult(req, started, error=exc)

    pending = iter(requests)
    in_flight: set[Future[PartitionResult]] = set()
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="polygon") as pool:
        while True:
            while len(in_flight) < 2 * max_workers:
                req = next(pending, None)
                if req is None:
                    break
                in_flight.add(pool.submit(fetch, req))
            if not in_flight:
                return
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


class BarStream:
    """What market_data returns: iterating it fetches every requested partition and yields the ones with
    bars to the IO manager. After the last one it fills `metadata` (the API usage) and, if any partition
    failed, raises one dg.Failure naming them: by then every other partition has been written."""

    def __init__(self, client: PolygonClient, requests: list[PartitionRequest], log: Any):
        self.client = client
        self.requests = requests
        self.log = log
        self.metadata: dict[str, Any] = {}

    def __iter__(self) -> Iterator[PartitionBars]:
        before = self.client.stats.snapshot()
        empty: list[str] = []
        failures: list[tuple[str, Exception]] = []
        for result in fetch_concurrently(self.client, self.requests):
            req = result.request
            if result.error is not None:
                self.log.error(f"{req.key}: {result.error}")
                failures.append((req.key, result.error))
            elif (result.bars is None or result.bars.empty) and req.expects_bars:
                error = NoBarsError(
                    f"Polygon has no bars for {req.symbol} since {req.start.date()}: an unknown, delisted or "
                    f"misspelled ticker? (`marketdata symbols remove {req.symbol}` drops it)"
                )
                self.log.error(f"{req.key}: {error}")
                failures.append((req.key, error))
            elif result.bars is None or result.bars.empty:
                empty.append(req.key)
            else:
                yield PartitionBars(req.symbol, req.timeframe, (req.start, req.end), result.started, result.bars)
        if empty:
            self.log.info(f"nothing new for {', '.join(empty)}")
        self.metadata = {
            "partitions": len(self.requests),
            "partitions_without_data": len(empty),
            **usage(before, self.client.stats.snapshot()),
        }
        if failures:
            raise failure(failures, len(self.requests))


def usage(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The client's work between two stats snapshots, as materialization metadata."""
    return {
        "requests": after["requests"] - before["requests"],
        "pages": after["pages"] - before["pages"],
        "rate_limited_429s": after["rate_limited"] - before["rate_limited"],
        "retries": after["retries"] - before["retries"],
        "api_seconds": round(after["http_s"] - before["http_s"], 3),
        "budget_wait_seconds": round(after["budget_wait_s"] - before["budget_wait_s"], 3),
    }


def failure(failures: list[tuple[str, Exception]], total: int) -> dg.Failure:
    summary = "; ".join(f"{key}: {err}" for key, err in failures[:10])
    retryable = not any(isinstance(err, PERMANENT_ERRORS) for _, err in failures)
    others = total - len(failures)
    written = f"the other {others} were written" if others else "nothing was written"
    return dg.Failure(
        description=f"{len(failures)} of {total} partitions failed ({written}): {summary}", allow_retries=retryable
    )
