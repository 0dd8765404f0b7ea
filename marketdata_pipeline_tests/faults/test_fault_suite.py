"""A quick subset of the fault suite end to end (its own PostgreSQL, the sandbox process, `dagster dev`),
so the suite's machinery cannot silently rot."""

import pytest

from marketdata_pipeline.faults.suite import run_suite


@pytest.mark.slow
def test_bad_input_and_revised_bars_leave_exactly_the_sandbox_bars():
    results, meta = run_suite(["revised_bars", "bad_input"])
    by_name = {r["scenario"]: r for r in results}
    assert set(by_name) == {"revised_bars", "bad_input"} and meta["total_s"] > 0

    revised = by_name["revised_bars"]
    assert revised["runs"] == 2, revised["user_sees"]  # a first run, then one after the revisions
    assert revised["rows_expected"] > 0
    assert (revised["rows_lost"], revised["rows_duplicated"], revised["rows_stale"]) == (0, 0, 0), revised
    assert revised["recovered"], revised["user_sees"]

    bad = by_name["bad_input"]
    failed = [c for c in bad["cases"] if not c["passed"]]
    assert failed == [] and bad["rows_stored"] == 0
