"""`marketdata status`: health of every active symbol × timeframe; exit 1 when anything is Stale or Missing."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from marketdata_pipeline.bars import partition_key, split_key
from marketdata_pipeline.defs.evaluate import active_partitions, assess_partitions, iso_utc
from marketdata_pipeline.environment import ensure_dagster_home, ensure_database
from marketdata_pipeline.rules.freshness import State
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.features import last_feature_times
from marketdata_pipeline.storage.health import Key, load_health

_COLUMNS = ["symbol", "timeframe", "state", "last_bar", "expected_last_bar", "rows", "features_last_bar", "last_materialization", "failing_checks"]
_FAILING = {State.STALE.value, State.MISSING.value}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="freshness and data quality of every symbol × timeframe")
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
    print(json.dumps(rows, indent=2) if args.json else _table(rows))
    return 1 if any(r["state"] in _FAILING for r in rows) else 0


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


def _table(rows: list[dict]) -> str:
    def cell(row: dict, column: str) -> str:
        value = row[column]
        if column == "failing_checks":
            return ", ".join(value) or "-"
        return "-" if value is None else str(value)

    cells = [[cell(r, c) for c in _COLUMNS] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) if cells else len(c) for i, c in enumerate(_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)
