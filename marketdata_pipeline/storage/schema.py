"""Tables the pipeline owns (SQLAlchemy Core), created idempotently at start."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.symbols import SYMBOL_PATTERN

metadata = sa.MetaData()

BAR_SOURCES = ("api", "derived:5m")

# The ticker rule of marketdata_pipeline.symbols, so rows typed into the table directly obey it too.
SYMBOL_CHECK = "symbols_symbol_format"
SYMBOL_RULE = f"symbol ~ '^(?:{SYMBOL_PATTERN})$'"

symbols = sa.Table(
    "symbols",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("asset_class", sa.Text, nullable=False),  # 'stocks' | 'crypto'
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint(SYMBOL_RULE, name=SYMBOL_CHECK),
)

market_data = sa.Table(
    "market_data",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), primary_key=True),  # window start, UTC
    sa.Column("open", sa.Float(53), nullable=False),
    sa.Column("high", sa.Float(53), nullable=False),
    sa.Column("low", sa.Float(53), nullable=False),
    sa.Column("close", sa.Float(53), nullable=False),
    sa.Column("volume", sa.Float(53), nullable=False),
    sa.Column("vwap", sa.Float(53), nullable=True),
    sa.Column("trade_count", sa.BigInteger, nullable=True),
    # Where the bar comes from (revision 0003): fetched from the API, or built from the stored 5m bars
    # (storage.derived_bars). Readers select BAR_COLUMNS and cannot tell the difference.
    sa.Column("source", sa.Text, nullable=False, server_default="api"),
    sa.CheckConstraint(f"source in ({', '.join(repr(s) for s in BAR_SOURCES)})", name="market_data_source"),
)

# Per partition, when the fetch behind its last full write started: an older fetch finishing later must not
# overwrite the newer one's bars (see storage.bars.upsert_bars).
partition_writes = sa.Table(
    "partition_writes",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("fetch_started", sa.DateTime(timezone=True), nullable=False),
)

# The latest conformance probe per asset class × derived timeframe (storage.derivation): whether bars built
# from 5m bars equal the vendor's native bars; while they agree, the timeframe is derived instead of fetched.
derivation_probes = sa.Table(
    "derivation_probes",
    metadata,
    sa.Column("asset_class", sa.Text, primary_key=True),  # 'stocks' | 'crypto'
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("agrees", sa.Boolean, nullable=False),
    sa.Column("probed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("bars_compared", sa.Integer, nullable=False),
    sa.Column("differences", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # the first differences, as text
)

# Shared request budget: one row per budget (API key), a log of recent grants for the sliding window.
rate_budget = sa.Table(
    "rate_budget",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
    # The limit learned from 429s (requests per window; null: none learned yet) and when it last changed.
    sa.Column("learned_per_window", sa.Integer, nullable=True),
    sa.Column("learned_at", sa.DateTime(timezone=True), nullable=True),
)

rate_budget_grants = sa.Table(
    "rate_budget_grants",
    metadata,
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("rate_budget_grants_name_time", "name", "granted_at"),
)

# 429s of the last window: grants minus rejections is what the API accepted.
rate_budget_rejections = sa.Table(
    "rate_budget_rejections",
    metadata,
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("rate_budget_rejections_name_time", "name", "rejected_at"),
)


def create_schema(url: str) -> None:
    """Bring the database to the newest schema with alembic (storage/migrations), keeping every row.

    Changing a table here needs a new revision in storage/migrations/versions (the baseline creates the
    tables of this module that are missing, so a new table's revision must create it if not exists).
    """
    from marketdata_pipeline.storage import migrations

    # A transaction-level advisory lock keeps concurrent starters from racing on CREATE TABLE.
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(7262021)"))
        migrations.upgrade(conn)


# ---- Health records, owned by marketdata_pipeline.health ----------------------------------------
# Dagster records check results per partition only in single-partition runs, so per-partition health
# lives here and the asset checks, the alerts sensor and `marketdata status` read it.
partition_health = sa.Table(
    "partition_health",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # Fresh | Aging | Stale | Missing
    sa.Column("last_bar", sa.DateTime(timezone=True), nullable=True),
    sa.Column("expected_last_bar", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lag_seconds", sa.Float(53), nullable=True),  # market time behind the expected bar
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("failing_checks", sa.ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
)

gap_ledger = sa.Table(
    "gap_ledger",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), primary_key=True),  # start of the missing bar, UTC
    sa.Column("reason", sa.Text, nullable=False),  # market_closed | no_trades | not_yet_published | unknown
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


# ---- Corporate actions, owned by marketdata_pipeline.storage.corporate_actions ---------
# Stored exactly as the vendor lists them, keyed by their natural keys; each fetch replaces a symbol's
# rows (revisions replace, cancelled actions vanish). Bars stay unadjusted: see storage.adjustment.
splits = sa.Table(
    "splits",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("execution_date", sa.Date, primary_key=True),
    sa.Column("split_from", sa.Float(53), nullable=False),  # 2-for-1: split_from = 1, split_to = 2
    sa.Column("split_to", sa.Float(53), nullable=False),
    sa.Column("vendor_id", sa.Text, nullable=True),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("split_from > 0 and split_to > 0", name="splits_positive_ratio"),
)

dividends = sa.Table(
    "dividends",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("ex_dividend_date", sa.Date, primary_key=True),
    # CD regular cash, SC special cash, LT/ST capital gains: a regular and a special dividend can share a date.
    sa.Column("dividend_type", sa.Text, primary_key=True),
    sa.Column("cash_amount", sa.Float(53), nullable=False),  # per share, as declared (not split-adjusted)
    sa.Column("currency", sa.Text, nullable=True),
    sa.Column("declaration_date", sa.Date, nullable=True),
    sa.Column("record_date", sa.Date, nullable=True),
    sa.Column("pay_date", sa.Date, nullable=True),
    sa.Column("frequency", sa.Integer, nullable=True),
    sa.Column("vendor_id", sa.Text, nullable=True),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
)


# ---- Quant features, owned by marketdata_pipeline.storage.features ----------------------------------
# One typed column per feature of marketdata_pipeline.quant.features (names are the contract; a test keeps
# the two lists equal). NULL where a feature's window is incomplete.
FEATURE_TYPES = {
    **{name: "float8" for name in (
        "log_return", "realized_vol_20", "realized_vol_60", "atr_14", "rsi_14", "sma_20", "sma_50", "sma_200",
        "ema_12", "ema_26", "macd", "macd_signal", "macd_hist", "bb_pct_b_20", "zscore_20", "volume_zscore_20",
        "range_pos_252",
    )},
    "swing_high": "bool", "swing_low": "bool", "trend_structure": "int2", "vol_regime": "int2", "trend_regime": "int2",
}
_SA_TYPES: dict[str, sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]] = {
    "float8": sa.Float(53), "bool": sa.Boolean, "int2": sa.SmallInteger
}

bar_features = sa.Table(
    "bar_features",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), primary_key=True),  # the bar's window start, UTC
    *(sa.Column(name, _SA_TYPES[kind], nullable=True) for name, kind in FEATURE_TYPES.items()),
)

# Per partition, digests of the bars its stored features were computed from (chunks of `chunk_rows` bars):
# a write compares them to find the first changed bar and rewrites only from there (storage.features).
bar_features_state = sa.Table(
    "bar_features_state",
    metadata,
    sa.Column("symbol", sa.Text, primary_key=True),
    sa.Column("timeframe", sa.Text, primary_key=True),
    sa.Column("bar_count", sa.Integer, nullable=False),
    sa.Column("chunk_rows", sa.Integer, nullable=False),
    sa.Column("digests", sa.LargeBinary, nullable=False),  # 16 bytes per chunk, the last chunk possibly short
    # The head (storage.feature_plan; revision 0002): bars before head_time, head_count of them, XOR of their
    # row hashes, and a digest of the symbol's adjustment factors. Unchanged → the next run reads the tail only.
    sa.Column("head_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("head_count", sa.Integer, nullable=True),
    sa.Column("head_print", sa.BigInteger, nullable=True),
    sa.Column("factors_print", sa.Text, nullable=True),
)
