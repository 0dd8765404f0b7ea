"""The alerts sensor: one notification when a partition turns Stale or Missing (or a quality check fails)
and one when it recovers; partitions never fetched yet are announced once, in one summary.

A partition's condition is its freshness state plus its failing quality checks. Aging is normal for most
of the day with one run a day, so it shows in the UI and `marketdata status` but never pages. The sensor
cursor keeps the last condition per partition, so a condition that persists across ticks is announced
only once; each notice's partitions are recorded in the cursor as soon as it has been sent (or has
failed), so one failure can neither stop the others nor make the sensor send them again.
"""

# No `from __future__ import annotations`: Dagster inspects the sensor's resource annotation at runtime.
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

import dagster as dg

from marketdata_pipeline.bars import partition_key, split_key
from marketdata_pipeline.defs.evaluate import active_partitions, iso_utc, refresh_freshness
from marketdata_pipeline.defs.health import notify
from marketdata_pipeline.defs.resources import AlertChannels, HealthRules
from marketdata_pipeline.rules.freshness import State
from marketdata_pipeline.storage.health import load_health
from marketdata_pipeline.storage.resource import MarketDatabase

ALERTING_STATES = frozenset({State.STALE, State.MISSING})
_HEALTHY = State.FRESH.value  # what a partition unknown to the cursor counts as
# Cursor value of a partition first seen without any bar: already in a summary, and its first bars are
# not a "recovery".
NEVER_MATERIALIZED = "Never materialized"
_MAX_LISTED = 50


@dataclass(frozen=True)
class Snapshot:
    state: str
    failing_checks: tuple[str, ...]
    last_bar: str | None
    expected_last_bar: str | None

    @property
    def condition(self) -> str:
        return "+".join((self.state, *self.failing_checks))


def alerting(condition: str) -> tuple[str, ...]:
    """The part of a condition that pages: a Stale or Missing state and the failing checks."""
    state, *checks = condition.split("+")
    return (state, *checks) if state in ALERTING_STATES else tuple(checks)


@dataclass(frozen=True)
class Alert:
    key: str  # "AAPL|1d"
    event: str  # "problem" | "recovered"
    previous: str | None  # previous condition; None the first time a partition is seen
    snapshot: Snapshot


@dataclass(frozen=True)
class Transitions:
    alerts: list[Alert]
    never_materialized: list[str]  # partitions first seen without a bar, for one summary notice
    cursor: dict[str, str]  # the conditions to remember once every notice has gone out


def transitions(cursor: dict[str, str], current: dict[str, Snapshot]) -> Transitions:
    """Partitions no longer current (deactivated symbols) drop out silently."""
    alerts, unseen, conditions = [], [], {}
    for key, snap in sorted(current.items()):
        previous = cursor.get(key)
        if snap.condition == State.MISSING and previous in (None, NEVER_MATERIALIZED):
            if previous is None:
                unseen.append(key)
            conditions[key] = NEVER_MATERIALIZED
            continue
        conditions[key] = snap.condition
        before, after = alerting(previous or _HEALTHY), alerting(snap.condition)
        if after and after != before:
            alerts.append(Alert(key, "problem", previous, snap))
        elif before and not after:
            alerts.append(Alert(key, "recovered", previous, snap))
    return Transitions(alerts, unseen, conditions)


@dataclass(frozen=True)
class Notice:
    keys: tuple[str, ...]  # the partitions whose new condition it announces
    payload: Callable[[], dict]  # built when sent, so a malformed row fails that notice alone
    text: Callable[[dict], str]


def notices(found: Transitions, webserver_url: str) -> list[Notice]:
    out = [Notice((a.key,), partial(payload, a, webserver_url), slack_text) for a in found.alerts]
    if found.never_materialized:
        keys = tuple(found.never_materialized)
        out.append(Notice(keys, lambda: summary_payload(keys, webserver_url), summary_text))
    return out


def dispatch(
    items: list[Notice],
    previous: dict[str, str],
    found: Transitions,
    send: Callable[[dict, str], None],
    record: Callable[[dict[str, str]], None],
    log,
) -> int:
    """Send each notice and record its partitions' new conditions right after; returns how many went out."""
    pending = {key for notice in items for key in notice.keys}
    progress = {k: c for k, c in found.cursor.items() if k not in pending}
    progress.update({k: previous[k] for k in pending if k in previous})
    record(progress)
    sent = 0
    for notice in items:
        try:
            body = notice.payload()
            send(body, notice.text(body))
            sent += 1
        except Exception as exc:  # not retried: a notice that cannot be built or sent would fail every tick
            log.error(f"alert for {', '.join(notice.keys[:3])} could not be sent: {type(exc).__name__}")
        progress.update({k: found.cursor[k] for k in notice.keys})
        record(progress)
    return sent


def _asset_url(webserver_url: str, key: str | None = None) -> str:
    url = f"{webserver_url}/assets/market_data"
    return f"{url}?partition={quote(key, safe='')}" if key else url


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
        "url": _asset_url(webserver_url, alert.key),
    }


def slack_text(p: dict) -> str:
    checks = f", failing checks: {', '.join(p['failing_checks'])}" if p["failing_checks"] else ""
    verb = "recovered" if p["event"] == "recovered" else "is unhealthy"
    return (
        f"{p['symbol']} {p['timeframe']} {verb}: {p['state']} (was {p['previous_state'] or 'not seen before'}){checks}. "
        f"Last bar {p['last_bar'] or 'none'}, expected {p['expected_last_bar']}. <{p['url']}|Open in Dagster>"
    )


def summary_payload(keys: tuple[str, ...], webserver_url: str) -> dict:
    return {"event": "never_materialized", "count": len(keys), "partitions": list(keys), "url": _asset_url(webserver_url)}


def summary_text(p: dict) -> str:
    listed = ", ".join(p["partitions"][:_MAX_LISTED]) + (" …" if p["count"] > _MAX_LISTED else "")
    return f"{p['count']} partitions have never been materialized (expected before their first run): {listed}. <{p['url']}|Open in Dagster>"


@dg.sensor(
    name="market_data_health_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-assesses freshness of every active partition, then notifies when one turns Stale or "
    "Missing or fails a quality check, and when it recovers (recorded in partition_health).",
)
def market_data_health_alerts(
    context: dg.SensorEvaluationContext, database: MarketDatabase, health_rules: HealthRules, alerts: AlertChannels
):
    url = database.url
    keys = active_partitions(url)
    # Freshness changes with the clock, not only with materializations: a stopped pipeline must turn Stale.
    refresh_freshness(url, keys, health_rules.clock(), health_rules.rules())
    current = {
        partition_key(s, tf): Snapshot(r["state"], tuple(r["failing_checks"]), iso_utc(r["last_bar"]), iso_utc(r["expected_last_bar"]))
        for (s, tf), r in load_health(url, keys).items()
    }
    previous = json.loads(context.cursor) if context.cursor else {}
    found = transitions(previous, current)
    sent = dispatch(
        notices(found, alerts.webserver_url),
        previous,
        found,
        send=lambda body, text: notify.send(body, text, context.log, alerts),
        record=lambda progress: context.update_cursor(json.dumps(progress, sort_keys=True)),
        log=context.log,
    )
    unhealthy = sum(bool(alerting(c)) for c in found.cursor.values())
    return dg.SkipReason(f"{sent} notices sent; {unhealthy} of {len(found.cursor)} partitions unhealthy")
