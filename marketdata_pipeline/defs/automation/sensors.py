"""Keep the `symbols` dynamic partitions equal to the active rows of the symbols table."""


import dagster as dg

from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION, symbol_partitions
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.storage.universe import active_symbols, invalid_active_symbols


def partition_changes(instance: dg.DagsterInstance, wanted: list[str]) -> tuple[list[str], list[str]]:
    current = set(instance.get_dynamic_partitions(SYMBOLS_PARTITION))
    return sorted(set(wanted) - current), sorted(current - set(wanted))


def sync_partitions(instance: dg.DagsterInstance, wanted: list[str]) -> tuple[list[str], list[str]]:
    """Apply the difference directly (used by the CLI so partitions appear at once)."""
    added, removed = partition_changes(instance, wanted)
    if added:
        instance.add_dynamic_partitions(SYMBOLS_PARTITION, added)
    for symbol in removed:
        instance.delete_dynamic_partition(SYMBOLS_PARTITION, symbol)
    return added, removed


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def symbol_universe_sensor(context: dg.SensorEvaluationContext, database: MarketDatabase):
    """Picks up symbols added or deactivated by editing the table directly; malformed rows are skipped."""
    added, removed = partition_changes(context.instance, active_symbols(database.url))
    invalid = invalid_active_symbols(database.url)
    skipped = f"skipped malformed tickers (fix or delete these rows): {', '.join(map(repr, invalid))}" if invalid else ""
    if skipped:
        context.log.warning(skipped)
    if not added and not removed:
        return dg.SkipReason("; ".join(filter(None, ["symbol partitions match the symbols table", skipped])))
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(symbol_partitions.build_add_request(added))
    if removed:
        requests.append(symbol_partitions.build_delete_request(removed))
    context.log.info(f"symbols added: {added or 'none'}; removed: {removed or 'none'}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
