"""The daily schedule and the symbol-universe sensor, evaluated against a real instance and database."""

from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy as sa

from marketdata_pipeline.defs.automation.schedules import SCHEDULE_TAG, daily_market_data_schedule
from marketdata_pipeline.defs.automation.sensors import symbol_universe_sensor, sync_partitions
from marketdata_pipeline.defs.market_data.partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    SYMBOLS_PARTITION,
    bar_partitions,
)
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.storage.schema import SYMBOL_CHECK, create_schema
from marketdata_pipeline.storage.universe import add_symbols

TICK = datetime(2024, 6, 7, 2, 0, tzinfo=UTC)


def _evaluate_schedule(instance):
    return daily_market_data_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK))


def test_schedule_covers_every_partition_in_one_run(instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["MSFT", "AAPL", "X:BTCUSD"])
    request = _evaluate_schedule(instance)
    assert isinstance(request, dg.RunRequest) and request.tags[SCHEDULE_TAG] == "daily"
    key_range = dg.PartitionKeyRange(request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG])
    covered = bar_partitions.get_partition_keys_in_range(key_range, dynamic_partitions_store=instance)
    assert set(covered) == set(bar_partitions.get_partition_keys(dynamic_partitions_store=instance))
    assert len(covered) == 15


def test_schedule_skips_while_the_previous_update_is_running(instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    run = dg.DagsterRun(job_name="market_data_update", status=dg.DagsterRunStatus.STARTED, tags={SCHEDULE_TAG: "daily"})
    instance.add_run(run)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    result = daily_market_data_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK))
    assert isinstance(result, dg.SkipReason) and "still running" in result.skip_message


def test_sensor_follows_direct_edits_of_the_symbols_table(instance, clean_db):
    add_symbols(clean_db, ["AAPL", "MSFT"])
    sync_partitions(instance, ["AAPL", "MSFT"])
    with engine_for(clean_db).begin() as conn:  # edited by hand, not through the CLI
        conn.execute(sa.text("insert into symbols (symbol, asset_class) values ('NVDA', 'stocks')"))
        conn.execute(sa.text("update symbols set active = false where symbol = 'MSFT'"))
    context = dg.build_sensor_context(instance=instance, resources={"database": MarketDatabase(url=clean_db)})
    result = symbol_universe_sensor(context)
    assert isinstance(result, dg.SensorResult)
    requests = {type(r).__name__: list(r.partition_keys) for r in result.dynamic_partitions_requests}
    assert requests == {"AddDynamicPartitionsRequest": ["NVDA"], "DeleteDynamicPartitionsRequest": ["MSFT"]}

    sync_partitions(instance, ["AAPL", "NVDA"])
    again = symbol_universe_sensor(
        dg.build_sensor_context(instance=instance, resources={"database": MarketDatabase(url=clean_db)})
    )
    assert isinstance(again, dg.SkipReason)


MALFORMED = ["BRK|B", "msft ", "", "$$$", "AAPL'; drop table symbols; --", "X" * 200]


def _insert(url: str, symbol: str) -> None:
    with engine_for(url).begin() as conn:
        conn.execute(sa.text("insert into symbols (symbol, asset_class) values (:s, 'stocks')"), {"s": symbol})


@pytest.mark.parametrize("symbol", MALFORMED)
def test_the_symbols_table_itself_refuses_malformed_tickers(clean_db, symbol):
    with pytest.raises(sa.exc.IntegrityError, match=SYMBOL_CHECK):
        _insert(clean_db, symbol)


def test_the_symbols_table_accepts_what_the_cli_accepts(clean_db):
    for symbol in ["AAPL", "BRK.B", "X:BTCUSD", "X:ETHUSDT"]:
        _insert(clean_db, symbol)


@pytest.fixture
def old_database(fresh_database) -> str:
    """A database whose symbols table predates the CHECK constraint and was edited by hand."""
    url = fresh_database("mdp_oldschema")
    create_schema(url)
    with engine_for(url).begin() as conn:
        conn.execute(sa.text(f"alter table symbols drop constraint {SYMBOL_CHECK}"))
        # Databases of that time predate the migrations too: no version table, so start-up upgrades them.
        conn.execute(sa.text("drop table marketdata_alembic_version"))
    for symbol in ["BRK|B", "msft ", "SPY"]:
        _insert(url, symbol)
    return url


def test_start_up_adds_the_check_to_an_existing_table_despite_old_bad_rows(old_database):
    create_schema(old_database)
    create_schema(old_database)  # idempotent
    with engine_for(old_database).connect() as conn:
        validated = conn.execute(
            sa.text("select convalidated from pg_constraint where conname = :n"), {"n": SYMBOL_CHECK}
        ).scalars().all()
    assert validated == [False]  # NOT VALID: old rows stay until fixed, new ones are checked
    with pytest.raises(sa.exc.IntegrityError, match=SYMBOL_CHECK):
        _insert(old_database, "TSLA|X")


def test_sensor_skips_and_names_malformed_rows(instance, old_database, capfd):
    context = dg.build_sensor_context(instance=instance, resources={"database": MarketDatabase(url=old_database)})
    result = symbol_universe_sensor(context)
    requests = {type(r).__name__: list(r.partition_keys) for r in result.dynamic_partitions_requests}
    assert requests == {"AddDynamicPartitionsRequest": ["SPY"]}
    logged = capfd.readouterr().err  # the sensor log (Dagster writes it to stderr)
    assert "'BRK|B'" in logged and "'msft '" in logged

    sync_partitions(instance, ["SPY"])
    again = symbol_universe_sensor(
        dg.build_sensor_context(instance=instance, resources={"database": MarketDatabase(url=old_database)})
    )
    assert isinstance(again, dg.SkipReason)
    assert "'BRK|B'" in again.skip_message and "'msft '" in again.skip_message
