"""A downstream asset reads market_data through the bars IO manager's load_input, in a real Dagster run."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from marketdata_pipeline.bars import BAR_COLUMNS
from marketdata_pipeline.defs.market_data.assets import market_data
from marketdata_pipeline.defs.market_data.partitions import SYMBOLS_PARTITION
from marketdata_pipeline.defs.resources import resources_from_env
from marketdata_pipeline.storage.bars import load_bars
from marketdata_pipeline_tests.bars_support import make_bars


def run_downstream(instance, adjust: str | None) -> tuple[dg.ExecuteInProcessResult, list[pd.DataFrame]]:
    seen: list[pd.DataFrame] = []
    metadata = {"adjust": adjust} if adjust else {}

    @dg.asset(ins={"market_data": dg.AssetIn(metadata=metadata)})
    def closes(market_data: pd.DataFrame) -> None:
        seen.append(market_data)

    defs = dg.Definitions(
        assets=[market_data, closes],
        jobs=[dg.define_asset_job("downstream", selection=[closes])],
        resources=resources_from_env(),
    )
    result = defs.resolve_job_def("downstream").execute_in_process(instance=instance, raise_on_error=False)
    return result, seen


def test_a_downstream_asset_gets_every_stored_partition_as_one_sorted_frame(pipeline_env, instance, store):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["MSFT", "AAPL"])
    store("MSFT", "1d", make_bars("MSFT", "1d", date(2024, 5, 1), date(2024, 5, 31)))
    store("AAPL", "1d", make_bars("AAPL", "1d", date(2024, 5, 1), date(2024, 5, 31)))
    store("AAPL", "1h", make_bars("AAPL", "1h", date(2024, 5, 29), date(2024, 5, 31)))

    result, [frame] = run_downstream(instance, adjust="none")
    assert result.success
    assert list(frame.columns) == ["symbol", "timeframe", *BAR_COLUMNS]
    assert list(frame[["symbol", "timeframe"]].drop_duplicates().itertuples(index=False, name=None)) == [
        ("AAPL", "1d"), ("AAPL", "1h"), ("MSFT", "1d"),
    ]
    assert frame.equals(frame.sort_values(["symbol", "timeframe", "time"], ignore_index=True))
    aapl_hourly = frame[(frame["symbol"] == "AAPL") & (frame["timeframe"] == "1h")].drop(columns=["symbol", "timeframe"])
    pd.testing.assert_frame_equal(aapl_hourly.reset_index(drop=True), load_bars(pipeline_env, "AAPL", "1h"))


def test_an_unknown_adjustment_is_a_clear_error(pipeline_env, instance, store):
    instance.add_dynamic_partitions(SYMBOLS_PARTITION, ["AAPL"])
    store("AAPL", "1d", make_bars("AAPL", "1d", date(2024, 5, 1), date(2024, 5, 3)))
    result, seen = run_downstream(instance, adjust="dividends-only")
    assert not result.success and not seen
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "unknown adjust mode 'dividends-only'" in str(failure.step_failure_data.error.to_string())


def test_load_bars_refuses_unknown_modes(clean_db):
    with pytest.raises(ValueError, match="unknown adjust mode 'bogus'; expected one of none"):
        load_bars(clean_db, "AAPL", "1d", adjust="bogus")
