"""15m, 1h and 4h bars built from the stored 5m bars instead of fetched, and the conformance probe that
decides, per asset class and timeframe, whether the vendor's own bars are built the same way."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.rules.derive import BASE_TIMEFRAME, DERIVABLE, bar_differences, derive_bars
from marketdata_pipeline.rules.market_calendar import local_date, local_midnight, session_for, sessions_between
from marketdata_pipeline.storage.bar_reader import read_partitions
from marketdata_pipeline.storage.bars import last_bar_times
from marketdata_pipeline.storage.derivation import Probe, latest_probes, probe_lock, save_probe
from marketdata_pipeline.storage.io_manager import PartitionBars
from marketdata_pipeline.symbols import asset_class

DERIVED_SOURCE = f"derived:{BASE_TIMEFRAME}"
PROBE_EVERY = timedelta(days=7)
PROBE_SESSIONS = 3  # complete sessions compared per probe: long enough to cover every bucket of a day


def complete_by(symbol: str, newest_base_bar: datetime, clock: datetime) -> datetime:
    """Until when the stored 5m bars are complete: the end of the newest one, or, for stocks, the end of its
    session once the clock has passed it (no bar comes after the extended-hours close). A derived bar is
    built only when its window ended by then, as the vendor serves only complete bars; a later run re-derives
    what was left out (its window re-reads the last sessions)."""
    horizon = newest_base_bar + timedelta(minutes=5)
    session = session_for(symbol, local_date(symbol, newest_base_bar))
    if asset_class(symbol) == "stocks" and session is not None and clock >= session.close:
        return max(horizon, session.close)
    return horizon


def stored_base_bars(url: str, symbol: str, since: datetime) -> pd.DataFrame:
    bars = read_partitions(url, [(symbol, BASE_TIMEFRAME)], since=[since]).drop(columns=["symbol", "timeframe"])
    return bars.reset_index(drop=True)


def derived_partition(
    symbol: str, timeframe: str, base: pd.DataFrame, window: tuple[datetime, datetime], base_fetched: datetime,
    clock: datetime,
) -> PartitionBars:
    """The partition's bars in `window` built from `base` (the stored 5m bars from window[0] on). Stored
    derived bars in the window that `base` no longer supports are deleted by the write, as the vendor's
    deletions are: a revised or dropped 5m bar re-derives the bars that contain it."""
    bars = base[base["time"] >= window[0]]
    if not bars.empty:
        bars = derive_bars(bars, symbol, timeframe, complete_by(symbol, bars["time"].iloc[-1], clock))
    return PartitionBars(symbol, timeframe, window, base_fetched, bars, source=DERIVED_SOURCE)


class Conformance:
    """Which (asset class, timeframe) pairs may be derived in this run. A pair nobody has probed yet, or
    whose probe is older than PROBE_EVERY, is probed on first use, with the 5m bars just stored."""

    def __init__(self, url: str, client: PolygonClient, log: Any):
        self.url, self.client, self.log = url, client, log
        self.verdicts = {key: probe for key, probe in latest_probes(url).items() if not probe_due(probe)}

    def allows(self, symbol: str, timeframe: str) -> bool | None:
        """True/False once probed; None while the pair still needs a probe."""
        probe = self.verdicts.get((asset_class(symbol), timeframe))
        return None if probe is None else probe.agrees

    def probe(self, symbol: str) -> None:
        """Probe every derivable timeframe of `symbol`'s asset class with its stored 5m bars, unless a run
        that held the lock first did it already."""
        cls = asset_class(symbol)
        with probe_lock(self.url, cls):
            fresh = {k: p for k, p in latest_probes(self.url).items() if k[0] == cls and not probe_due(p)}
            if len(fresh) < len(DERIVABLE):
                fresh = {(cls, p.timeframe): p for p in self._run(symbol)}
        self.verdicts.update(fresh)

    def _run(self, symbol: str) -> list[Probe]:
        window = _probe_window(self.url, symbol)
        if window is None:
            self.log.warning(f"conformance probe: {symbol} has too few stored 5m sessions; fetching natively for now")
            return []
        start, end = window
        base = stored_base_bars(self.url, symbol, start)
        base = base[base["time"] < end]
        with ThreadPoolExecutor(len(DERIVABLE), thread_name_prefix="probe") as pool:
            natives = pool.map(
                lambda tf: self.client.aggs.range(symbol, tf, start, end - timedelta(minutes=1), adjusted=False), DERIVABLE
            )
        probes = []
        for tf, native in zip(DERIVABLE, natives, strict=True):
            native = native[native["time"] < end].reset_index(drop=True)
            derived = derive_bars(base, symbol, tf, end)
            differences = bar_differences(derived, native)
            probe = Probe(
                asset_class(symbol), tf, not differences, datetime.now(UTC), symbol, start, end,
                bars_compared=len(native), differences=len(differences), detail="; ".join(differences[:5]),
            )
            if differences:
                self.log.warning(
                    f"conformance probe: {probe.asset_class} {tf} bars derived from 5m differ from the vendor's "
                    f"({symbol}, {start:%Y-%m-%d}..{end:%Y-%m-%d}): {probe.detail}; fetching {tf} natively"
                )
            else:
                self.log.info(f"conformance probe: {probe.asset_class} {tf} derived = native on {len(native)} bars")
            save_probe(self.url, probe)
            probes.append(probe)
        return probes


def probe_due(probe: Probe) -> bool:
    """A probe older than PROBE_EVERY is repeated: the vendor may change how it builds bars."""
    return probe.probed_at < datetime.now(UTC) - PROBE_EVERY


def _probe_window(url: str, symbol: str) -> tuple[datetime, datetime] | None:
    """The last PROBE_SESSIONS sessions before the one holding the newest stored 5m bar: complete for sure."""
    newest = last_bar_times(url, [(symbol, BASE_TIMEFRAME)]).get((symbol, BASE_TIMEFRAME))
    if newest is None:
        return None
    last_day = local_date(symbol, newest)
    sessions = sessions_between(symbol, last_day - timedelta(days=30), last_day - timedelta(days=1))[-PROBE_SESSIONS:]
    if len(sessions) < PROBE_SESSIONS:
        return None
    return sessions[0].midnight, local_midnight(symbol, last_day)
