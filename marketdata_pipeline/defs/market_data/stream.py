"""A run's work on market_data, in order, handed to the IO manager as it goes: grouped daily bars first, then
every range fetch concurrently; each symbol's derived partitions right after its 5m bars are written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd

from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.defs.market_data.derived import (
    DERIVED_SOURCE,
    Conformance,
    derived_partition,
    stored_base_bars,
)
from marketdata_pipeline.defs.market_data.fetch import (
    Failures,
    PartitionRequest,
    PartitionResult,
    fetch_concurrently,
    partition_bars,
    usage,
)
from marketdata_pipeline.defs.market_data.grouped import fetch_grouped
from marketdata_pipeline.rules.derive import BASE_TIMEFRAME
from marketdata_pipeline.storage.derivation import SessionLock, fetch_turn, oldest_bars_from
from marketdata_pipeline.storage.io_manager import PartitionBars


@dataclass
class RunWork:
    """What a run does, by method. `base` holds the 5m requests of the symbols with 5m or derived partitions."""

    ranges: list[PartitionRequest] = field(default_factory=list)
    base: dict[str, PartitionRequest] = field(default_factory=dict)
    derived: dict[str, list[PartitionRequest]] = field(default_factory=dict)
    grouped: dict[str, tuple[list[PartitionRequest], list]] = field(default_factory=dict)  # market -> (requests, days)

    @property
    def partitions(self) -> int:
        return (
            len(self.ranges) + len(self.base) + sum(map(len, self.derived.values()))
            + sum(len(reqs) for reqs, _ in self.grouped.values())
        )


class BarStream:
    """What market_data returns: iterating it does the run's work and yields each partition's bars to the IO
    manager. After the last one it fills `metadata` (the API usage) and, if any partition failed, raises one
    dg.Failure naming them: by then every other partition has been written."""

    def __init__(self, client: PolygonClient, url: str, work: RunWork, created: datetime, clock: datetime, log: Any,
                 plan: dict[str, Any] | None = None):
        self.client, self.url, self.work, self.log = client, url, work, log
        self.created = created  # the run's creation: a 5m fetch begun since then by any run is fresh enough
        self.clock = clock
        self.metadata: dict[str, Any] = dict(plan or {})
        self._failures = Failures(log)
        self._empty: list[str] = []
        self._fallbacks: list[PartitionRequest] = []
        self._conformance: Conformance | None = None

    def __iter__(self) -> Iterator[PartitionBars]:
        before = self.client.stats.snapshot()
        for market, (requests, days) in self.work.grouped.items():
            yield from self._grouped(market, requests, days)
        requests = [*self.work.ranges, *self.work.base.values()]
        for result in fetch_concurrently(self.client, requests, take_turn=self._take_turn):
            try:
                yield from self._written(result)
            finally:
                if result.turn is not None:
                    result.turn.release()  # after the write (or its failure): a run waiting for the turn goes on
            if result.request.timeframe == BASE_TIMEFRAME and result.request.symbol in self.work.derived:
                yield from self._derive(result)
        for result in fetch_concurrently(self.client, self._fallbacks):
            yield from self._written(result)
        if self._empty:
            self.log.info(f"nothing new for {', '.join(self._empty)}")
        self.metadata.update(
            partitions=self.work.partitions, partitions_without_data=len(self._empty),
            **usage(before, self.client.stats.snapshot()),
        )
        self._failures.raise_if_any(self.work.partitions)

    def _take_turn(self, req: PartitionRequest) -> tuple[SessionLock, bool] | None:
        if req.timeframe != BASE_TIMEFRAME:
            return None
        turn = fetch_turn(self.url, req.symbol, req.timeframe)
        return turn, turn.fetched_since(req.symbol, req.timeframe, self.created)

    def _written(self, result: PartitionResult) -> Iterator[PartitionBars]:
        req = result.request
        if result.error is not None:
            self._failures.add(req.key, result.error)
        elif result.fetched_elsewhere:
            self.log.info(f"{req.key}: brought up to date by another run since this one was created")
        elif self._failures.check(req, result.bars):
            assert result.bars is not None
            if result.bars.empty:
                self._empty.append(req.key)
            if not result.bars.empty or result.turn is not None:
                yield partition_bars(result)  # an empty 5m answer is written too: it records the fetch

    def _grouped(self, market: str, requests: list[PartitionRequest], days: list) -> Iterator[PartitionBars]:
        self.log.info(f"{len(requests)} {market} daily partitions from grouped daily: {len(days)} sessions")
        try:
            parts = list(fetch_grouped(self.client, market, requests, days))
        except Exception as exc:
            for req in requests:
                self._failures.add(req.key, exc)
            return
        got = {part.symbol for part in parts}
        self._empty += [req.key for req in requests if req.symbol not in got]
        yield from parts

    def _derive(self, base: PartitionResult) -> Iterator[PartitionBars]:
        symbol = base.request.symbol
        requests = self.work.derived[symbol]
        if base.error is not None:
            for req in requests:
                self._failures.add(req.key, RuntimeError(f"its 5m bars could not be fetched: {base.error}"))
            return
        conformance = self._conformance or Conformance(self.url, self.client, self.log)
        self._conformance = conformance
        if any(conformance.allows(symbol, req.timeframe) is None for req in requests):
            try:
                conformance.probe(symbol)
            except Exception as exc:  # no verdict: this run fetches them natively, a later run probes again
                self.log.warning(f"conformance probe with {symbol} failed: {exc}")
        allowed = [req for req in requests if conformance.allows(symbol, req.timeframe)]
        self._fall_back([req for req in requests if req not in allowed])
        if not allowed:
            return
        since = min(min(req.start for req in allowed), base.request.start)
        bars = self._base_bars(base, since)
        for req in allowed:
            # The 5m bars fetched here may have been revised from their window's start on.
            start = min(req.start, base.request.start) if not base.fetched_elsewhere else req.start
            yield derived_partition(symbol, req.timeframe, bars, (start, req.end), base.started, self.clock)

    def _base_bars(self, base: PartitionResult, since: datetime) -> pd.DataFrame:
        """The stored 5m bars from `since` on. A non-empty answer just written replaced everything stored from
        its window's start on (storage.bars.upsert_bars), so when it covers `since` it is what is stored and
        need not be read back; otherwise (an empty answer, another run's fetch) they are read."""
        fetched = base.bars
        if fetched is not None and not fetched.empty and since >= base.request.start:
            return fetched[fetched["time"] >= since].reset_index(drop=True)
        return stored_base_bars(self.url, base.request.symbol, since)

    def _fall_back(self, requests: list[PartitionRequest]) -> None:
        """Fetch natively what may not be derived, from the oldest derived bar on so every one is replaced."""
        if not requests:
            return
        oldest = oldest_bars_from(self.url, [(r.symbol, r.timeframe) for r in requests], DERIVED_SOURCE)
        for req in requests:
            start = min(req.start, oldest.get((req.symbol, req.timeframe), req.start))
            self._fallbacks.append(replace(req, start=start))
