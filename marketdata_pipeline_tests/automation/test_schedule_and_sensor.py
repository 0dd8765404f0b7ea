"""The daily schedule and the symbol-universe sensor, evaluated against a real instance and database."""

from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from marketdata_pipeline.automation.daily_schedule import (
    RANGE_END,
    RANGE_START,
    SCHEDULE_TAG,
    daily_market_data_schedule,
)
from marketdata_pipeline.automation.universe_sync import symbol_universe_sensor, sync_partitions
from marketdata_pipeline.market.partitions import SYMBOLS_PARTITION, bar_partitions
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.storage.universe import add_symbols

TICK = datetime(2024, 6, 7, 2, 0, tzinfo=UTC)


def _evaluate_schedule(instance):
    return daily_market_data_schedule(dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK))


def test_schedule_covers_every_partition_in_one_run(instance):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["MSFT", "AAPL", "X:BTCUSD"])
    request = _evaluate_schedule(instance)
    assert isinstance(request, dg.RunRequest) and request.tags[SCHEDULE_TAG] == "daily"
    key_range = dg.PartitionKeyRange(request.tags[RANGE_START], request.tags[RANGE_END])
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
