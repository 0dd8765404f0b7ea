import json
import os
import subprocess
from datetime import date

from marketdata_pipeline_tests.bars_support import make_bars
from marketdata_pipeline_tests.support import BIN


def status(url: str, now: str, *flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env.update(DATABASE_URL=url, MARKETDATA_NOW=now)
    return subprocess.run(
        [str(BIN / "marketdata"), "status", *flags], env=env, capture_output=True, text=True, timeout=60
    )


def test_status_json_and_exit_code(store, clean_db):
    for tf in ("1d", "1h", "4h", "15m", "5m"):
        store("X:BTCUSD", tf, make_bars("X:BTCUSD", tf, date(2024, 6, 6), date(2024, 6, 7)))

    ok = status(clean_db, "2024-06-08T00:20:00Z", "--json")
    assert ok.returncode == 0, ok.stderr
    rows = json.loads(ok.stdout)
    assert [(r["symbol"], r["timeframe"], r["state"]) for r in rows] == [
        ("X:BTCUSD", tf, "Fresh") for tf in ("1d", "1h", "4h", "15m", "5m")
    ]
    daily = rows[0]
    assert daily["last_bar"] == daily["expected_last_bar"] == "2024-06-07T00:00:00+00:00"
    assert daily["rows"] == 2 and daily["last_materialization"] is None and daily["failing_checks"] == []

    store("AAPL", "1d", make_bars("AAPL", "1d", date(2024, 6, 3), date(2024, 6, 7)))  # AAPL 1h etc.: Missing
    bad = status(clean_db, "2024-06-08T00:20:00Z")
    assert bad.returncode == 1, bad.stderr
    lines = bad.stdout.splitlines()
    assert lines[0].split()[:3] == ["symbol", "timeframe", "state"]
    assert any(line.split()[:3] == ["AAPL", "1h", "Missing"] for line in lines)


def test_last_materialization_comes_from_the_dagster_instance(monkeypatch, tmp_path):
    import dagster as dg

    from marketdata_pipeline.cli.status import _last_materializations

    (tmp_path / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("symbols", ["AAPL"])
        instance.report_runless_asset_event(dg.AssetMaterialization("market_data", partition="AAPL|1d"))
    found = _last_materializations([("AAPL", "1d"), ("AAPL", "1h")])
    assert set(found) == {("AAPL", "1d")}


def test_status_shows_the_newest_feature_row(store, clean_db):
    from marketdata_pipeline.quant.features import compute_features
    from marketdata_pipeline.storage.bars import load_bars
    from marketdata_pipeline.storage.features import write_features

    for tf in ("1d", "1h"):
        store("X:BTCUSD", tf, make_bars("X:BTCUSD", tf, date(2024, 6, 6), date(2024, 6, 7)))
    bars = load_bars(clean_db, "X:BTCUSD", "1d")
    write_features(clean_db, "X:BTCUSD", "1d", bars[:-1], compute_features(bars[:-1]))  # one bar behind
    rows = {r["timeframe"]: r for r in json.loads(status(clean_db, "2024-06-08T00:20:00Z", "--json").stdout)}
    assert rows["1d"]["features_last_bar"] == "2024-06-06T00:00:00+00:00" != rows["1d"]["last_bar"]
    assert rows["1h"]["features_last_bar"] is None
