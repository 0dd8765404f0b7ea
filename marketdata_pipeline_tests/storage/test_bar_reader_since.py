"""storage.bar_reader.read_partitions with per-partition lower bounds: only each partition's tail is read."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from marketdata_pipeline.storage.bar_reader import read_partitions
from marketdata_pipeline_tests.bars_support import make_bars


def test_since_reads_each_partitions_tail_only(clean_db, store):
    msft, aapl = make_bars("MSFT", "1d", date(2024, 5, 1), date(2024, 5, 31)), make_bars("AAPL", "1d", date(2024, 5, 1), date(2024, 5, 31))
    store("MSFT", "1d", msft)
    store("AAPL", "1d", aapl)
    keys = [("AAPL", "1d"), ("MSFT", "1d")]
    full = read_partitions(clean_db, keys)
    bound = msft["time"].iloc[10].to_pydatetime()
    tails = read_partitions(clean_db, keys, since=[None, bound])
    expected = pd.concat([full[full["symbol"] == "AAPL"], full[(full["symbol"] == "MSFT") & (full["time"] >= bound)]])
    assert len(tails) == len(aapl) + len(msft) - 10
    pd.testing.assert_frame_equal(tails.reset_index(drop=True), expected.reset_index(drop=True))


def test_since_must_match_the_keys(clean_db):
    with pytest.raises(ValueError, match="1 bounds for 2 partitions"):
        read_partitions(clean_db, [("AAPL", "1d"), ("MSFT", "1d")], since=[None])
