"""The alerts sensor: one notification per partition entering a bad condition and one on recovery.

A partition's condition is its freshness state plus its failing quality checks. The sensor cursor keeps
the last condition per partition, so a condition that persists across ticks is announced only once.
"""

# No `from __future__ import annotations`: Dagster inspects the sensor's resource annotation at runtime.
import json
from dataclasses import dataclass
from urllib.parse import quote

import dagster as dg

from marketdata_pipeline.health import config, notify
from marketdata_pipeline.health.evaluate import active_partitions, refresh_freshness
from marketdata_pipeline.health.freshness import BAD_STATES, State
from marketdata_pipeline.health.records import load_health
from marketdata_pipeline.market.partitions import split_key
from marketdata_pipeline.settings import Settings
from marketdata_pipeline.storage.resource import MarketDatabase

_HEALTHY = State.FRESH.value  # what a partition unknown to the cursor counts as


@dataclass(frozen=True)
class Snapshot:
    state: str
    failing_checks: tuple[str, ...]
    last_bar: str | None
    expected_last_bar: str | None

    @property
    def condition(self) -> str:
        return "+".join((self.state, *self.failing_checks))


def is_bad(condition: str) -> bool:
    state, *checks = condition.split("+")
    return bool(checks) or state in BAD_STATES


@dataclass(frozen=True)
class Alert:
    key: str  # "AAPL|1d"
    event: str  # "problem" | "recovered"
    previous: str | None  # previous condition; None the first time a partition is seen
    snapshot: Snapshot


def transitions(cursor: dict[str, str], current: dict[str, Snapshot]) -> tuple[list[Alert], dict[str, str]]:
    """(alerts, new cursor). Partitions no longer current (deactivated symbols) drop out silently."""
    alerts = []
    for key, snap in sorted(current.items()):
        previous = cursor.get(key)
        if snap.condition == (previous or _HEALTHY):
            continue
        if is_bad(snap.condition):
            alerts.append(Alert(key, "problem", previous, snap))
        elif previous and is_bad(previous):
            alerts.append(Alert(key, "recovered", previous, snap))
    return alerts, {key: snap.condition for key, snap in current.items()}


def payload(alert: Alert, webserver_url: str) -> dict:
    symbol, timeframe = split_key(alert.key)
    return {
        "event": alert.event,
        "symbol": symbol,
        "timeframe": timeframe,
        "state": alert.snapshot.state,
        "failing_checks": list(alert.snapshot.failing_checks),
        "previous_state": alert.previous,
        "last_bar": alert.snapshot.last_bar,
        "expected_last_bar": alert.snapshot.expected_last_bar,
        "url": f"{webserver_url}/assets/market_data?partition={quote(alert.key, safe='')}",
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


@dg.sensor(
    name="market_data_health_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-assesses freshness of every active partition, then notifies on changes of health "
    "(freshness state or failing quality checks) recorded in partition_health.",
)
def market_data_health_alerts(context: dg.SensorEvaluationContext, database: MarketDatabase):
    url = database.url
    keys = active_partitions(url)
    # Freshness changes with the clock, not only with materializations: a stopped pipeline must turn Stale.
    refresh_freshness(url, keys, config.now(), config.freshness_rules())
    current = {
        f"{s}|{tf}": Snapshot(r["state"], tuple(r["failing_checks"]), _iso(r["last_bar"]), _iso(r["expected_last_bar"]))
        for (s, tf), r in load_health(url, keys).items()
    }
    alerts, cursor = transitions(json.loads(context.cursor) if context.cursor else {}, current)
    settings = Settings.from_env()
    for alert in alerts:
        notify.send(payload(alert, settings.webserver_url), context.log, settings)
    context.update_cursor(json.dumps(cursor, sort_keys=True))
    unhealthy = sum(is_bad(c) for c in cursor.values())
    return dg.SkipReason(f"{len(alerts)} alerts sent; {unhealthy} of {len(cursor)} partitions unhealthy")
