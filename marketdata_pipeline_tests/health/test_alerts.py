import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from marketdata_pipeline.health.alerts import Snapshot, market_data_health_alerts, payload, transitions
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline_tests.health.conftest import make_bars


def snap(state: str, *checks: str) -> Snapshot:
    return Snapshot(state, checks, "2024-06-07T04:00:00+00:00", "2024-06-07T04:00:00+00:00")


def test_one_alert_per_transition_and_one_on_recovery():
    alerts, cursor = transitions({}, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Missing")})
    assert [(a.key, a.event, a.previous) for a in alerts] == [("MSFT|1d", "problem", "Fresh")]
    assert transitions(cursor, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Missing")})[0] == []

    alerts, cursor = transitions(cursor, {"AAPL|1d": snap("Aging"), "MSFT|1d": snap("Missing")})
    assert [(a.key, a.event) for a in alerts] == [("AAPL|1d", "problem")]
    alerts, cursor = transitions(cursor, {"AAPL|1d": snap("Stale"), "MSFT|1d": snap("Fresh", "ohlc_consistency")})
    assert [(a.key, a.event, a.previous) for a in alerts] == [
        ("AAPL|1d", "problem", "Aging"),
        ("MSFT|1d", "problem", "Missing"),
    ]
    alerts, cursor = transitions(cursor, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Fresh")})
    assert [(a.key, a.event, a.previous) for a in alerts] == [
        ("AAPL|1d", "recovered", "Stale"),
        ("MSFT|1d", "recovered", "Fresh+ohlc_consistency"),
    ]
    assert transitions(cursor, {"AAPL|1d": snap("Fresh")}) == ([], {"AAPL|1d": "Fresh"})


def test_payload_names_the_partition_and_links_to_the_ui():
    alert = transitions({}, {"X:BTCUSD|1h": snap("Stale")})[0][0]
    body = payload(alert, "http://ui:3000")
    assert body["symbol"] == "X:BTCUSD" and body["timeframe"] == "1h"
    assert body["state"] == "Stale" and body["previous_state"] == "Fresh"
    assert body["url"] == "http://ui:3000/assets/market_data?partition=X%3ABTCUSD%7C1h"


@pytest.fixture
def receiver():
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    finally:
        server.shutdown()
        server.server_close()


def test_sensor_posts_once_on_transition_and_once_on_recovery(monkeypatch, store, clean_db, receiver):
    hook, posts = receiver
    monkeypatch.setenv("MARKETDATA_ALERT_WEBHOOK_URL", hook)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    store("X:BTCUSD", "1d", make_bars("X:BTCUSD", "1d", date(2024, 6, 1), date(2024, 6, 7)))
    monkeypatch.setattr("marketdata_pipeline.health.evaluate.TIMEFRAMES", {"1d": None})  # watch one partition

    cursor = None

    def tick(now: str) -> None:
        nonlocal cursor
        monkeypatch.setenv("MARKETDATA_NOW", now)
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"database": MarketDatabase(url=clean_db)}
            )
            market_data_health_alerts(context)
            cursor = context.cursor

    tick("2024-06-08T06:00:00Z")  # Friday's UTC day is the newest: fresh, nothing to say
    assert posts == []
    tick("2024-06-10T06:00:00Z")  # two days later: Stale
    assert [(p["event"], p["state"], p["previous_state"]) for p in posts] == [("problem", "Stale", "Fresh")]
    assert posts[0]["symbol"] == "X:BTCUSD" and posts[0]["expected_last_bar"].startswith("2024-06-09")
    tick("2024-06-10T06:05:00Z")  # still Stale: no new alert
    assert len(posts) == 1
    upsert_bars(clean_db, "X:BTCUSD", "1d", make_bars("X:BTCUSD", "1d", date(2024, 6, 8), date(2024, 6, 9)))
    tick("2024-06-10T06:10:00Z")
    assert [(p["event"], p["state"], p["previous_state"]) for p in posts[1:]] == [("recovered", "Fresh", "Stale")]
