"""`marketdata status`: health of every active symbol × timeframe; exit 1 when anything is Stale or Missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from marketdata_pipeline.bars import partition_key, split_key
from marketdata_pipeline.cli.console import print_table
from marketdata_pipeline.cli.errors import OK, UNHEALTHY
from marketdata_pipeline.defs.evaluate import active_partitions, assess_partitions, iso_utc
from marketdata_pipeline.environment import ensure_dagster_home, ensure_database
from marketdata_pipeline.rules.freshness import State
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.features import last_feature_times
from marketdata_pipeline.storage.health import Key, load_health

_COLUMNS = ["symbol", "timeframe", "state", "last_bar", "expected_last_bar", "rows", "features_last_bar", "last_materialization", "failing_checks"]
_FAILING = {State.STALE.value, State.MISSING.value}
_STYLES = {State.FRESH.value: "green", State.AGING.value: "yellow", State.STALE.value: "red",
           State.MISSING.value: "bold red"}


@click.command("status")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array (one object per symbol × timeframe) instead of a table. "
                   "Example: marketdata status --json | jq '.[] | select(.state != \"Fresh\")'")
def command(as_json: bool) -> int:
    """Freshness and data quality of every active symbol × timeframe.

    Exit 0 when everything is Fresh or Aging, 1 when anything is Stale or Missing (for cron and monitors).

    \b
    Examples:
      marketdata status
      marketdata status --json
    """
    settings = Settings.from_env()
    url = ensure_database(settings)
    keys = active_partitions(url)
    # Freshness is recomputed for this instant (read-only); quality is what the last check run recorded.
    entries = assess_partitions(url, keys, settings.clock(), settings.freshness_rules())
    recorded = load_health(url, keys)
    materialized = _last_materializations(keys)
    featured = last_feature_times(url, keys)
    rows = [
        {
            "symbol": e.symbol,
            "timeframe": e.timeframe,
            "state": e.freshness.state.value,
            "last_bar": iso_utc(e.freshness.last_bar),
            "expected_last_bar": iso_utc(e.freshness.expected_last_bar),
            "rows": e.rows,
            "features_last_bar": iso_utc(featured.get((e.symbol, e.timeframe))),
            "last_materialization": materialized.get((e.symbol, e.timeframe)),
            "failing_checks": list(recorded.get((e.symbol, e.timeframe), {}).get("failing_checks", [])),
        }
        for e in entries
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(_COLUMNS, [[_cell(r, c) for c in _COLUMNS] for r in rows],
                    [_STYLES.get(str(r["state"])) for r in rows])
    return UNHEALTHY if any(r["state"] in _FAILING for r in rows) else OK


def _last_materializations(keys: list[Key]) -> dict[Key, str]:
    """Newest materialization time per partition from the Dagster instance (DAGSTER_HOME, else the project's)."""
    if not keys:
        return {}
    ensure_dagster_home()
    import dagster as dg
    from dagster._core.events import DagsterEventType

    asset = dg.AssetKey("market_data")
    with dg.DagsterInstance.get() as instance:
        ids = instance.get_latest_storage_id_by_partition(
            asset, DagsterEventType.ASSET_MATERIALIZATION, partitions={partition_key(s, tf) for s, tf in keys}
        )
        if not ids:
            return {}
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset, storage_ids=list(ids.values())), limit=len(ids)
        ).records
    return {
        split_key(r.partition_key): datetime.fromtimestamp(r.timestamp, UTC).isoformat()
        for r in records
        if r.partition_key
    }


def _cell(row: dict, column: str) -> str:
    value = row[column]
    if column == "failing_checks":
        return ", ".join(value) or "-"
    return "-" if value is None else str(value)
