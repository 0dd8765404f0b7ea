"""Fetching many partitions' bars concurrently, handed over lazily so writing overlaps fetching, and what a
failed fetch means for the step (the error policy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from marketdata_pipeline.bars import partition_key
from marketdata_pipeline.client import PolygonAuthError, PolygonClient, PolygonConfigError, PolygonRequestError
from marketdata_pipeline.storage.derivation import SessionLock
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
    # Held from before the fetch until the bars are written (storage.derivation.fetch_turn), if taken.
    turn: SessionLock | None = field(default=None, repr=False)
    # Another run fetched the partition after this run was created: nothing to fetch.
    fetched_elsewhere: bool = False


# Takes the partition's fetch turn (blocking) and answers whether another run fetched it meanwhile.
TurnTaker = Callable[[PartitionRequest], "tuple[SessionLock, bool] | None"]


def fetch_concurrently(
    client: PolygonClient, requests: list[PartitionRequest], max_workers: int = 8, take_turn: TurnTaker | None = None
) -> Iterator[PartitionResult]:
    """Each requested partition's result as it completes, a few at a time: in-flight work is bounded so
    memory stays flat however many partitions a run covers. With `take_turn`, a partition is fetched only
    in its turn and skipped when another run brought it up to date meanwhile; the caller releases the turn."""

    def fetch(req: PartitionRequest) -> PartitionResult:
        turn = None
        try:
            if take_turn is not None and (taken := take_turn(req)) is not None:
                turn, done_elsewhere = taken
                if done_elsewhere:
                    turn.release()
                    return PartitionResult(req, datetime.now(UTC), fetched_elsewhere=True)
            started = datetime.now(UTC)
            bars = client.aggs.range(req.symbol, req.timeframe, req.start, req.end, adjusted=False)
            return PartitionResult(req, started, bars=bars, turn=turn)
        except Exception as exc:  # reported per partition; BarStream decides the step's fate
            if turn is not None:
                turn.release()
            return PartitionResult(req, datetime.now(UTC), error=exc)

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


class Failures:
    """The partitions that failed in a run, and what that means for the step."""

    def __init__(self, log: Any):
        self.log = log
        self.items: list[tuple[str, Exception]] = []

    def add(self, key: str, error: Exception) -> None:
        self.log.error(f"{key}: {error}")
        self.items.append((key, error))

    def check(self, req: PartitionRequest, bars: pd.DataFrame | None) -> bool:
        """True when the answer is usable; an empty first answer for closed sessions is an unknown ticker."""
        if (bars is None or bars.empty) and req.expects_bars:
            self.add(req.key, NoBarsError(
                f"Polygon has no bars for {req.symbol} since {req.start.date()}: an unknown, delisted or "
                f"misspelled ticker? (`marketdata symbols remove {req.symbol}` drops it)"
            ))
            return False
        return True

    def raise_if_any(self, total: int) -> None:
        if not self.items:
            return
        summary = "; ".join(f"{key}: {err}" for key, err in self.items[:10])
        retryable = not any(isinstance(err, PERMANENT_ERRORS) for _, err in self.items)
        others = total - len(self.items)
        written = f"the other {others} were written" if others else "nothing was written"
        raise dg.Failure(
            description=f"{len(self.items)} of {total} partitions failed ({written}): {summary}", allow_retries=retryable
        )


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


def partition_bars(result: PartitionResult) -> PartitionBars:
    req = result.request
    assert result.bars is not None
    return PartitionBars(req.symbol, req.timeframe, (req.start, req.end), result.started, result.bars)
