"""The fault suite's bookkeeping: how stored rows are scored against the sandbox's bars, and the verdict."""

import pandas as pd

from marketdata_pipeline.faults.report import problems, render_markdown
from marketdata_pipeline.faults.truth import diff

KEY = {"symbol": "AAPL", "timeframe": "1h"}


def stored(*rows):
    return pd.DataFrame([{**KEY, "t_ms": t, "open": p, "high": p, "low": p, "close": p, "volume": 10.0, "vwap": p}
                         for t, p in rows])


def expected(*rows):
    return pd.DataFrame([{**KEY, "t_ms": t, "o": p, "h": p, "l": p, "c": p, "v": 10.0, "vw": p} for t, p in rows])


def test_exact_copy_is_exact():
    result = diff(stored((1, 100.0), (2, 101.0)), expected((1, 100.0), (2, 101.0)))
    assert result.exact and (result.rows_expected, result.rows_stored) == (2, 2)


def test_missing_extra_revised_and_repeated_rows_are_each_counted():
    result = diff(
        stored((1, 100.0), (1, 100.0), (2, 101.0), (4, 99.0)),  # 1 twice, 2 revised since, 4 deleted since
        expected((1, 100.0), (2, 101.5), (3, 102.0)),  # 3 never stored
    )
    assert (result.rows_lost, result.rows_duplicated, result.rows_stale) == (1, 1, 2)
    assert not result.exact


def test_another_partitions_rows_are_stale():
    other = stored((1, 100.0)).assign(timeframe="1d")
    result = diff(pd.concat([stored((1, 100.0)), other]), expected((1, 100.0)))
    assert (result.rows_lost, result.rows_stale) == (0, 1)


def scenario(**overrides):
    return {"scenario": "api_outage", "runs": 2, "rows_expected": 10, "rows_stored": 10, "rows_lost": 0,
            "rows_duplicated": 0, "rows_stale": 0, "recovered": True, "seconds_to_recover": 12.5,
            "user_sees": "1 of 2 runs succeeded; first failure: Polygon API unavailable", **overrides}


def test_verdict_names_each_scenario_that_lost_rows_or_did_not_recover():
    assert problems([scenario()]) == []
    lines = problems([scenario(), scenario(scenario="run_killed", recovered=False),
                      scenario(scenario="revised_bars", rows_stale=3)])
    assert [line.split(":")[0] for line in lines] == ["run_killed", "revised_bars"]
    assert "rows_stale=3" in lines[1]


def test_markdown_has_one_row_per_scenario_and_escapes_pipes():
    meta = {"generated_at": "now", "machine": "m", "dagster": "1", "total_s": 1}
    text = render_markdown([scenario(), scenario(scenario="bad_input", user_sees="BRK|B: error")], meta)
    rows = [line for line in text.splitlines() if line.startswith("| api_outage") or line.startswith("| bad_input")]
    assert len(rows) == 2 and "BRK\\|B" in rows[1]
