"""Fetching many partitions' bars concurrently, handed over lazily so writing overlaps fetching."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd


@dataclass(frozen=True)
class PartitionRequest:
    symbol: str
    timeframe: str
    start: datetime
    end: datetime


@dataclass
class PartitionResult:
    request: PartitionRequest
    started: datetime  # when the fetch began: a write never lets an older fetch overwrite a newer one
    bars: pd.DataFrame | None = None
    error: Exception | None = None


class BarFetch:
    """The output of a bar asset: iterating it fetches each requested partition, a few at a time.

    In-flight work is bounded so memory stays flat however many partitions a run covers.
    """

    def __init__(self, client, requests: list[PartitionRequest], max_workers: int = 8):
        self.client = client
        self.requests = requests
        self.max_workers = max_workers

    def _fetch(self, req: PartitionRequest) -> PartitionResult:
        started = datetime.now(UTC)
        try:
            bars = self.client.aggs.range(req.symbol, req.timeframe, req.start, req.end, adjusted=False)
            return PartitionResult(req, started, bars=bars)
        except Exception as exc:  # reported per partition; the IO manager decides the step's fate
            return PartitionResult(req, started, error=exc)

    def __iter__(self) -> Iterator[PartitionResult]:
        pending = iter(self.requests)
        in_flight: set[Future] = set()
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="polygon") as pool:
            while True:
                while len(in_flight) < 2 * self.max_workers:
                    req = next(pending, None)
                    if req is None:
                        break
                    in_flight.add(pool.submit(self._fetch, req))
                if not in_flight:
                    return
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
