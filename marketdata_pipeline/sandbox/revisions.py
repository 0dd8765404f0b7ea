"""Vendor corrections the sandbox can be told to serve: revised prices and deleted minutes.

They are applied to a day's minute bars before any roll-up, so every timeframe agrees with every other: a 1d
bar containing a dropped minute changes, and a bar all of whose minutes are dropped disappears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

_PRICES = ("o", "h", "l", "c", "vw")


def instant_ms(value, name: str) -> int:
    """An ISO instant (or aware datetime) in Unix ms; raises ValueError without a UTC offset."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"{name} must carry a UTC offset, e.g. 2024-06-05T16:00:00+00:00")
    return int(moment.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@dataclass(frozen=True)
class Revision:
    """Every minute of `ticker` in [start, end) has its prices multiplied by `price_factor`."""

    ticker: str
    start_ms: int
    end_ms: int
    price_factor: float

    def as_json(self) -> dict:
        return {"ticker": self.ticker, "start": _iso(self.start_ms), "end": _iso(self.end_ms),
                "price_factor": self.price_factor}


@dataclass(frozen=True)
class Drop:
    """Every minute of `ticker` in [start, end) no longer exists."""

    ticker: str
    start_ms: int
    end_ms: int

    def as_json(self) -> dict:
        return {"ticker": self.ticker, "start": _iso(self.start_ms), "end": _iso(self.end_ms)}


def _span(item: dict, kind: str) -> tuple[str, int, int]:
    if not isinstance(item, dict) or not isinstance(item.get("ticker"), str):
        raise ValueError(f"each of {kind} must be an object with ticker, start and end")
    start, end = instant_ms(item.get("start"), f"{kind}.start"), instant_ms(item.get("end"), f"{kind}.end")
    if end <= start:
        raise ValueError(f"{kind}: end must be after start")
    return item["ticker"], start, end


def parse_revisions(value) -> tuple[Revision, ...]:
    out = []
    for item in value or ():
        ticker, start, end = _span(item, "revisions")
        factor = float(item.get("price_factor", "nan"))
        if not factor > 0:
            raise ValueError("revisions: price_factor must be a positive number")
        out.append(Revision(ticker, start, end, factor))
    return tuple(out)


def parse_drops(value) -> tuple[Drop, ...]:
    return tuple(Drop(*_span(item, "drops")) for item in value or ())


@dataclass(frozen=True)
class Edits:
    revisions: tuple[Revision, ...] = ()
    drops: tuple[Drop, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.revisions or self.drops)

    def within(self, ticker: str, start_ms: int, end_ms: int) -> Edits:
        """Only the edits touching `ticker` in [start_ms, end_ms): a day's minutes are cached under these, so
        a config change reaches exactly the days it touches and no stale day is ever served."""
        if not self:
            return self

        def touches(e) -> bool:
            return e.ticker == ticker and e.start_ms < end_ms and e.end_ms > start_ms

        return Edits(tuple(filter(touches, self.revisions)), tuple(filter(touches, self.drops)))

    def apply(self, minutes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t = minutes["t_ms"]
        out = dict(minutes)
        for r in self.revisions:
            inside = (t >= r.start_ms) & (t < r.end_ms)
            for k in _PRICES:
                out[k] = np.where(inside, out[k] * r.price_factor, out[k])
        keep = np.ones(len(t), dtype=bool)
        for d in self.drops:
            keep &= ~((t >= d.start_ms) & (t < d.end_ms))
        return {k: v[keep] for k, v in out.items()}


NO_EDITS = Edits()
