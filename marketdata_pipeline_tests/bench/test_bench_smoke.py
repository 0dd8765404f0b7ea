"""The benchmark's quick plan, end to end, so it cannot silently rot. Checks completeness and
consistency of the report, never timings."""

import json

import pytest

from marketdata_pipeline.bench.plans import QUICK
from marketdata_pipeline.bench.report import render_markdown, write_report
from marketdata_pipeline.bench.runner import run_plan

FETCH_KEYS = {"wall_s", "requests", "bars_written", "reference_pages", "runs_launched", "peak_rss_mb", "cpu_s"}


@pytest.fixture(scope="module")
def report(pg_admin_url):
    return run_plan(QUICK, pg_admin_url)


def test_report_is_complete(report, tmp_path):
    assert {"backfill", "daily_update", "naive_baseline", "write_path", "scale_sweep", "meta"} <= set(report)
    for workload in (report["backfill"], report["naive_baseline"]["rate_limited"]):
        assert FETCH_KEYS | {"floor_s"} <= set(workload)
    assert FETCH_KEYS - {"reference_pages"} <= set(report["daily_update"])
    for point in report["scale_sweep"]["points"]:
        assert FETCH_KEYS <= set(point)
    assert {"rows_per_s", "raw_copy_rows_per_s", "to_sql_rows_per_s", "peak_rss_mb"} <= set(report["write_path"])

    for workload in (report["backfill"], report["daily_update"]):
        assert {"bars_compared", "bars_differing", "orchestration", "requests_by_kind", "repeated_requests"} <= set(
            workload)
        assert {"daemon_pickup_s", "queue_wait_s_max", "startup_s_mean", "step_s_mean", "teardown_s_mean",
                "runs"} <= set(workload["orchestration"])
        assert len(workload["orchestration"]["runs"]) == workload["runs_launched"]
    assert {"reference_floor_s", "wall_over_reference_floor"} <= set(report["backfill"])
    targets = {t["target"]: t for t in report["targets"]}
    assert len(targets) == 6 and all({"figure", "limit", "met"} <= set(t) for t in targets.values())
    assert report["free_tier"]["backfill_requests"] == report["backfill"]["requests"]

    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["backfill"]["requests"] == report["backfill"]["requests"]
    assert "| backfill (UI-style, via daemon) |" in md_path.read_text() == render_markdown(report)
    assert "| target | measured | limit | met |" in md_path.read_text() and "**Free tier**" in md_path.read_text()


def test_report_is_consistent_with_the_database(report):
    backfill = report["backfill"]
    assert backfill["backfill_status"] == "COMPLETED_SUCCESS" and backfill["failed_runs"] == 0
    assert backfill["bars_written"] == backfill["bars_in_database"] > 0
    # single_run backfill policy: at most one run per timeframe.
    assert 1 <= backfill["runs_launched"] <= len(QUICK.backfill_timeframes)
    # Pages a run fetched are requests the sandbox saw (no retries happen without faults).
    assert backfill["pages"] == backfill["requests"] - backfill["retries"]

    # Every stored bar is the one the sandbox's native endpoint serves, after the backfill and after the update.
    assert backfill["bars_differing"] == 0 and backfill["bars_compared"] == backfill["bars_in_database"]
    assert report["daily_update"]["bars_differing"] == 0
    assert report["daily_update"]["bars_compared"] == report["daily_update"]["bars_in_database"]

    daily = report["daily_update"]
    assert daily["failed_runs"] == 0 and daily["new_bars"] > 0
    assert daily["runs_launched"] == 1
    assert daily["requests"] <= QUICK.backfill_symbols * 5  # at most one per partition

    for naive in report["naive_baseline"].values():
        assert naive["bars_written"] == naive["bars_in_database"] > 0
    for point in report["scale_sweep"]["points"]:
        assert point["bars_written"] == point["bars_in_database"] > 0 and point["failed_runs"] == 0
        # 5m and 1d fetched for every symbol; 15m, 1h and 4h derived from the 5m bars.
        assert point["requests"] >= 2 * point["symbols"]
    # The same slice fetched by both designs yields the same bars.
    assert report["naive_baseline"]["unlimited"]["bars_written"] == report["scale_sweep"]["points"][0]["bars_written"]
