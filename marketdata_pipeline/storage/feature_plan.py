"""Which bars bar_features must read: per partition the tail after its recorded head, or the whole history.

A partition's stored features come with a head (bar_features_state, written by storage.features): the bars
before head_time, their count and the XOR of their row hashes (storage.bar_reader.ROW_HASH, over the values
the features read), and a digest of the symbol's adjustment factors. When the database's bars before
head_time still have that count and fingerprint and the factors that digest, the head's adjusted bars are
the ones the stored features were computed from, so only the tail is read (the features then decide whether
the tail suffices: storage.features, quant.features.tail_is_exact). Otherwise (a revised bar before the head,
a new split or dividend, a state from an older schema) the whole partition is read.

The plan and the read run in one REPEATABLE READ transaction, so they see the same bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg

from marketdata_pipeline.storage.bar_reader import ROW_HASH, read_partitions_on
from marketdata_pipeline.storage.database import engine_for, raw_cursor
from marketdata_pipeline.storage.features import CHUNK_ROWS, FeatureState

_PLAN = f"""
with k as (select * from unnest(%s::text[], %s::text[]) with ordinality as k(symbol, timeframe, ord)),
f as (
    select s.symbol, md5(coalesce(string_agg(concat_ws(',', date_part('epoch', a.valid_to), a.split_factor,
           a.dividend_factor), ';' order by a.valid_to), '')) as print
    from (select distinct symbol from k) s left join adjustment_factors a on a.symbol = s.symbol
    group by s.symbol
)
select k.ord, st.bar_count, st.chunk_rows, st.digests, st.head_time, st.head_count, st.head_print,
       st.factors_print, f.print, h.n, h.x
from k join f on f.symbol = k.symbol
left join bar_features_state st on st.symbol = k.symbol and st.timeframe = k.timeframe
left join lateral (
    select count(*) as n, coalesce(bit_xor({ROW_HASH}), 0) as x from market_data m
    where m.symbol = k.symbol and m.timeframe = k.timeframe and m.time < st.head_time
) h on true
order by k.ord
"""


@dataclass(frozen=True)
class PartitionPlan:
    """since: read bars from this time on (None: the whole partition); state: the partition's stored state
    (None: none); factors_print: the symbol's adjustment digest now, for the next state."""

    since: datetime | None
    state: FeatureState | None
    factors_print: str


def plan(cursor: psycopg.Cursor[Any], keys: list[tuple[str, str]], *, full: bool = False) -> list[PartitionPlan]:
    """One plan per key (in order), from one query over all partitions. `full`: read everything regardless."""
    rows = cursor.execute(_PLAN, ([s for s, _ in keys], [tf for _, tf in keys])).fetchall()
    plans = []
    for _, *stored, factors_print, count, fingerprint in rows:
        state = FeatureState(*stored) if stored[0] is not None else None
        unchanged = (
            not full and state is not None and state.head_time is not None and state.chunk_rows == CHUNK_ROWS
            and state.head_count == count and state.head_print == fingerprint and state.factors_print == factors_print
        )
        plans.append(PartitionPlan(state.head_time if unchanged and state else None, state, factors_print))
    return plans


def read_for_features(url: str, keys: list[tuple[str, str]], adjust: str, *,
                      full: bool = False) -> tuple[pd.DataFrame, list[PartitionPlan]]:
    """The bars bar_features needs (read_partitions' frame plus row_hash: tails where the plan allows) and
    the plans, read in one snapshot."""
    keys = list(keys)
    engine = engine_for(url)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        cursor = raw_cursor(conn)
        plans = plan(cursor, keys, full=full) if keys else []
        frame = read_partitions_on(cursor, keys, adjust, [p.since for p in plans], row_hashes=True)
        conn.rollback()  # read only
    return frame, plans
