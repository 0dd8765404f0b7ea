-- Optional, for PostgreSQL at scale: `market_data` as a TimescaleDB hypertable, compressed per
-- (symbol, timeframe). Run once, after the pipeline has created its schema (any `marketdata` command
-- does), on a server with the timescaledb extension installed (shared_preload_libraries):
--
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/timescaledb/market_data_hypertable.sql
--
-- The pipeline's writes need no change: COPY, INSERT ... ON CONFLICT DO UPDATE and the revision window's
-- DELETE all work on compressed chunks with TimescaleDB >= 2.11 (they decompress the rows they touch).
-- The primary key (symbol, timeframe, time) contains the partitioning column, as a hypertable requires.
create extension if not exists timescaledb;

-- Chunks of 30 days: a 5-minute series of one symbol is ~4,000 bars a month, so a chunk of 500 symbols
-- stays well inside memory; existing rows move into chunks (locks the table while it runs).
select create_hypertable('market_data', by_range('time', interval '30 days'), migrate_data => true,
                         if_not_exists => true);

-- Compressed column-wise, one segment per series: reads of one symbol x timeframe touch only its segment.
alter table market_data set (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'symbol, timeframe',
    timescaledb.compress_orderby = 'time'
);

-- Compress chunks once they are older than the revision window (MARKETDATA_REVISION_SESSIONS, 2
-- sessions) with a wide margin, so daily re-fetches rarely touch a compressed chunk.
select add_compression_policy('market_data', compress_after => interval '14 days', if_not_exists => true);
