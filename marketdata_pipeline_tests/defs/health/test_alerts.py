import json
import logging
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_slack import SlackResource

from marketdata_pipeline.defs.health import notify
from marketdata_pipeline.defs.health.alerts import (
    NEVER_MATERIALIZED,
    Snapshot,
    dispatch,
    market_data_health_alerts,
    notices,
    payload,
    transitions,
)
from marketdata_pipeline.defs.resources import AlertChannels, resources_from_env
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.storage.schema import SYMBOL_CHECK, create_schema
from marketdata_pipeline.storage.universe import add_symbols
from marketdata_pipeline.timeframes import TIMEFRAMES
from marketdata_pipeline_tests.bars_support import make_bars


def snap(state: str, *checks: str) -> Snapshot:
    return Snapshot(state, checks, "2024-06-07T04:00:00+00:00", "2024-06-07T04:00:00+00:00")


def events(found) -> list[tuple]:
    return [(a.key, a.event, a.previous) for a in found.alerts]


def test_alerts_on_entering_and_leaving_stale_or_missing_or_failing_checks():
    found = transitions({}, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Stale")})
    assert events(found) == [("MSFT|1d", "problem", None)]
    assert events(transitions(found.cursor, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Stale")})) == []

    # Aging is the normal state between daily runs: visible in the UI and in `status`, never paged.
    found = transitions(found.cursor, {"AAPL|1d": snap("Aging"), "MSFT|1d": snap("Aging")})
    assert events(found) == [("MSFT|1d", "recovered", "Stale")]
    found = transitions(found.cursor, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Aging", "ohlc_consistency")})
    assert events(found) == [("MSFT|1d", "problem", "Aging")]
    found = transitions(found.cursor, {"AAPL|1d": snap("Stale"), "MSFT|1d": snap("Fresh", "ohlc_consistency")})
    assert events(found) == [("AAPL|1d", "problem", "Fresh")]  # MSFT: same failing check, Aging is no news
    found = transitions(found.cursor, {"AAPL|1d": snap("Missing"), "MSFT|1d": snap("Fresh")})
    assert events(found) == [("AAPL|1d", "problem", "Stale"), ("MSFT|1d", "recovered", "Fresh+ohlc_consistency")]
    assert found.never_materialized == []  # AAPL had bars once: losing them is a problem, not a first start
    assert transitions(found.cursor, {"MSFT|1d": snap("Fresh")}).cursor == {"MSFT|1d": "Fresh"}


def test_partitions_never_materialized_are_one_summary_and_their_first_bars_no_recovery():
    current = {f"{s}|{tf}": snap("Missing") for s in ("AAPL", "MSFT") for tf in ("1d", "1h")}
    found = transitions({}, {**current, "SPY|1d": snap("Fresh")})
    assert found.alerts == [] and found.never_materialized == sorted(current)
    again = transitions(found.cursor, current)
    assert again.alerts == [] and again.never_materialized == []
    fetched = transitions(again.cursor, {**current, "AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Stale")})
    assert events(fetched) == [("MSFT|1d", "problem", NEVER_MATERIALIZED)]
    assert fetched.never_materialized == []


def test_payload_names_the_partition_and_links_to_the_ui():
    alert = transitions({"X:BTCUSD|1h": "Fresh"}, {"X:BTCUSD|1h": snap("Stale")}).alerts[0]
    body = payload(alert, "http://ui:3000")
    assert body["symbol"] == "X:BTCUSD" and body["timeframe"] == "1h"
    assert body["state"] == "Stale" and body["previous_state"] == "Fresh"
    assert body["url"] == "http://ui:3000/assets/market_data?partition=X%3ABTCUSD%7C1h"


def test_each_notice_is_recorded_as_sent_so_a_failure_is_neither_fatal_nor_repeated():
    previous = {"AAPL|1d": "Fresh", "MSFT|1d": "Fresh", "SPY|1d": "Fresh"}
    found = transitions(previous, {"AAPL|1d": snap("Stale"), "MSFT|1d": snap("Stale"), "SPY|1d": snap("Stale")})
    sent, recorded = [], []

    def send(body, text):
        if body["symbol"] == "MSFT":
            raise RuntimeError("channel down")
        sent.append(body["symbol"])

    items = notices(found, "http://ui:3000")
    count = dispatch(items, previous, found, send, lambda progress: recorded.append(dict(progress)), logging.getLogger("t"))
    assert sent == ["AAPL", "SPY"] and count == 2
    # The cursor moves with each notice: nothing is pending before it is sent, everything after.
    assert recorded[0] == previous
    assert recorded[1] == {**previous, "AAPL|1d": "Stale"}
    assert recorded[-1] == found.cursor
    assert transitions(recorded[-1], {"AAPL|1d": snap("Stale"), "MSFT|1d": snap("Stale"), "SPY|1d": snap("Stale")}).alerts == []


class Receiver:
    """A real local HTTP endpoint that records JSON POSTs and answers with `status`."""

    def __init__(self, status: int = 204):
        self.status = status
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(json.loads(body) if self.headers["Content-Type"] == "application/json" else body)
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    try:
        yield f"{server.base_url}/hook", server.posts
    finally:
        server.close()


@pytest.fixture
def sensor_tick(monkeypatch, receiver):
    """tick(url, now): evaluate the alerts sensor at `now` on database `url`, keeping its cursor between
    ticks; returns the new webhook POSTs."""
    hook, posts = receiver
    monkeypatch.setenv("MARKETDATA_ALERT_WEBHOOK_URL", hook)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    cursor = None

    def tick(url: str, now: str) -> list[dict]:
        nonlocal cursor
        seen = len(posts)
        monkeypatch.setenv("MARKETDATA_NOW", now)
        with dg.instance_for_test() as instance:
            # Configured as the code location configures them, from this (monkeypatched) environment.
            configured = resources_from_env()
            resources = {"database": MarketDatabase(url=url), "health_rules": configured["health_rules"],
                         "alerts": configured["alerts"]}
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                market_data_health_alerts(context)
                cursor = context.cursor
        return posts[seen:]

    return tick


def partition_events(posts: list[dict]) -> list[tuple]:
    return sorted((f"{p['symbol']}|{p['timeframe']}", p["event"], p["state"], p["previous_state"]) for p in posts)


def test_sensor_posts_once_on_stale_and_once_on_recovery_but_not_for_aging(store, clean_db, sensor_tick):
    for tf in TIMEFRAMES:
        store("X:BTCUSD", tf, make_bars("X:BTCUSD", tf, date(2024, 6, 6), date(2024, 6, 7)))

    every = sorted(f"X:BTCUSD|{tf}" for tf in TIMEFRAMES)
    assert sensor_tick(clean_db, "2024-06-08T00:20:00Z") == []  # everything up to Friday's end is stored
    assert sensor_tick(clean_db, "2024-06-08T03:00:00Z") == []  # intraday partitions Aging: no page
    posts = sensor_tick(clean_db, "2024-06-09T06:00:00Z")
    assert [e[:3] for e in partition_events(posts)] == [(key, "problem", "Stale") for key in every]
    assert ("X:BTCUSD|5m", "problem", "Stale", "Aging") in partition_events(posts)  # it was Aging, unannounced
    assert posts[0]["expected_last_bar"] and posts[0]["url"].startswith("http://127.0.0.1:3000/assets/market_data?partition=X%3ABTCUSD")
    assert sensor_tick(clean_db, "2024-06-09T06:05:00Z") == []  # still Stale: no repeat
    for tf in TIMEFRAMES:
        upsert_bars(clean_db, "X:BTCUSD", tf, make_bars("X:BTCUSD", tf, date(2024, 6, 8), date(2024, 6, 9)))
    assert partition_events(sensor_tick(clean_db, "2024-06-10T00:20:00Z")) == [
        (key, "recovered", "Fresh", "Stale") for key in every
    ]
    assert sensor_tick(clean_db, "2024-06-10T00:25:00Z") == []


def test_first_start_sends_one_summary_for_partitions_never_fetched(store, clean_db, sensor_tick):
    add_symbols(clean_db, ["AAPL", "MSFT"])
    posts = sensor_tick(clean_db, "2024-06-10T10:00:00Z")
    assert [(p["event"], p["count"]) for p in posts] == [("never_materialized", 10)]
    assert sorted(posts[0]["partitions"]) == sorted(f"{s}|{tf}" for s in ("AAPL", "MSFT") for tf in TIMEFRAMES)
    assert sensor_tick(clean_db, "2024-06-10T10:05:00Z") == []
    store("AAPL", "1d", make_bars("AAPL", "1d", date(2024, 5, 1), date(2024, 6, 7)))
    assert sensor_tick(clean_db, "2024-06-10T10:10:00Z") == []  # first bars: not a recovery


def test_rows_typed_into_an_old_symbols_table_neither_crash_nor_repeat_alerts(fresh_database, sensor_tick):
    url = fresh_database("mdp_oldsymbols")
    create_schema(url)
    with engine_for(url).begin() as conn:  # a database from before the CHECK constraint, edited by hand
        conn.execute(sa.text(f"alter table symbols drop constraint {SYMBOL_CHECK}"))
        conn.execute(sa.text("insert into symbols (symbol, asset_class) values ('BRK|B', 'stocks'), ('msft ', 'stocks'), ('SPY', 'stocks')"))
    create_schema(url)  # start-up upgrades the table without tripping over the old rows
    posts = sensor_tick(url, "2024-06-10T10:00:00Z")
    assert [(p["event"], sorted(p["partitions"])) for p in posts] == [
        ("never_materialized", sorted(f"SPY|{tf}" for tf in TIMEFRAMES))
    ]
    assert sensor_tick(url, "2024-06-10T10:05:00Z") == []


@pytest.fixture
def captured(caplog):
    """Every log record of every logger, at every level."""
    caplog.set_level(logging.DEBUG)
    return caplog


SLACK_TOKEN = "xoxb-1234567890-SECRETSLACKTOKEN"


@pytest.mark.parametrize("status", [500, None], ids=["answers-500", "unreachable"])
def test_failing_channels_log_host_and_status_never_the_url_or_token(monkeypatch, captured, status):
    server = Receiver(status or 204)
    base = server.base_url
    if status is None:  # a port nobody listens on
        server.close()
    hook = f"{base}/services/T0001/B0002/SECRETWEBHOOKTOKEN"
    channels = AlertChannels(
        webhook_url=hook, slack=SlackResource(token=SLACK_TOKEN), slack_channel="#alerts", slack_api_url=f"{base}/slack/api/"
    )
    alert = transitions({"AAPL|1d": "Fresh"}, {"AAPL|1d": snap("Stale")}).alerts[0]
    body = payload(alert, "http://ui:3000")
    try:
        notify.send(body, "AAPL 1d is unhealthy", logging.getLogger("marketdata_pipeline.test_alerts"), channels)
    finally:
        if status is not None:
            server.close()

    text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in captured.records)
    warnings = [r.getMessage() for r in captured.records if r.levelno >= logging.WARNING]
    assert "SECRETWEBHOOKTOKEN" not in text and "/services/" not in text and SLACK_TOKEN not in text
    assert any("webhook at 127.0.0.1" in w for w in warnings), warnings
    assert any("Slack" in w for w in warnings), warnings
    if status:
        assert any("webhook at 127.0.0.1 answered HTTP 500" in w for w in warnings), warnings
        assert len(server.posts) == 2  # both channels were really tried
