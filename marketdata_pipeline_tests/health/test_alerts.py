import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from marketdata_pipeline.health.alerts import Snapshot, market_data_health_alerts, payload, transitions
from marketdata_pipeline.storage.bars import upsert_bars
from marketdata_pipeline.storage.resource import MarketDatabase
from marketdata_pipeline.timeframes import TIMEFRAMES
from marketdata_pipeline_tests.health.conftest import make_bars


def snap(state: str, *checks: str) -> Snapshot:
    return Snapshot(state, checks, "2024-06-07T04:00:00+00:00", "2024-06-07T04:00:00+00:00")


def test_one_alert_per_transition_and_one_on_recovery():
    alerts, cursor = transitions({}, {"AAPL|1d": snap("Fresh"), "MSFT|1d": snap("Missing")})
    assert [(a.key, a.event, a.previous) for a in alerts] == [("MSFT|1d", "problem", None)]
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
    alert = transitions({"X:BTCUSD|1h": "Fresh"}, {"X:BTCUSD|1h": snap("Stale")})[0][0]
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
    for tf in TIMEFRAMES:
        store("X:BTCUSD", tf, make_bars("X:BTCUSD", tf, date(2024, 6, 6), date(2024, 6, 7)))

    cursor = None

    def tick(now: str) -> list[tuple]:
        """Evaluate the sensor at `now`; return (partition, event, state, previous) of the new POSTs."""
        nonlocal cursor
        seen = len(posts)
        monkeypatch.setenv("MARKETDATA_NOW", now)
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"database": MarketDatabase(url=clean_db)}
            )
            market_data_health_alerts(context)
            cursor = context.cursor
        return sorted((f"{p['symbol']}|{p['timeframe']}", p["event"], p["state"], p["previous_state"]) for p in posts[seen:])

    every = sorted(f"X:BTCUSD|{tf}" for tf in TIMEFRAMES)
    assert tick("2024-06-08T00:20:00Z") == []  # everything up to Friday's end is stored
    assert tick("2024-06-09T06:00:00Z") == [(key, "problem", "Stale", "Fresh") for key in every]
    assert posts[0]["expected_last_bar"] and posts[0]["url"].endswith("partition=X%3ABTCUSD%7C15m")
    assert tick("2024-06-09T06:05:00Z") == []  # still Stale: no repeat
    for tf in TIMEFRAMES:
        upsert_bars(clean_db, "X:BTCUSD", tf, make_bars("X:BTCUSD", tf, date(2024, 6, 8), date(2024, 6, 9)))
    assert tick("2024-06-10T00:20:00Z") == [(key, "recovered", "Fresh", "Stale") for key in every]
    assert tick("2024-06-10T00:25:00Z") == []
