"""Which time window a materialization fetches: incremental from the last stored bar, with a look-back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from marketdata_pipeline.timeframes import Timeframe

# Re-fetch a few bars before the newest stored one, so a bar revised after we stored it gets corrected.
OVERLAP_BARS = 3

DEFAULT_HISTORY = {
    "1d": timedelta(days=5 * 365),
    "1h": timedelta(days=2 * 365),
    "4h": timedelta(days=2 * 365),
    "15m": timedelta(days=365),
    "5m": timedelta(days=365),
}


def fetch_window(
    tf: Timeframe, last_bar: datetime | None, now: datetime, history_start: date | None
) -> tuple[datetime, datetime]:
    """(start, end) instants to request; `end` reaches past now, the API only serves what exists."""
    if last_bar is not None:
        start = last_bar - OVERLAP_BARS * tf.length
    elif history_start is not None:
        start = datetime.combine(history_start, datetime.min.time(), tzinfo=UTC)
    else:
        start = now - DEFAULT_HISTORY[tf.key]
    return start, now + timedelta(days=1)
