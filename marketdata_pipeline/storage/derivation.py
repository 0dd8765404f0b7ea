"""What deriving intraday bars from 5m bars needs from the database: the conformance probes' verdicts, a
probe lock per asset class, fetch turns so concurrent runs fetch a symbol's 5m bars once, and the bars
already stored from another source."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
import sqlalchemy as sa

from marketdata_pipeline.storage.database import advisory_lock_key, conninfo, engine_for
from marketdata_pipeline.storage.schema import derivation_probes


@dataclass(frozen=True)
class Probe:
    """One conformance probe: bars derived from 5m bars against the vendor's native bars of `timeframe`."""

    asset_class: str
    timeframe: str
    agrees: bool
    probed_at: datetime
    symbol: str
    window_start: datetime
    window_end: datetime
    bars_compared: int
    differences: int
    detail: str


def latest_probes(url: str) -> dict[tuple[str, str], Probe]:
    """The newest probe per (asset class, timeframe)."""
    with engine_for(url).connect() as conn:
        rows = conn.execute(sa.select(derivation_probes)).mappings().all()
    return {(row["asset_class"], row["timeframe"]): Probe(**row) for row in rows}


def save_probe(url: str, probe: Probe) -> None:
    values = vars(probe)
    statement = sa.dialects.postgresql.insert(derivation_probes).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["asset_class", "timeframe"],
        set_={k: statement.excluded[k] for k in values if k not in ("asset_class", "timeframe")},
    )
    with engine_for(url).begin() as conn:
        conn.execute(statement)


class SessionLock:
    """A session-level advisory lock on a connection of its own: unlike a transaction's, it can be taken in
    one thread and released in another (a fetch thread takes it, the writer releases it after the write)."""

    def __init__(self, url: str, *key: str):
        self._conn = psycopg.connect(conninfo(url), autocommit=True)
        self._key = advisory_lock_key(*key)
        self._conn.execute("select pg_advisory_lock(%s)", (self._key,))

    def fetched_since(self, symbol: str, timeframe: str, moment: datetime) -> bool:
        """Whether a fetch of the partition that began at or after `moment` has been written."""
        row = self._conn.execute(
            "select fetch_started >= %s from partition_writes where symbol = %s and timeframe = %s",
            (moment, symbol, timeframe),
        ).fetchone()
        return bool(row and row[0])

    def release(self) -> None:
        if not self._conn.closed:
            self._conn.close()  # closing the session releases its advisory locks


def fetch_turn(url: str, symbol: str, timeframe: str) -> SessionLock:
    """Wait for the turn to fetch the partition: one process at a time, so a run can see that another
    brought it up to date meanwhile (SessionLock.fetched_since) and skip the fetch."""
    return SessionLock(url, "fetch", symbol, timeframe)


@contextmanager
def probe_lock(url: str, asset_class: str) -> Iterator[None]:
    """One probe per asset class at a time: the runs that wait find the verdict when they get the lock."""
    lock = SessionLock(url, "probe", asset_class)
    try:
        yield
    finally:
        lock.release()


def oldest_bars_from(url: str, keys: Iterable[tuple[str, str]], source: str) -> dict[tuple[str, str], datetime]:
    """Per partition, the oldest stored bar whose source is `source`; partitions without such bars are absent."""
    keys = list(keys)
    if not keys:
        return {}
    query = sa.text(
        "select m.symbol, m.timeframe, min(m.time) from market_data m "
        "join unnest(cast(:symbols as text[]), cast(:timeframes as text[])) as k(symbol, timeframe) "
        "on m.symbol = k.symbol and m.timeframe = k.timeframe where m.source = :source group by 1, 2"
    )
    params = {"symbols": [k[0] for k in keys], "timeframes": [k[1] for k in keys], "source": source}
    with engine_for(url).connect() as conn:
        return {(s, tf): oldest for s, tf, oldest in conn.execute(query, params)}
