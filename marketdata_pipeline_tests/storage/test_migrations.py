"""Schema migrations (alembic): a database created before migrations existed is upgraded in place, its rows
kept; Dagster's own alembic_version in the same database is left alone."""

from __future__ import annotations

import sqlalchemy as sa

from marketdata_pipeline.storage import migrations
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import create_schema, metadata

# The tables as an earlier release created them (before the learned budget columns, the ticker constraint,
# corporate actions, features and the adjustment views), with metadata.create_all and no version table.
PREVIOUS_SCHEMA = [
    """create table symbols (symbol text primary key, asset_class text not null,
       active boolean not null default true, added_at timestamptz not null default now())""",
    """create table market_data (symbol text, timeframe text, time timestamptz, open float8 not null,
       high float8 not null, low float8 not null, close float8 not null, volume float8 not null, vwap float8,
       trade_count bigint, primary key (symbol, timeframe, time))""",
    "create table rate_budget (name text primary key, blocked_until timestamptz)",
    "create table rate_budget_grants (name text not null, granted_at timestamptz not null)",
    # Dagster's storage sharing the database: its version table must survive untouched.
    "create table alembic_version (version_num varchar(32) primary key)",
    "insert into alembic_version values ('dagster-head')",
    "insert into symbols (symbol, asset_class) values ('AAPL', 'stocks'), ('bad|one', 'stocks')",
    """insert into market_data values ('AAPL', '1d', '2024-06-03T04:00:00Z', 1, 2, 0.5, 1.5, 100, 1.2, 10),
       ('AAPL', '1d', '2024-06-04T04:00:00Z', 1.5, 2.5, 1, 2, 200, null, null)""",
    "insert into rate_budget values ('key', null)",
]


_BARS = "symbol, timeframe, time, open, high, low, close, volume, vwap, trade_count"


def _tables(conn) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


def test_a_database_of_the_previous_schema_is_upgraded_keeping_its_data(fresh_database):
    url = fresh_database("mdp_migrate")
    engine = engine_for(url)
    with engine.begin() as conn:
        for statement in PREVIOUS_SCHEMA:
            conn.execute(sa.text(statement))
        before = conn.execute(sa.text(f"select {_BARS} from market_data order by time")).all()

    create_schema(url)

    with engine.connect() as conn:
        assert conn.execute(sa.text(f"select {_BARS} from market_data order by time")).all() == before
        # Bars stored before sources were recorded came from the API.
        assert conn.execute(sa.text("select distinct source from market_data")).scalars().all() == ["api"]
        assert conn.execute(sa.text("select symbol from symbols order by symbol")).scalars().all() == ["AAPL", "bad|one"]
        assert {t.name for t in metadata.sorted_tables} <= _tables(conn)
        assert {"learned_per_window", "learned_at"} <= {c["name"] for c in sa.inspect(conn).get_columns("rate_budget")}
        assert conn.execute(sa.text("select count(*) from market_data_split_adjusted")).scalar() == 2
        assert migrations.current(conn) == migrations.head()
        assert conn.execute(sa.text("select version_num from alembic_version")).scalar() == "dagster-head"
    # New rows obey the ticker rule the upgrade added (existing ones are not re-checked).
    with engine.connect() as conn:
        try:
            conn.execute(sa.text("insert into symbols (symbol, asset_class) values ('no|pe', 'stocks')"))
            raise AssertionError("the ticker constraint was not added")
        except sa.exc.IntegrityError:
            conn.rollback()
    create_schema(url)  # already at head: nothing to do, nothing lost
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from market_data")).scalar() == 2


def test_a_new_database_is_created_at_head(fresh_database):
    url = fresh_database("mdp_migrate_new")
    create_schema(url)
    with engine_for(url).connect() as conn:
        assert migrations.current(conn) == migrations.head() == "0003_derived_bars"
        assert "alembic_version" not in _tables(conn)  # Dagster's name is not ours
