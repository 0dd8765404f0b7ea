"""storage.features on PostgreSQL: a round trip keeps NULLs, and incremental writes leave the table equal
to a full recomputation while writing only the rows whose values changed."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from marketdata_pipeline.client import PolygonClient
from marketdata_pipeline.quant.features import FEATURE_COLUMNS, SWING_REACH, compute_features
from marketdata_pipeline.storage.database import engine_for
from marketdata_pipeline.storage.features import CHUNK_ROWS, load_features, write_features


@pytest.fixture(scope="module")
def bars():
    """Over two digest chunks of split-adjusted sandbox bars, fetched over HTTP."""
    from marketdata_pipeline.sandbox.server import SandboxConfig, SandboxServer
    from marketdata_pipeline_tests.support import THURSDAY

    with SandboxServer(SandboxConfig(now=THURSDAY)) as server, PolygonClient("test-key", server.base_url) as client:
        frame = client.aggs.range("MSFT", "15m", date(2023, 11, 1), date(2024, 6, 5), adjusted=True)
    assert len(frame) > 2 * CHUNK_ROWS
    return frame


def write(url, bars, key=("MSFT", "15m")):
    return write_features(url, *key, bars, compute_features(bars), reach=SWING_REACH)


def assert_stored_equals_recomputation(url, bars, key=("MSFT", "15m")):
    stored, expected = load_features(url, *key), compute_features(bars)
    expected["time"] = expected["time"].astype(stored["time"].dtype)  # the database keeps microseconds
    pd.testing.assert_frame_equal(stored, expected, check_exact=True)


def changed_rows(old: pd.DataFrame, new: pd.DataFrame) -> int:
    """Rows of `new` that are not in `old` or differ from it in any value (NULL-safe)."""
    merged = new.merge(old, on="time", how="left", suffixes=("", "_old"), indicator=True)
    differs = merged["_merge"] == "left_only"
    for name in FEATURE_COLUMNS:
        a, b = merged[name], merged[f"{name}_old"]
        differs |= (a.isna() != b.isna()) | (a.notna() & b.notna() & (a != b)).fillna(False).astype(bool)
    return int(differs.sum())


def test_round_trip_keeps_values_and_nulls(clean_db, bars):
    result = write(clean_db, bars)
    assert result.rows_written == len(bars) and result.rows_deleted == 0
    assert_stored_equals_recomputation(clean_db, bars)
    with engine_for(clean_db).connect() as conn:
        # Missing values are SQL NULL, never NaN (NaN = NaN in PostgreSQL).
        nan = conn.execute(sa.text("select count(*) from bar_features where log_return = 'NaN'")).scalar()
        nulls = conn.execute(sa.text("select count(*) from bar_features where log_return is null")).scalar()
    assert nan == 0 and nulls == 1


def test_rewriting_the_same_bars_writes_nothing(clean_db, bars):
    write(clean_db, bars)
    result = write(clean_db, bars)
    assert (result.rows_written, result.rows_deleted) == (0, 0)
    assert result.rows_compared <= SWING_REACH


def test_new_bars_write_only_the_new_rows_and_the_swings_they_settle(clean_db, bars):
    old = bars.iloc[:-37].reset_index(drop=True)
    write(clean_db, old)
    result = write(clean_db, bars)
    assert result.rows_written == changed_rows(compute_features(old), compute_features(bars))
    assert 37 <= result.rows_written <= 37 + SWING_REACH
    assert result.rows_compared == 37 + SWING_REACH
    assert_stored_equals_recomputation(clean_db, bars)


def test_a_revised_bar_rewrites_exactly_the_changed_rows(clean_db, bars):
    write(clean_db, bars)
    revised = bars.copy()
    row = len(bars) - 3000  # in the middle of a digest chunk, far from the end
    revised.loc[row, ["high", "close"]] = revised.loc[row, ["high", "close"]] * 1.01
    result = write(clean_db, revised)
    expected = changed_rows(compute_features(bars), compute_features(revised))
    assert 0 < result.rows_written == expected < len(bars) - row + 1
    assert result.rows_compared < len(bars)  # the head before the revised chunk was not even sent
    assert_stored_equals_recomputation(clean_db, revised)


def test_a_deleted_bar_deletes_its_row(clean_db, bars):
    write(clean_db, bars)
    fewer = bars.drop(index=[CHUNK_ROWS]).reset_index(drop=True)  # the first bar of a chunk
    result = write(clean_db, fewer)
    assert result.rows_deleted == 1
    assert_stored_equals_recomputation(clean_db, fewer)


def test_partitions_are_independent(clean_db, bars):
    write(clean_db, bars)
    write(clean_db, bars.iloc[:500].reset_index(drop=True), key=("MSFT", "1h"))
    assert_stored_equals_recomputation(clean_db, bars)
    assert len(load_features(clean_db, "MSFT", "1h")) == 500


def test_state_not_matching_the_table_falls_back_to_a_full_comparison(clean_db, bars):
    write(clean_db, bars)
    with engine_for(clean_db).begin() as conn:
        conn.execute(sa.text("delete from bar_features where time = (select min(time) from bar_features)"))
    result = write(clean_db, bars)
    assert result.rows_written == 1 and result.rows_compared == len(bars)
    assert_stored_equals_recomputation(clean_db, bars)


def test_features_must_match_the_bars(clean_db, bars):
    with pytest.raises(ValueError, match="one row per bar"):
        write_features(clean_db, "MSFT", "15m", bars, compute_features(bars).iloc[1:])
