"""Adjusted bars, computed on read from the stored (unadjusted) bars and corporate actions.

Bars stay in `market_data` exactly as the vendor sent them. Views derive the adjustment from `splits` and
`dividends` at query time, so storing a new split re-adjusts the whole history without fetching a bar.

Formulas, for a bar whose session date (America/New_York for stocks) is t:

- split factor  S(t) = Π split_to / split_from  over the splits with execution_date > t
  adjust="splits": open, high, low, close, vwap ÷ S(t); volume × S(t); trade_count unchanged.
  This is what Polygon's `adjusted=true` serves (splits only, never dividends).
- dividend factor D(t) = Π (1 − cash_amount / C_prev)  over the cash dividends with ex_dividend_date > t,
  where C_prev is the unadjusted close of the last stored 1d bar before the ex-date (both in the currency
  units of that day, so a split in between does not distort the ratio). A dividend without a stored
  prior 1d close, or with cash_amount >= C_prev, contributes 1.
  adjust="all" (total return): prices × D(t) ÷ S(t); volume × S(t). Percentage changes of the adjusted
  close are then total returns (price move plus the dividend reinvested at the ex-date's prior close).

Views (created with the schema):
  corporate_action_events(symbol, event_date, split_ratio, dividend_factor)  one row per action
  adjustment_factors(symbol, valid_from, valid_to, split_factor, dividend_factor)
      piecewise-constant factors: bars with valid_from <= time < valid_to take them; bars on or after the
      last event take 1 (no row).
  market_data_split_adjusted, market_data_total_return   same columns as market_data.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from marketdata_pipeline.storage.database import engine_for

ADJUST_MODES = ("none", "splits", "all")
_SOURCES = {"none": "market_data", "splits": "market_data_split_adjusted", "all": "market_data_total_return"}

# Boundaries of a session date d are local midnights in the exchange's zone; crypto has no actions.
_MIDNIGHT = "({d}::timestamp at time zone 'America/New_York')"

_DDL = [
    # A product aggregate multiplies exactly (exp(sum(ln)) would add rounding to every factor).
    "create or replace aggregate mdp_product(float8) (sfunc = float8mul, stype = float8, initcond = '1')",
    f"""
    create or replace view corporate_action_events as
    select s.symbol, s.execution_date as event_date, s.split_to / s.split_from as split_ratio,
           1.0::float8 as dividend_factor
    from splits s
    union all
    select d.symbol, d.ex_dividend_date, 1.0::float8,
           case when p.close > d.cash_amount and d.cash_amount >= 0 then 1 - d.cash_amount / p.close else 1.0 end
    from dividends d
    left join lateral (
        select m.close from market_data m
        where m.symbol = d.symbol and m.timeframe = '1d' and m.time < {_MIDNIGHT.format(d="d.ex_dividend_date")}
        order by m.time desc limit 1
    ) p on true
    """,
    f"""
    create or replace view adjustment_factors as
    select symbol,
           {_MIDNIGHT.format(d="coalesce(lag(event_date) over by_date, '-infinity'::date)")} as valid_from,
           {_MIDNIGHT.format(d="event_date")} as valid_to,
           mdp_product(split_ratio) over later as split_factor,
           mdp_product(dividend_factor) over later as dividend_factor
    from (
        select symbol, event_date, mdp_product(split_ratio) as split_ratio,
               mdp_product(dividend_factor) as dividend_factor
        from corporate_action_events group by symbol, event_date
    ) events
    window by_date as (partition by symbol order by event_date),
           later as (partition by symbol order by event_date desc rows between unbounded preceding and current row)
    """,
]


def _adjusted_view(name: str, price_factor: str) -> str:
    prices = ", ".join(f"m.{c} {price_factor} as {c}" for c in ("open", "high", "low", "close"))
    return f"""
    create or replace view {name} as
    select m.symbol, m.timeframe, m.time, {prices},
           m.volume * coalesce(f.split_factor, 1) as volume, m.vwap {price_factor} as vwap, m.trade_count
    from market_data m
    left join adjustment_factors f on f.symbol = m.symbol and m.time >= f.valid_from and m.time < f.valid_to
    """


_DDL += [
    _adjusted_view("market_data_split_adjusted", "/ coalesce(f.split_factor, 1)"),
    _adjusted_view(
        "market_data_total_return", "* coalesce(f.dividend_factor, 1) / coalesce(f.split_factor, 1)"
    ),
]


def create_adjustment_views(conn: sa.Connection) -> None:
    """Create (or replace) the adjustment aggregate and views; called by storage.schema.create_schema."""
    for statement in _DDL:
        conn.execute(sa.text(statement))


def check_adjust(adjust: str) -> str:
    if adjust not in ADJUST_MODES:
        raise ValueError(f"unknown adjust mode {adjust!r}; expected one of {', '.join(ADJUST_MODES)}")
    return adjust


def source_for(adjust: str) -> str:
    """The table or view serving bars under `adjust` ("none" | "splits" | "all"); ValueError otherwise."""
    return _SOURCES[check_adjust(adjust)]


def adjustment_factors(url: str, symbol: str) -> pd.DataFrame:
    """The symbol's piecewise factors (valid_from (None: since ever), valid_to, split_factor, dividend_factor),
    oldest first."""
    query = sa.text(
        # -infinity (the first interval's open start) has no Python datetime: it reads as None.
        "select case when valid_from = '-infinity' then null else valid_from end as valid_from, valid_to, "
        "split_factor, dividend_factor from adjustment_factors "
        "where symbol = :s order by valid_to"
    )
    with engine_for(url).connect() as conn:
        return pd.DataFrame(conn.execute(query, {"s": symbol}).mappings().all(),
                            columns=["valid_from", "valid_to", "split_factor", "dividend_factor"])
