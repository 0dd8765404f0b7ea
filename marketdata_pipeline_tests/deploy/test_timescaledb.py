"""The TimescaleDB option (deploy/timescaledb/market_data_hypertable.sql) on a real server, where the
extension is available: the pipeline's own write path (COPY, upsert of a revision, deletion of bars the
vendor dropped) keeps working on a compressed hypertable. Skipped, saying why, elsewhere."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from marketdata_pipeline.storage.bars import load_bars, upsert_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.schema import create_schema
from marketdata_pipeline_tests.bars_support import make_bars
from marketdata_pipeline_tests.support import REPO

SQL = REPO / "deploy" / "timescaledb" / "market_data_hypertable.sql"


def _available(admin_url: str) -> str | None:
    with engine_for(admin_url).connect() as conn:
        row = conn.execute(sa.text(
            "select default_version from pg_available_extensions where name = 'timescaledb'")).first()
        preload = conn.execute(sa.text("show shared_preload_libraries")).scalar_one()
    if row is None:
        return "the timescaledb extension is not installed on this PostgreSQL server (pg_available_extensions)"
    if "timescaledb" not in preload:
        return "timescaledb is installed but not in shared_preload_libraries"
    return None


@pytest.fixture
def timescale_db(pg_admin_url, fresh_database):
    reason = _available(pg_admin_url)
    if reason:
        pytest.skip(reason)
    url = fresh_database("mdp_timescale")
    create_schema(url)
    return url


def _run_script(url: str) -> None:
    raw = engine_for(url).raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute(SQL.read_text())
        raw.commit()
    finally:
        raw.close()


def test_market_data_as_a_compressed_hypertable_takes_the_pipelines_writes(timescale_db):
    url = timescale_db
    bars = make_bars("AAPL", "1h", date(2024, 5, 1), date(2024, 6, 5))
    upsert_bars(url, "AAPL", "1h", bars)  # rows present before the conversion move into chunks
    _run_script(url)
    _run_script(url)  # idempotent

    with engine_for(url).begin() as conn:
        dims = conn.execute(sa.text(
            "select column_name from timescaledb_information.dimensions where hypertable_name = 'market_data'"
        )).scalars().all()
        assert dims == ["time"]
        segment = conn.execute(sa.text(
            "select attname from timescaledb_information.compression_settings "
            "where hypertable = 'market_data'::regclass and segmentby_column_index is not null "
            "order by segmentby_column_index")).scalars().all()
        assert segment == ["symbol", "timeframe"]
        compressed = conn.execute(sa.text(
            "select count(compress_chunk(c, if_not_compressed => true)) from show_chunks('market_data') c"
        )).scalar_one()
        assert compressed > 0

    revised = bars.copy()
    revised.loc[revised.index[:5], "close"] *= 1.01  # a vendor revision inside compressed chunks
    dropped = revised.drop(revised.index[5])  # and a bar the vendor no longer returns
    window = (bars["time"].iloc[0].to_pydatetime(), bars["time"].iloc[-1].to_pydatetime())
    upsert_bars(url, "AAPL", "1h", dropped, window=window)

    stored = load_bars(url, "AAPL", "1h")
    assert len(stored) == len(bars) - 1
    assert stored["close"].iloc[:5].tolist() == pytest.approx(revised["close"].iloc[:5].tolist())
