"""The UI path proven in a real browser: a user opens market_data, backfills partitions, sees them turn
green, reads the checks, and sees a bad ticker's failure. The same flow writes the README's screenshots
(`make screenshots` points MARKETDATA_SCREENSHOT_DIR at docs/img)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from marketdata_pipeline.bench.dagster_dev import DagsterDev
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline_tests.support import REPO, THURSDAY, marketdata
from marketdata_pipeline_tests.ui.browser import DagsterUI, UserSawFailure, chromium

pytestmark = pytest.mark.slow

SYMBOLS, TIMEFRAMES = ["AAPL", "MSFT"], ["1d", "1h"]
UNKNOWN = "ZZZZ"  # the sandbox, like Polygon, answers tickers it does not know with an empty 200
CHECKS = ["freshness", "ohlc_consistency", "calendar_gaps", "price_jumps", "derivation_conformance"]


@pytest.fixture
def shots(tmp_path) -> Path:
    target = os.environ.get("MARKETDATA_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def ui_env(project_env) -> dict:
    # The checks judge freshness against the sandbox's clock, as they would against the real one.
    env = {**project_env, "MARKETDATA_NOW": THURSDAY.isoformat()}
    marketdata(env, "symbols", "add", *SYMBOLS, UNKNOWN)
    return env


def backfill_and_read_checks(ui: DagsterUI, database_url: str) -> None:
    """Steps 1-4 of what a user does; raises UserSawFailure (with a screenshot) where the UI disagrees."""
    with ui.step("partitions shown"):
        ui.open_asset("market_data", view="partitions")
        for name in [*SYMBOLS, UNKNOWN, *TIMEFRAMES]:
            expect(ui.page.get_by_text(name, exact=True).first).to_be_visible()
    with ui.step("checks shown"):
        ui.open_asset("market_data", view="checks")
        for name in CHECKS:
            expect(ui.page.get_by_title(name, exact=True).first).to_be_visible()

    with ui.step("backfill launched"):
        status = ui.follow_backfill(ui.launch_backfill("market_data", [SYMBOLS, TIMEFRAMES]))
    ui.shot("market_data_backfill")
    if status != "Succeeded":
        raise ui.fail(f"the backfill ended {status}", "backfill_failed")

    for symbol in SYMBOLS:
        for tf in TIMEFRAMES:
            assert len(load_bars(database_url, symbol, tf)) > 0, f"{symbol}|{tf} has no bars in the database"

    with ui.step("partitions green"):
        ui.open_asset("market_data", view="partitions")
        expect(ui.page.get_by_text(f"Materialized ({len(SYMBOLS) * len(TIMEFRAMES)})")).to_be_visible()
    ui.shot("market_data_partitions")

    with ui.step("checks read"):
        ui.open_asset("market_data", view="checks")
        statuses = {name: ui.check_status(name) for name in CHECKS}
    ui.shot("market_data_checks")
    if any(status != "Succeeded" for status in statuses.values()):
        raise ui.fail(f"checks did not all pass: {statuses}", "checks_failed")


def follow_downstream(ui: DagsterUI) -> None:
    """The assets below market_data: features follow the backfilled bars by themselves (automation sensor);
    the corporate actions are backfilled by the user like the bars."""
    done = len(SYMBOLS) * len(TIMEFRAMES)
    with ui.step("features followed the bars"):
        ui.wait_for_text("bar_features", "partitions", f"Materialized ({done})", timeout_s=240)
    ui.shot("bar_features_partitions")
    with ui.step("features check read"):
        ui.open_asset("bar_features", view="checks")
        status = ui.check_status("features_valid")
    if status != "Succeeded":
        raise ui.fail(f"features_valid is {status}", "features_check_failed")

    for asset in ("splits", "dividends"):
        with ui.step(f"{asset} backfilled"):
            status = ui.follow_backfill(ui.launch_backfill(asset, [SYMBOLS]))
        if status != "Succeeded":
            raise ui.fail(f"the {asset} backfill ended {status}", f"{asset}_failed")
    with ui.step("corporate actions green"):
        ui.open_asset("splits", view="partitions")
        expect(ui.page.get_by_text(f"Materialized ({len(SYMBOLS)})")).to_be_visible()


def test_a_user_backfills_in_the_browser_and_reads_checks_and_failures(ui_env, shots):
    with DagsterDev(ui_env, REPO) as dev, chromium() as browser:
        ui = browser.ui(f"http://127.0.0.1:{dev.port}", shots)
        backfill_and_read_checks(ui, ui_env["DATABASE_URL"])

        follow_downstream(ui)

        # Partitions of a ticker Polygon does not know fail, and say why, where the user looks.
        with ui.step("unknown ticker"):
            url = ui.launch_backfill("market_data", [[UNKNOWN], TIMEFRAMES])
            status = ui.follow_backfill(url)
            ui.open_first_run_of(url)
            expect(ui.page.get_by_text(f"Polygon has no bars for {UNKNOWN}").first).to_be_visible()
        ui.shot("unknown_ticker_failure")
        assert status == "Failed", status


def test_the_browser_test_fails_on_a_broken_asset_with_a_screenshot(ui_env, tmp_path):
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: marketdata_pipeline_tests.ui.broken_definitions\n"
        "      location_name: marketdata_pipeline\n")
    env = {**ui_env, "PYTHONPATH": str(REPO)}
    with DagsterDev(env, tmp_path) as dev, chromium() as browser:
        ui = browser.ui(f"http://127.0.0.1:{dev.port}", tmp_path)
        with pytest.raises(UserSawFailure) as failure:
            backfill_and_read_checks(ui, ui_env["DATABASE_URL"])
    print(failure.value)
    assert failure.value.screenshot.stat().st_size > 10_000  # a real picture, not an empty file
